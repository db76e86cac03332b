"""Train, compress, export and register models (the first stages of the loop).

The loop, module by module::

    settings/     the data: and training: sections; TrainingScope, what this stage receives
    data/         load (tables, images) -> clean -> stratified split
    encoding      raw rows -> float matrix; the input contract
    preprocess    the preprocessing fitted on the training split, inside the model graph
    frameworks/   train with PyTorch or Keras behind one interface (fit, predict, export)
    train         settings -> TrainedModel (data, preprocessing, fit)
    metrics       evaluate outputs on a split
    onnx_parity   ONNX scoring and the framework/ONNX parity check
    compress/     int8, fp16 and pruned variants, measured; the one to serve chosen
    staging       export -> parity -> compress -> evaluate -> bundle files, report/
    pipeline      register the staged bundle (train_and_register)
    cv, tuning/   k-fold cross-validation; the Optuna search
    retrain       a challenger from logged traffic, gated against the champion

Importing this package is cheap. torch is imported by the modules that train, export or
prune (``training.frameworks``, ``training.preprocess``, ``training.train`` and what
imports them); TensorFlow only when a Keras model is built.
"""
