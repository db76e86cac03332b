"""A promoted bundle whose model does not match its contract is refused at load, with a
reason, and the champion keeps serving: the checksums pass (the files are as registered),
so only the load-time check between the ONNX graph and the contract can catch it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.api import create_api
from serving.predictor import Predictor
from serving.runtime import ModelHolder, load_model
from serving.settings import ServingSettings
from tests.conftest import BundleFactory, fair_row, logistic_onnx
from trainsmart.errors import RegistryError
from trainsmart.registry import Registry

Writer = Callable[[Path, np.ndarray, float], None]


def _fewer_features(path: Path, weights: np.ndarray, bias: float) -> None:
    logistic_onnx(path, weights[:5], bias)  # the contract names 8


def _more_features(path: Path, weights: np.ndarray, bias: float) -> None:
    logistic_onnx(path, np.concatenate([weights, weights[:2]]), bias)


@pytest.mark.parametrize(
    ("write_model", "reason"),
    [(_fewer_features, "takes 5 features"), (_more_features, "takes 10 features")],
    ids=["model narrower than contract", "model wider than contract"],
)
def test_a_model_that_does_not_match_its_contract_is_refused_and_the_champion_serves(
    make_bundle: BundleFactory,
    holder: ModelHolder,
    predictor: Predictor,
    registry: Registry,
    write_model: Writer,
    reason: str,
) -> None:
    champion = make_bundle()
    assert holder.refresh()
    bad = make_bundle(write_model=write_model)  # registered and promoted: checksums hold
    registry.get("fair", bad).verify()
    with pytest.raises(RegistryError, match=reason):
        load_model(registry, "fair", bad, ServingSettings())
    assert not holder.refresh()  # refused: the holder keeps what it had
    client = TestClient(create_api(lambda: predictor))
    response = client.post("/predict", json={"instances": [fair_row()]})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == champion
