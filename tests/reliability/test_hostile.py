"""Hand-made hostile requests against the in-process app.

Each case names the status, the ``field`` of the ``{"error": ..., "field": ...}`` answer
and a fragment of its message; the status must be one the route documents in
/openapi.json. Then the service must have lost nothing: refused requests leave no row in
the input log, and a valid request afterwards is answered and logged.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apps.settings import Settings, load_settings
from serving.api import create_api
from serving.predictor import Predictor
from tests.conftest import fair_row
from tests.reliability.conftest import Service, Versions, build_service
from tests.serving.test_columns import columns
from tests.serving.test_v2 import feature_inputs, matrix_input
from trainsmart.errors import clip
from trainsmart.state import InputLog

ADMIN = "hostile-admin-7d3e9f1a"
MAX_BODY = 512 * 1024
MAX_ROWS = 50
JSON = {"content-type": "application/json"}
INFER = "/v2/models/fair/infer"
BIG = "x" * 200_000  # under MAX_BODY once in a body
DEEP = 100_000  # nesting far past Python's recursion limit


def j(body: Any) -> bytes:
    return json.dumps(body).encode()


def spelled(body: Any, raw: str) -> bytes:
    """``body`` as JSON with the value "@" written as the raw JSON text ``raw``."""
    return j(body).replace(b'"@"', raw.encode())


@dataclass(frozen=True)
class Hostile:
    name: str
    path: str
    body: bytes
    status: int
    field: str | None
    says: str
    method: str = "POST"
    headers: dict[str, str] = dataclasses.field(default_factory=lambda: dict(JSON))
    chunked: bool = False
    """Sent without content-length: the limit is checked on the bytes that arrive."""


def chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


AGE = fair_row(age="@")
SPELLINGS = ["NaN", "Infinity", "-Infinity", '"nan"', '"inf"', '"-inf"', '"NaN"', "1e999"]
NOT_FINITE = [
    Hostile(f"{raw} in instances", "/predict", spelled({"instances": [AGE]}, raw), 400,
            "instances[0].age", "finite number")
    for raw in SPELLINGS
] + [
    Hostile(f"{raw} in columns", "/predict", spelled({"columns": columns([AGE])}, raw), 400,
            "columns.age[0]", "finite number")
    for raw in SPELLINGS
] + [
    Hostile(f"{raw} in a v2 tensor", INFER, spelled({"inputs": [matrix_input([AGE])]}, raw), 400,
            "inputs.input[0].age" if '"' not in raw else "inputs.input.data[1]",
            "finite number" if '"' not in raw else "numbers (datatype FP32")
    for raw in SPELLINGS
]  # fmt: skip

ROWS = [fair_row()] * (MAX_ROWS + 1)
OVER = b'{"instances": [' + b'{"age": 1}, ' * (MAX_BODY // 11) + b"]}"
MEDIA = [
    Hostile("truncated JSON", "/predict", b'{"instances": [', 400, "body", "not valid JSON"),
    Hostile("trailing data", "/predict", b'{"instances": []} x', 400, "body", "not valid JSON"),
    Hostile("empty body", "/predict", b"", 400, "body", "not valid JSON"),
    Hostile("single quotes", "/predict", b"{'instances': []}", 400, "body", "not valid JSON"),
    Hostile("invalid UTF-8", "/predict", b'{"version": "\xff"}', 400, "body", "not valid JSON"),
    Hostile("JSON null", "/predict", b"null", 400, "body", "got None"),
    Hostile("JSON string", "/feedback", b'"1"', 400, "body", "an object"),
    Hostile("text/plain", "/predict", j({"instances": [fair_row()]}), 415, "content-type",
            "expected application/json", headers={"content-type": "text/plain"}),
    Hostile("no content-type", "/predict", j({"instances": [fair_row()]}), 415, "content-type",
            "got ''", headers={}),
    Hostile("a longer media type", "/predict", j({"instances": [fair_row()]}), 415,
            "content-type", "expected application/json",
            headers={"content-type": "application/jsonx"}),
    Hostile("form body", "/feedback", b"request_id=a&label=1", 415, "content-type",
            "x-www-form-urlencoded",
            headers={"content-type": "application/x-www-form-urlencoded"}),
    Hostile("gzip", "/predict", b"\x1f\x8b", 415, "content-encoding", "gzip",
            headers={**JSON, "content-encoding": "gzip"}),
]  # fmt: skip
INTS = {k: int(v) for k, v in fair_row().items() if isinstance(v, int | float)}
NO_DATATYPE = {k: v for k, v in matrix_input([fair_row()]).items() if k != "datatype"}
FIELDS = [  # strings where numbers belong; missing, extra and duplicate fields
    Hostile("numeric string", "/predict", j({"instances": [fair_row(age="32")]}), 400,
            "instances[0].age", "got '32'"),
    Hostile("string in an INT64 tensor", INFER,
            j({"inputs": [matrix_input([INTS | {"occupation": "3"}], "INT64")]}), 400,
            "inputs.input.data[6]", "integers (datatype INT64"),
    Hostile("string row_index", "/feedback",
            j({"request_id": "r", "label": 1, "row_index": "0"}), 400, "row_index",
            "integer from 0"),
    Hostile("tensor without datatype", INFER, j({"inputs": [NO_DATATYPE]}), 400,
            "inputs[0].datatype", "Field required"),
    Hostile("feedback without label", "/feedback", j({"request_id": "r"}), 400, "label",
            "missing"),
    Hostile("extra top-level field", "/predict", j({"instances": [fair_row()], "debug": True}),
            400, "debug", "unknown"),
    Hostile("extra tensor field", INFER,
            j({"inputs": [{**matrix_input([fair_row()]), "foo": 1}]}), 400, "inputs[0].foo",
            "Extra inputs"),
    Hostile("duplicate key, last empty", "/predict",
            b'{"instances": [' + j(fair_row()) + b'], "instances": []}', 400, "instances",
            "at least one row"),
    Hostile("duplicate feature, last bad", "/predict",
            b'{"instances": [' + j(fair_row())[:-1] + b', "age": "old"}]}', 400,
            "instances[0].age", "got 'old'"),
]  # fmt: skip
LIMITS = [  # empty batches, too many rows, too large a body, deep nesting, huge strings
    Hostile("empty columns", "/predict", j({"columns": columns([fair_row()]) | {
        name: [] for name in fair_row()}}), 400, "columns", "at least one row"),
    Hostile("zero-row tensor", INFER, j({"inputs": [matrix_input([fair_row()]) | {
        "shape": [0, 8], "data": []}]}), 400, "inputs.input.shape", "n >= 1"),
    Hostile("zero-row feature tensors", INFER, j({"inputs": feature_inputs([])}), 400,
            "inputs.rate_marriage.shape", "n >= 1"),
    Hostile("rows over the limit, per-feature tensors", INFER,
            j({"inputs": feature_inputs(ROWS)}), 413, "inputs", "split the batch"),
    Hostile("rows over the limit, pinned", "/predict",
            j({"instances": ROWS, "version": "@version"}), 413, "instances", "split the batch"),
    Hostile("body over the limit", "/predict", OVER, 413, "body", f"{MAX_BODY}-byte limit"),
    Hostile("feedback body over the limit", "/feedback", OVER, 413, "body", "byte limit"),
    Hostile("chunked body over the limit", "/predict", OVER, 413, "body", "byte limit",
            chunked=True),
    Hostile("admin body over the limit", "/admin/candidate", OVER, 413, "body", "byte limit",
            method="PUT", headers={**JSON, "Authorization": f"Bearer {ADMIN}"}),
    Hostile("deeply nested lists", "/predict", b"[" * DEEP + b"]" * DEEP, 400, "body",
            "not valid JSON"),
    Hostile("deeply nested objects", INFER, b'{"a":' * (DEEP // 2) + b"1" + b"}" * (DEEP // 2),
            400, "body", "not valid JSON"),
    Hostile("nested lists as a value", "/predict",
            spelled({"instances": [AGE]}, "[" * 500 + "]" * 500), 400, "instances[0].age",
            "finite number"),
    Hostile("huge string value", "/predict", j({"instances": [fair_row(age=BIG)]}), 400,
            "instances[0].age", "finite number"),
    Hostile("huge version", "/predict", j({"instances": [fair_row()], "version": BIG}), 400,
            "version", "1-64 characters"),
    Hostile("huge feature name", "/predict", j({"instances": [fair_row() | {BIG: 1}]}), 400,
            f"instances[0].{clip(BIG)}", "unknown feature"),
    Hostile("huge request id", "/feedback", j({"request_id": BIG, "label": "1"}), 404, None,
            "is not in the input log"),
    Hostile("huge datatype", INFER, j({"inputs": [matrix_input([fair_row()], BIG)]}), 400,
            "inputs.input.datatype", "expected one of"),
    Hostile("huge model name", f"/v2/models/{'a' * 10_000}/infer", j({"inputs": []}), 400,
            "model_name", "1-64 characters"),
]  # fmt: skip
LONE = [  # unpaired UTF-16 surrogates: valid JSON escapes, but no Unicode text
    Hostile("lone surrogate as a feature name", "/predict",
            spelled({"instances": [fair_row() | {"@": 1}]}, '"\\ud800"'), 400, "body",
            "surrogate"),
    Hostile("lone surrogate as a request id", "/feedback",
            b'{"request_id": "\\udc00", "label": "1"}', 400, "body", "surrogate"),
    Hostile("lone surrogate as a v2 id", INFER,
            spelled({"id": "@", "inputs": [matrix_input([fair_row()])]}, '"\\ud83d"'), 400,
            "body", "surrogate"),
]  # fmt: skip
NAMES = [  # unknown models and versions, path traversal in names and versions
    Hostile("other model", "/v2/models/other/versions/v1/infer", j({"inputs": []}), 404, None,
            "serves only 'fair'"),
    Hostile("uppercase model name", "/v2/models/FAIR/infer", j({"inputs": []}), 400,
            "model_name", "lowercase"),
    Hostile("unknown version", "/predict", j({"instances": [fair_row()], "version": "v999"}),
            404, None, "'v999' is not loaded"),
    Hostile("unknown version in the path", "/v2/models/fair/versions/v999/infer",
            j({"inputs": []}), 404, None, "'v999' is not loaded"),
    Hostile("dot segments", "/v2/models/fair/../infer", j({"inputs": []}), 405, None,
            "Method Not Allowed"),  # the client sends /v2/models/infer: a GET-only route
    Hostile("encoded ../", "/v2/models/%2e%2e%2fetc/infer", j({"inputs": []}), 404, None,
            "Not Found"),
    Hostile("encoded .. version", "/v2/models/fair/versions/%2e%2e/infer", j({"inputs": []}),
            400, "model_version", "got '..'"),
    Hostile("absolute version", "/v2/models/fair/versions/%2Fetc%2Fpasswd/infer",
            j({"inputs": []}), 404, None, "Not Found"),
    Hostile("backslashes", "/v2/models/..%5C..%5Cetc/infer", j({"inputs": []}), 400,
            "model_name", "lowercase letters"),
    Hostile("NUL in a name", "/v2/models/fair%00/ready", b"", 400, "model_name", "\\x00",
            method="GET"),
    Hostile("NUL in a version", "/v2/models/fair/versions/v1%00", b"", 400, "model_version",
            "\\x00", method="GET"),
    *(
        Hostile(f"version {bad!r}", "/predict", j({"instances": [fair_row()], "version": bad}),
                400, "version", "1-64 characters")
        for bad in ("../v1", "/etc/passwd", "..\\v1", "v1\x00", "v1/../../x")
    ),
    Hostile("candidate ../", "/admin/candidate", j({"version": "../../etc"}), 400, "version",
            "1-64 characters", method="PUT",
            headers={**JSON, "Authorization": f"Bearer {ADMIN}"}),
]  # fmt: skip
FEEDBACK = [
    Hostile("unknown request id", "/feedback", j({"request_id": "nope", "label": "1"}), 404,
            None, "'nope' is not in the input log"),
    Hostile("label outside the classes", "/feedback", j({"request_id": "@id", "label": "7"}),
            400, "label", "one of the classes ['0', '1']"),
    Hostile("NaN label", "/feedback", b'{"request_id": "@id", "label": NaN}', 400, "label",
            "got nan"),
    Hostile("boolean label", "/feedback", j({"request_id": "@id", "label": True}), 400,
            "label", "got True"),
    Hostile("negative row", "/feedback", j({"request_id": "@id", "label": "1", "row_index": -1}),
            400, "row_index", "integer from 0"),
    Hostile("row past SQLite's integers", "/feedback",
            j({"request_id": "@id", "label": "1", "row_index": 2**63}), 400, "row_index",
            "integer from 0 to 2**63-1"),
    Hostile("row beyond the request", "/feedback",
            j({"request_id": "@id", "label": "1", "row_index": 5}), 404, None, "[5]"),
]  # fmt: skip
CASES = [*NOT_FINITE, *MEDIA, *FIELDS, *LIMITS, *LONE, *NAMES, *FEEDBACK]


def hostile_settings(root: Path) -> Settings:
    """Small limits, and the admin routes enabled."""
    return load_settings(
        data_dir=root / "data",
        model_name="fair",
        serving={"max_body_bytes": MAX_BODY, "max_rows_per_request": MAX_ROWS,
                 "admin_token": ADMIN},
    )  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Overrides the shared fixture: the settings of the table's service."""
    return hostile_settings(tmp_path)


