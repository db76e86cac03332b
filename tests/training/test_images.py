"""Image data and the CNNs: loaders, the shipped digits config trained to its accuracy bars
with both frameworks, ONNX parity, and both models served by the same service code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from prometheus_client import CollectorRegistry

from serving.api import create_api
from serving.cache import LRUCache
from serving.metrics import ServingMetrics
from serving.predictor import Predictor
from serving.runtime import ModelHolder
from training.data import load_dataset
from training.images import images_dataset, load_digits_dataset, load_image_folder, load_npz
from training.pipeline import TrainOutcome, train_and_register
from trainsmart.errors import TrainingError
from trainsmart.settings import load_settings

from .conftest import Env, open_env

ROOT = Path(__file__).resolve().parents[2]


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


# -- the shipped image config, both frameworks ----------------------------------------------
def _digits_env(tmp_path: Path, config: str) -> Env:
    settings = load_settings(ROOT / "configs" / config).model_copy(
        update={"data_dir": tmp_path / "data"}
    )
    return open_env(settings)


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Env, list[TrainOutcome]]:
    """configs/digits.yaml (PyTorch) then configs/digits-keras.yaml (Keras), registered as
    v1 and v2 of one model name so that one service serves both in turn."""
    pytest.importorskip("tensorflow", reason="the Keras CNN needs pip install -e '.[keras]'")
    env = _digits_env(tmp_path_factory.mktemp("digits"), "digits.yaml")
    torch_run = train_and_register(env.settings, env.registry, progress=False)
    keras_settings = load_settings(ROOT / "configs" / "digits-keras.yaml").model_copy(
        update={"data_dir": env.settings.data_dir, "model_name": env.settings.model_name}
    )
    keras_run = train_and_register(keras_settings, env.registry, progress=False)
    return env, [torch_run, keras_run]


def test_digits_cnns_reach_their_accuracy_bars(
    digits_runs: tuple[Env, list[TrainOutcome]],
) -> None:
    _, (torch_run, keras_run) = digits_runs
    assert torch_run.trained.framework == "torch" and keras_run.trained.framework == "keras"
    assert torch_run.metrics["serving"]["accuracy"] >= 0.97, torch_run.metrics["serving"]
    assert keras_run.metrics["serving"]["accuracy"] >= 0.95, keras_run.metrics["serving"]
    for run in (torch_run, keras_run):
        assert run.metrics["serving"]["rows"] == 270  # 15% of 1,797
        ops = {node.op_type for node in onnx.load(run.bundle.path / "model.onnx").graph.node}
        assert ops & {"Conv", "ConvInteger", "QLinearConv"}, ops
        assert run.bundle.contract().image_shape == [1, 8, 8]
        assert run.bundle.lineage().framework == run.trained.framework


def test_both_cnns_serve_through_the_same_service(
    digits_runs: tuple[Env, list[TrainOutcome]],
) -> None:
    env, runs = digits_runs
    name = env.settings.model_name
    holder = ModelHolder(env.registry, name, env.settings.serving)
    predictor = Predictor(
        holder,
        LRUCache(100),
        env.input_log,
        ServingMetrics(CollectorRegistry()),
        env.settings.serving,
        env.registry,
    )
    client = TestClient(create_api(lambda: predictor))
    test = runs[0].trained.splits.test
    rows = test.frame.iloc[:40]
    instances = [{k: float(v) for k, v in row.items()} for _, row in rows.iterrows()]
    for run in runs:
        env.registry.promote(name, run.bundle.version, reason="serve it")
        holder.refresh()
        response = client.post("/predict", json={"instances": instances})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["version"] == run.bundle.version
        predicted = [p["class"] for p in body["predictions"]]
        accuracy = np.mean(np.array(predicted) == test.target.iloc[:40].to_numpy())
        assert accuracy >= 0.9, (run.trained.framework, accuracy)
        assert set(body["predictions"][0]["probabilities"]) == set(runs[0].trained.dataset.classes)


def test_trainsmart_train_with_the_image_config(tmp_path: Path) -> None:
    """The command a user runs: `trainsmart --config configs/digits.yaml train`."""
    from click.testing import CliRunner

    from trainsmart.cli.main import cli

    result = CliRunner().invoke(
        cli,
        ["--config", str(ROOT / "configs" / "digits.yaml"), "train", "--quiet"],
        env={"TRAINSMART_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.exit_code == 0, result.output
    env = open_env(
        load_settings(ROOT / "configs" / "digits.yaml").model_copy(
            update={"data_dir": tmp_path / "data"}
        )
    )
    assert env.registry.production("digits") == "v1"
    bundle = env.registry.get("digits", "v1")
    assert bundle.metrics()["serving"]["accuracy"] >= 0.97
    assert bundle.report_path.is_file()
