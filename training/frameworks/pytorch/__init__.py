"""PyTorch: the networks (:mod:`.models`), the training loop (:mod:`.trainer`), the ONNX
export (:mod:`.export`) and the :class:`~training.frameworks.base.Framework` that joins
them (:mod:`.framework`)."""