def serve_one(client: TestClient, input_log: InputLog) -> str:
    """The request id of one answered row (for feedback cases)."""
    response = client.post("/predict", json={"instances": [fair_row()]})
    assert response.status_code == 200, response.text
    assert input_log.count() == 1
    request_id: str = response.json()["request_id"]
    return request_id


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Service, str]:
    """The service every case is sent to (each must be refused, so none changes it), and
    the request id of the one row it has served."""
    root = tmp_path_factory.mktemp("hostile")
    service = build_service(root, hostile_settings(root))
    return service, serve_one(service.client, service.input_log)


def send(client: TestClient, case: Hostile, version: str, request_id: str) -> Any:
    """``case`` sent; "@version" in its body is ``version``, "@id" is ``request_id``."""
    body = case.body.replace(b"@version", version.encode()).replace(b"@id", request_id.encode())
    content: Any = chunks(body) if case.chunked else body
    return client.request(case.method, case.path, content=content, headers=case.headers)


def documented(document: dict[str, Any], method: str, path: str) -> set[str] | None:
    """Statuses the document gives the route that ``path`` matches (None: no route)."""
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return set(operations[method.lower()]["responses"])
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request_is_refused_naming_the_field(
    table: tuple[Service, str], document: dict[str, Any], case: Hostile
) -> None:
    service, served = table
    logged = service.input_log.count()
    response = send(service.client, case, service.production, served)
    assert response.status_code == case.status, response.text[:500]
    assert len(response.content) < 2048, "an error echoes the client's input in full"
    answer = response.json()
    assert answer.get("field") == case.field, answer
    assert case.says in answer["error"], answer["error"][:500]
    statuses = documented(document, case.method, case.path)
    assert statuses is None or str(case.status) in statuses, (case.status, statuses)
    assert service.input_log.count() == logged


