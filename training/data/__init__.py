"""Training data: load the configured rows, clean them, split them (no torch here).

* :mod:`~training.data.dataset`: :class:`Dataset`, :class:`Part`, :class:`Splits`, labels;
* :mod:`~training.data.tables`: the Fair and diabetes data, a user's CSV or Parquet file;
* :mod:`~training.data.images`: sklearn's digits, image folders and .npz arrays as pixels;
* :mod:`~training.data.load`: :func:`load_dataset`, the dataset ``data:`` names;
* :mod:`~training.data.split`: duplicate removal and the stratified split.

Example::

    dataset = load_dataset(settings.data)      # the Fair affairs data by default
    splits = split(dataset, settings.data)     # stratified train / validation / test
"""

from training.data.dataset import Dataset, Part, Splits, as_task, labels_to_str
from training.data.load import load_dataset
from training.data.split import clean, drop_duplicates, split, strata

__all__ = [
    "Dataset",
    "Part",
    "Splits",
    "as_task",
    "clean",
    "drop_duplicates",
    "labels_to_str",
    "load_dataset",
    "split",
    "strata",
]
