"""Read the rows that ``data:`` names (no torch here).

Example::

    dataset = load_dataset(settings.data)      # the Fair affairs data by default
"""

from __future__ import annotations

from pathlib import Path

from training.data import images
from training.data.dataset import Dataset, as_task
from training.data.tables import load_diabetes, load_fair, load_table
from training.settings import DataSettings


def load_dataset(data: DataSettings) -> Dataset:
    """Read the rows named by ``data``: a shipped dataset, a user table or user images."""
    if data.dataset == "fair":
        dataset = load_fair()
    elif data.dataset == "digits":
        dataset = images.load_digits_dataset()
    elif data.dataset == "diabetes":
        dataset = load_diabetes()
    elif data.dataset == "images":
        path = Path(data.path or ".")
        dataset = (
            images.load_npz(path)
            if path.suffix.lower() == ".npz"
            else images.load_image_folder(path, data.image_size, data.image_channels)
        )
    else:
        return load_table(data)
    task = data.resolved_task()
    if task != dataset.task:
        return as_task(dataset, task, data.dataset)
    return dataset
