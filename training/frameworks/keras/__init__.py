"""Keras 3 on TensorFlow: the models (:mod:`.models`), the training loop (:mod:`.trainer`),
the ONNX export (:mod:`.export`) and the :class:`~training.frameworks.base.Framework`
that joins them (:mod:`.framework`).

TensorFlow is imported only when a Keras model is built, trained or exported: importing
these modules costs nothing (``training.framework: keras`` needs the 'keras' extra).
"""
