"""Property-based fuzzing of the in-process app against its own ``/openapi.json`` (schemathesis).

Each operation of the published document gets generated requests of three kinds: valid by
the document (schemathesis's positive mode), invalid by it (negative mode), and valid for
the served model (bodies built from the contract of 'fair', so requests reach ONNX Runtime
and the input log). Each request carries a drawn credential: none, a wrong one, an API key
(either header) or the admin token. Every answer must pass schemathesis's checks: no 5xx, a
documented status code, the documented content type, body schema and headers.

Two services: "open" (no API keys, admin routes disabled: 403) and "guarded" (API keys and
an admin token: 401 without them). Afterwards: each operation answered 200 (403 for the
admin routes of the open service) and, when guarded, 401; the input log holds exactly the
rows of the answered predictions, nothing of the refused requests.

Each operation also gets two explicit requests: a valid one with the right credential, and
the same without credentials. Generated examples per operation: 25 in ``make test`` (about
25 s in all on the 2-core machine); ``TRAINSMART_FUZZ_EXAMPLES=N`` runs N (``make
test-all``). A failure shows the falsifying request as a curl command.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.settings import Settings, load_settings
from serving.api import create_api
from serving.predictor import Predictor
from tests.conftest import fair_contract, fair_row
from tests.reliability.conftest import Versions, no_predictor
from tests.serving.test_columns import columns
from tests.serving.test_v2 import feature_inputs, matrix_input
from trainsmart.registry import FeatureSpec
from trainsmart.state import InputLog

DEFAULT_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
KEY = "fuzz-key-6c1d0e9a2b"
ADMIN = "fuzz-admin-4f8e2a7c1d"
NONE: dict[str, str] = {}
CREDENTIALS = [
    NONE,
    {"Authorization": "Bearer wrong-key"},
    {"Authorization": f"Bearer {KEY}"},
    {"X-API-Key": KEY},
    {"Authorization": f"Bearer {ADMIN}"},
]
OPERATIONS = [
    "POST /predict",
    "POST /feedback",
    "POST /explain",
    "GET /v2",
    "GET /v2/health/live",
    "GET /v2/health/ready",
    "GET /v2/models/{name}",
    "GET /v2/models/{name}/versions/{version}",
    "GET /v2/models/{name}/ready",
    "GET /v2/models/{name}/versions/{version}/ready",
    "POST /v2/models/{name}/infer",
    "POST /v2/models/{name}/versions/{version}/infer",
    "POST /admin/reload",
    "PUT /admin/candidate",
    "DELETE /admin/candidate",
    "PUT /admin/shadow",
    "GET /admin/status",
]
NEEDS_KEY = {
    "POST /predict",
    "POST /feedback",
    "POST /explain",
    *(op for op in OPERATIONS if op.endswith("/infer")),
}
PREDICTING = {op for op in NEEDS_KEY if op not in ("POST /feedback", "POST /explain")}


def fuzz_examples() -> int:
    """Examples per operation: ``TRAINSMART_FUZZ_EXAMPLES`` or ``DEFAULT_EXAMPLES``."""
    text = os.environ.get("TRAINSMART_FUZZ_EXAMPLES", "").strip()
    if not text:
        return DEFAULT_EXAMPLES
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"TRAINSMART_FUZZ_EXAMPLES={text!r}: expected a positive integer")
    return int(text)


@pytest.fixture(params=["open", "guarded"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Overrides the shared fixture: the open or the guarded service."""
    serving: dict[str, Any] = {}
    if request.param == "guarded":
        serving = {"api_keys": [KEY], "admin_token": ADMIN}
    return load_settings(data_dir=tmp_path / "data", model_name="fair", serving=serving)


@pytest.fixture(scope="module")
def schema() -> schemathesis.BaseSchema:
    """The document as schemathesis reads it from the app, once: no predictor changes it.
    Requests go to each test's own app (an ``ASGIClient`` session)."""
    return schemathesis.openapi.from_asgi("/openapi.json", create_api(no_predictor))


def feature_value(spec: FeatureSpec) -> st.SearchStrategy[Any]:
    """A value the contract accepts: any finite number (category codes too: unknown codes go
    to the model's unknown bucket), null where the feature is nullable."""
    if spec.kind == "categorical":
        value = st.sampled_from(spec.categories or [0]) | st.integers(-(10**6), 10**6)
    else:
        value = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    return value | st.none() if spec.nullable else value


def contract_bodies(versions: Versions, request_id: str) -> dict[str, st.SearchStrategy[Any]]:
    """Bodies valid for the served contract (and versions), by operation."""
    row = st.fixed_dictionaries({f.name: feature_value(f) for f in fair_contract().features})
    rows = st.lists(row, min_size=1, max_size=4)
    layout = rows.map(lambda r: {"instances": r}) | rows.map(lambda r: {"columns": columns(r)})
    pin = st.sampled_from([None, versions.production, versions.candidate])
    infer = rows.map(lambda r: {"inputs": [matrix_input(r)]}) | rows.map(
        lambda r: {"inputs": feature_inputs(r)}
    )
    version = st.sampled_from([versions.candidate, versions.production])
    predict = st.builds(lambda b, v: b if v is None else {**b, "version": v}, layout, pin)
    candidate = st.fixed_dictionaries({"version": version, "shadow": st.booleans()})
    return {
        "POST /predict": predict,
        "POST /explain": predict,  # the same body; not logged (serving/explain.py)
        "POST /feedback": st.fixed_dictionaries(
            {"request_id": st.just(request_id), "label": st.sampled_from(["0", "1", 0, 1])}
        ),
        "POST /v2/models/{name}/infer": infer,
        "POST /v2/models/{name}/versions/{version}/infer": infer,
        "PUT /admin/candidate": candidate,
        "PUT /admin/shadow": st.fixed_dictionaries({"enabled": st.booleans()}),
    }


