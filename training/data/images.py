"""Image datasets as tables of pixels: sklearn's digits, image folders and .npz arrays.

Every image becomes one row of numeric features ``pixel_0 .. pixel_{c*h*w-1}``
(channel-row-column order, values as stored: digits 0..16, folder images 0..255)
and the dataset carries ``image_shape = [c, h, w]``. The rest of the loop (splits,
preprocessing fitted on the training split, contract, input log, drift) treats
them like any table; the CNN reshapes the row back into an image inside its graph,
so serving receives the same flat rows (or an ``image`` nested list, see the
contract).

Example::

    dataset = load_digits_dataset()
    dataset.image_shape           # [1, 8, 8]
    dataset.frame.shape           # (1797, 64)

    load_image_folder(Path("pets"), size=[32, 32], channels=3)   # pets/cat/*.png, pets/dog/*.jpg
    load_npz(Path("scans.npz"))                                  # arrays x [n, h, w] and y [n]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from training.data.dataset import Dataset, labels_to_str
from training.settings import FeatureConfig
from trainsmart.errors import TrainingError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
NPZ_IMAGES = ("x", "images", "X")
NPZ_LABELS = ("y", "labels", "Y")


def pixel_names(shape: list[int]) -> list[str]:
    """``pixel_0 .. pixel_{c*h*w-1}``: the feature names of an image of ``shape``."""
    return [f"pixel_{i}" for i in range(int(np.prod(shape)))]


def images_dataset(images: np.ndarray, labels: np.ndarray | pd.Series) -> Dataset:
    """A :class:`Dataset` from images ``[n, h, w]`` or ``[n, c, h, w]`` and their labels."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[:, None, :, :]
    if array.ndim != 4 or array.shape[0] == 0:
        raise TrainingError(
            f"images have shape {list(np.shape(images))}; expected [n, height, width] or "
            "[n, channels, height, width] with n > 0"
        )
    if len(labels) != len(array):
        raise TrainingError(f"{len(array)} images but {len(labels)} labels")
    try:
        flat = array.reshape(len(array), -1).astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"image values must be numbers ({exc})") from exc
    shape = [int(d) for d in array.shape[1:]]
    names = pixel_names(shape)
    frame = pd.DataFrame(flat, columns=names)
    target = labels_to_str(pd.Series(np.asarray(labels).tolist(), dtype=object)).rename("target")
    classes = sorted(target.unique())
    if len(classes) < 2:
        raise TrainingError(f"the images have {len(classes)} label(s); a classifier needs 2+")
    features = [FeatureConfig(name=n, kind="numeric") for n in names]
    return Dataset(frame, target, features, classes, image_shape=shape)


def load_digits_dataset() -> Dataset:
    """sklearn's digits: 1,797 grayscale 8x8 images (values 0..16), classes '0'..'9'."""
    from sklearn.datasets import load_digits  # lazy: scikit-learn (~0.6 s)

    digits = load_digits()
    return images_dataset(digits.images, digits.target)


def load_npz(path: Path) -> Dataset:
    """Images and labels from an .npz file: arrays 'x' (or 'images') and 'y' (or 'labels')."""
    if not path.is_file():
        raise TrainingError(f"image file {path} does not exist; set data.path to an .npz file")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = list(arrays.files)
            x_name = next((n for n in NPZ_IMAGES if n in names), None)
            y_name = next((n for n in NPZ_LABELS if n in names), None)
            if x_name is None or y_name is None:
                raise TrainingError(
                    f"{path} holds arrays {names}; expected images as 'x' (or 'images') and "
                    "labels as 'y' (or 'labels')"
                )
            images, labels = arrays[x_name], arrays[y_name]
    except (OSError, ValueError) as exc:  # not a zip, or object arrays (no pickle here)
        raise TrainingError(f"could not read {path} as .npz arrays ({exc})") from exc
    return images_dataset(images, labels)


def load_image_folder(root: Path, size: list[int] | None, channels: int) -> Dataset:
    """Images under ``root/<class>/``: converted to ``channels`` (1: grayscale, 3: RGB) and
    resized to ``size`` [height, width] (None: every image must have the first one's size)."""
    if not root.is_dir():
        raise TrainingError(f"image folder {root} does not exist; set data.path")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise TrainingError(
            f"image folder {root} has {len(folders)} class sub-folder(s); put the images of "
            "each class in a sub-folder named after it (at least 2)"
        )
    mode = "L" if channels == 1 else "RGB"
    images: list[np.ndarray] = []
    labels: list[str] = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for file in files:
            try:
                with Image.open(file) as opened:
                    image = opened.convert(mode)
                    if size is not None:
                        image = image.resize((size[1], size[0]))
                    pixels = np.asarray(image, dtype=np.float64)
            except (OSError, UnidentifiedImageError) as exc:
                raise TrainingError(f"could not read image {file} ({exc})") from exc
            pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
            if images and pixels.shape != images[0].shape:
                raise TrainingError(
                    f"image {file} is {list(pixels.shape[1:])} pixels, the first image "
                    f"{list(images[0].shape[1:])}; set data.image_size to resize them all"
                )
            images.append(pixels)
            labels.append(folder.name)
    if not images:
        raise TrainingError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return images_dataset(np.stack(images), np.array(labels, dtype=object))
