"""Image data as tables of pixels: sklearn's digits, image folders and .npz arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apps.settings import load_settings
from training.data import load_dataset
from training.data.images import images_dataset, load_digits_dataset, load_image_folder, load_npz
from trainsmart.errors import TrainingError


def test_digits_are_rows_of_pixels_with_their_image_shape() -> None:
    digits = load_digits_dataset()
    assert digits.image_shape == [1, 8, 8]
    assert digits.frame.shape == (1797, 64)
    assert digits.feature_names[0] == "pixel_0" and digits.feature_names[-1] == "pixel_63"
    assert digits.classes == [str(d) for d in range(10)]
    # channel-row-column order: pixel 8 is row 1, column 0 of sklearn's image
    from sklearn.datasets import load_digits

    assert digits.frame.iloc[5]["pixel_8"] == load_digits().images[5][1][0]


def test_npz_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(40, 3, 5, 4)).astype(np.uint8)
    y = np.array(["cat", "dog"] * 20)
    np.savez(tmp_path / "pets.npz", x=x, y=y)
    dataset = load_npz(tmp_path / "pets.npz")
    assert dataset.image_shape == [3, 5, 4]
    assert dataset.classes == ["cat", "dog"]
    np.testing.assert_array_equal(dataset.frame.iloc[7].to_numpy(), x[7].reshape(-1))


def test_npz_with_other_array_names_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", pictures=np.zeros((4, 2, 2)), y=np.arange(4))
    with pytest.raises(TrainingError, match="'x' \\(or 'images'\\)"):
        load_npz(tmp_path / "bad.npz")


def _write_images(root: Path, sizes: dict[str, tuple[int, int]]) -> None:
    for label, (width, height) in sizes.items():
        (root / label).mkdir(parents=True)
        for i in range(3):
            value = 40 if label == "dark" else 220
            pixels = np.full((height, width, 3), value + i, dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")


def test_image_folder_is_resized_and_converted(tmp_path: Path) -> None:
    _write_images(tmp_path, {"dark": (6, 4), "light": (9, 7)})
    dataset = load_image_folder(tmp_path, size=[4, 5], channels=1)
    assert dataset.image_shape == [1, 4, 5]
    assert dataset.classes == ["dark", "light"]
    assert len(dataset) == 6
    assert dataset.frame.to_numpy()[:3].max() < 50 < dataset.frame.to_numpy()[3:].min()
    rgb = load_image_folder(tmp_path, size=[2, 2], channels=3)
    assert rgb.image_shape == [3, 2, 2]


def test_image_folder_of_mixed_sizes_needs_image_size(tmp_path: Path) -> None:
    _write_images(tmp_path, {"dark": (6, 4), "light": (9, 7)})
    with pytest.raises(TrainingError, match=r"data\.image_size"):
        load_image_folder(tmp_path, size=None, channels=1)


def test_images_need_two_classes_and_matching_labels() -> None:
    with pytest.raises(TrainingError, match="2\\+"):
        images_dataset(np.zeros((3, 2, 2)), ["a", "a", "a"])
    with pytest.raises(TrainingError, match="3 images but 2 labels"):
        images_dataset(np.zeros((3, 2, 2)), ["a", "b"])


def test_dataset_images_setting_reads_an_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 2, 2)), y=np.array([0, 1] * 3))
    settings = load_settings(None).model_copy(deep=True)
    settings.data.dataset, settings.data.path = "images", tmp_path / "d.npz"
    assert load_dataset(settings.data).image_shape == [1, 2, 2]