def test_after_the_whole_table_nothing_is_lost(
    versions: Versions, predictor: Predictor, input_log: InputLog
) -> None:
    client = TestClient(create_api(lambda: predictor), raise_server_exceptions=False)
    served = serve_one(client, input_log)
    for case in CASES:
        response = send(client, case, versions.candidate, served)
        assert response.status_code == case.status, case.name
        assert input_log.count() == 1, case.name  # only the row served before the table
    assert input_log.labelled("fair", 10) == []
    pinned = {"instances": [fair_row(age=44.0)], "version": versions.candidate}
    response = client.post("/predict", json=pinned)
    assert response.status_code == 200, response.text
    logged = input_log.request(response.json()["request_id"])
    assert [(r.version, r.features["age"]) for r in logged] == [(versions.candidate, 44.0)]
    assert client.post("/feedback", json={"request_id": served, "label": "1"}).status_code == 200
    assert [r.label for r in input_log.labelled("fair", 10)] == ["1"]


def test_a_duplicate_key_means_its_last_value_in_the_answer_and_the_log(tmp_path: Path) -> None:
    service = build_service(tmp_path, hostile_settings(tmp_path))
    raw = b'{"instances": [' + j(fair_row(age="old"))[:-1] + b', "age": 50.0}]}'
    response = service.client.post("/predict", content=raw, headers=JSON)
    assert response.status_code == 200, response.text
    assert service.input_log.request(response.json()["request_id"])[0].features["age"] == 50.0
    again = service.client.post("/predict", json={"instances": [fair_row(age=50.0)]}).json()
    assert again["predictions"][0]["cached"] is True  # the same row: the one predicted


def test_a_surrogate_pair_and_an_upper_case_media_type_are_accepted(tmp_path: Path) -> None:
    """The refusals are narrow: an escaped surrogate pair spells one character (an emoji),
    and media types are case-insensitive (RFC 9110)."""
    service = build_service(tmp_path, hostile_settings(tmp_path))
    body = spelled({"id": "@", "inputs": [matrix_input([fair_row()])]}, '"\\ud83d\\ude00"')
    headers = {"content-type": "Application/JSON; charset=UTF-8"}
    response = service.client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "\U0001f600"
    assert service.input_log.count() == 1
