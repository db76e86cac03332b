"""Compression that pays: build smaller or faster variants of a trained model, measure
them on the target hardware, and serve the one that wins within the metric budget.

Modules:

* :mod:`~training.compress.quantize`: ONNX-to-ONNX variants (optimised fp32, int8
  dynamic, int8 static QDQ calibrated on training rows, fp16);
* :mod:`~training.compress.prune`: structured pruning of hidden units and conv channels
  of a PyTorch :class:`~training.frameworks.pytorch.models.Network` (physically
  removed);
* :mod:`~training.compress.counting`: parameters and FLOPs of Linear and Conv2d layers;
* :mod:`~training.compress.measure`: the execution provider (CUDA when there, else CPU),
  interleaved latency, agreement with fp32, test metrics of every variant;
* :mod:`~training.compress.select`: the variant table and the choice (speed or size);
* :mod:`~training.compress.table`: the variant table as Markdown (report, benchmarks);
* :mod:`~training.compress.gpu`: GPU precisions (exact fp32, TF32, fp16) measured on CUDA
  against CPU fp32 and chosen the same way, with the batch size from which CUDA serves
  (``trainsmart gpu calibrate``);
* :mod:`~training.compress.build`: all of it for one trained model
  (:func:`~training.compress.build.compress`), called by :mod:`training.staging`.

Settings: ``training.compression`` (:class:`training.settings.CompressionSettings`,
in ``training/settings/compression.py``).
Importing the package imports neither torch nor onnxruntime; ``build``, ``prune`` and
``counting`` need torch.
"""

from training.compress.errors import CompressionError, NoGpu
from training.compress.measure import target_providers
from training.compress.select import Choice, VariantRow, choose

__all__ = ["Choice", "CompressionError", "NoGpu", "VariantRow", "choose", "target_providers"]
