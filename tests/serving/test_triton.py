"""Real-server tier: an independent Open Inference Protocol client (tritonclient) against
`bentoml serve` on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from apps.launch import Child, free_port, start_service, wait_http
from apps.settings import Settings
from tests.conftest import FAIR_CATEGORICAL, FAIR_NUMERIC, BundleFactory, fair_row
from tests.services import require_module
from tests.serving.test_server import service_env
from trainsmart.state import InputLog

httpclient = require_module("tritonclient.http", pip="pip install -e '.[dev]'")

pytestmark = pytest.mark.server


@pytest.fixture
def service(settings: Settings, tmp_path: Path, make_bundle: BundleFactory) -> Iterator[Child]:
    make_bundle()
    child = start_service(service_env(settings), free_port(), tmp_path / "service.log")
    wait_http(child, "/readyz")
    yield child
    child.stop()


def test_tritonclient_drives_the_v2_protocol(service: Child, input_log: InputLog) -> None:
    client = httpclient.InferenceServerClient(url=service.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("fair")
        assert not client.is_model_ready("other")
        metadata = client.get_model_metadata("fair")
        assert metadata["platform"] == "onnxruntime_onnx"
        assert metadata["inputs"][0]["shape"] == [-1, 8]
        version = metadata["versions"][0]

        features = FAIR_NUMERIC + FAIR_CATEGORICAL
        rows = [fair_row(), fair_row(age=55.0)]
        data = np.array([[row[f] for f in features] for row in rows], dtype=np.float32)
        tensor = httpclient.InferInput("input", [2, 8], "FP32")
        tensor.set_data_from_numpy(data, binary_data=False)
        result = client.infer(
            "fair",
            [tensor],
            outputs=[
                httpclient.InferRequestedOutput("probabilities", binary_data=False),
                httpclient.InferRequestedOutput("class", binary_data=False),
            ],
            request_id="triton-1",
        )
        probabilities = result.as_numpy("probabilities")
        assert probabilities.shape == (2, 2)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        classes = result.as_numpy("class")
        assert classes.shape == (2,)
        response = result.get_response()
        assert response["id"] == "triton-1" and response["model_version"] == version
        logged = input_log.request(response["parameters"]["request_id"])
        assert [r.features["age"] for r in logged] == [32.0, 55.0]

        pinned = client.infer("fair", [tensor], model_version=version)
        assert pinned.as_numpy("probabilities").shape == (2, 2)
        assert input_log.count("fair") == 4
    finally:
        client.close()