def sample_body(operation: str, versions: Versions, request_id: str) -> Any:
    """One valid body of ``operation`` (None: it takes none)."""
    infer = {"inputs": [matrix_input([fair_row()])]}
    return {
        "POST /predict": {"instances": [fair_row()]},
        "POST /explain": {"instances": [fair_row()]},
        "POST /feedback": {"request_id": request_id, "label": "1"},
        "POST /v2/models/{name}/infer": infer,
        "POST /v2/models/{name}/versions/{version}/infer": infer,
        "PUT /admin/candidate": {"version": versions.candidate, "shadow": False},
        "PUT /admin/shadow": {"enabled": False},
    }.get(operation)


def make_case(operation: schemathesis.APIOperation, params: dict[str, str], body: Any) -> Case:
    used = {k: v for k, v in params.items() if "{" + k + "}" in operation.path}
    if body is None:
        return operation.Case(path_parameters=used)
    return operation.Case(path_parameters=used, body=body, media_type="application/json")


def answered_rows(answer: dict[str, Any]) -> int:
    """Rows of a 200 from /predict or a /v2 infer route."""
    if "predictions" in answer:
        return len(answer["predictions"])
    shape: list[int] = answer["outputs"][0]["shape"]
    return shape[0]


def right_credential(operation: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"} if " /admin/" in operation else {"X-API-Key": KEY}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_answer_conforms_to_the_document(
    operation: str,
    schema: schemathesis.BaseSchema,
    versions: Versions,
    predictor: Predictor,
    input_log: InputLog,
    settings: Settings,
) -> None:
    app: Any = create_api(lambda: predictor)  # an ASGI app (schemathesis types it narrowly)
    client = ASGIClient(app)
    if operation == "POST /explain":  # the first builds the explainer: shap, numba (seconds)
        quick = predictor.settings
        predictor.settings = quick.model_copy(update={"explain_timeout_s": 300.0})
        warm = {"instances": [fair_row()]}
        TestClient(app).post("/explain", json=warm, headers=right_credential(operation))
        predictor.settings = quick
    method, path = operation.split(" ", 1)
    target = schema[path][method]
    request_id = predictor.predict({"instances": [fair_row()]})["request_id"]
    pinned = st.sampled_from([versions.production, versions.candidate, "v999"])
    params = st.fixed_dictionaries({"name": st.just("fair"), "version": pinned})
    valid_body = contract_bodies(versions, request_id).get(operation)
    body = st.none() if valid_body is None else valid_body
    valid = st.builds(make_case, st.just(target), params, body)
    generated = [target.as_strategy(GenerationMode.POSITIVE)]
    if target.body or target.path_parameters:
        generated.append(target.as_strategy(GenerationMode.NEGATIVE))
    seen: Counter[int] = Counter()
    rows = 1  # the row logged above

    right = right_credential(operation)
    credentials = st.one_of(st.just(right), st.sampled_from(CREDENTIALS))  # mostly the right one
    sample_params = {"name": "fair", "version": versions.production}
    sample = make_case(target, sample_params, sample_body(operation, versions, request_id))
    unauthenticated = make_case(target, sample_params, sample_body(operation, versions, request_id))

    @hypothesis.settings(
        max_examples=fuzz_examples(),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=st.one_of(valid, *generated), credential=credentials)
    @example(case=sample, credential=right)
    @example(case=unauthenticated, credential=NONE)
    def fuzz(case: Case, credential: dict[str, str]) -> None:
        nonlocal rows
        response = case.call(session=client, headers=credential)
        case.validate_response(response, checks=CHECKS, headers=credential)
        seen[response.status_code] += 1
        if operation in PREDICTING and response.status_code == 200:
            rows += answered_rows(response.json())

    fuzz()
    guarded = bool(settings.serving.api_keys)
    expected = {403} if " /admin/" in operation and not guarded else {200}
    if guarded and (operation in NEEDS_KEY or " /admin/" in operation):
        expected.add(401)
    assert expected <= set(seen), (operation, dict(seen))
    assert input_log.count() == rows, "the input log holds exactly the answered rows"


def test_every_operation_is_fuzzed(document: dict[str, Any]) -> None:
    published = {
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
    }
    assert published == set(OPERATIONS)


def test_the_example_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAINSMART_FUZZ_EXAMPLES", raising=False)
    assert fuzz_examples() == DEFAULT_EXAMPLES
    monkeypatch.setenv("TRAINSMART_FUZZ_EXAMPLES", "300")
    assert fuzz_examples() == 300
    monkeypatch.setenv("TRAINSMART_FUZZ_EXAMPLES", "0")
    with pytest.raises(ValueError, match="expected a positive integer"):
        fuzz_examples()
