"""Admin endpoints: reload, candidate, shadow mode and status, behind ``serving.admin_token``.

Routes (``add_admin_routes``)::

    POST   /admin/reload      follow the registry now; answer the loaded versions
    PUT    /admin/candidate   {"version": "v3", "shadow": true}: set the candidate
    DELETE /admin/candidate   remove the candidate
    PUT    /admin/shadow      {"enabled": true}: mirror production requests to it, or stop
    GET    /admin/status      versions loaded, shadow on/off, mirror queue depth

Writes go to the registry (the state database, audited with actor ``admin-api``), then the worker
that answered refreshes at once; the other workers and replicas follow within
``serving.reload_interval_s`` (their ``Reloader``), as they follow promotions. Every
answer is the status of the worker that answered (``pid`` says which).

A candidate is loaded and verified (``ModelHolder.open``) before the pointer moves, so a
bundle ONNX Runtime refuses is a 409 naming the reason and no worker tries it.
Requests need ``Authorization: Bearer <serving.admin_token>`` (401 otherwise); while
no admin token is set every admin route answers 403 (``trainsmart.auth``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from serving.http import ErrorResponse, body_schema, parse_model, read_json
from serving.predictor import Predictor
from trainsmart.auth import admin_guard
from trainsmart.names import check_name

ACTOR = "admin-api"
"""The audit log's actor for changes made through these routes."""


class CandidateState(BaseModel):
    version: str
    shadow: bool


class ShadowRows(BaseModel):
    """Rows this worker mirrored to the shadow candidate since it started, by result."""

    ok: int
    error: int
    dropped: int


class AdminStatus(BaseModel):
    """What the worker that answered serves, and what the registry asks for."""

    model: str
    pid: int = Field(description="Process id of the worker that answered.")
    production: str | None = Field(description="Production version loaded in this worker.")
    candidate: CandidateState | None = Field(description="Candidate loaded in this worker.")
    shadow: bool = Field(description="Whether this worker mirrors production to the candidate.")
    registry_production: str | None
    registry_candidate: CandidateState | None = Field(
        description="The registry's candidate; differs from `candidate` until this worker "
        "refreshes, or when this worker refused to load it (see its log)."
    )
    shadow_queue_depth: int
    shadow_queue_capacity: int
    shadow_rows: ShadowRows


class CandidateRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    version: str = Field(description="A registered version other than production.")
    shadow: bool = Field(default=False, description="Mirror production requests to it.")
    reason: str = Field(default="PUT /admin/candidate", description="Kept in the audit log.")


class ShadowRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    enabled: bool
    reason: str = Field(default="PUT /admin/shadow", description="Kept in the audit log.")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid body; `field` names the culprit"},
    401: {"model": ErrorResponse, "description": "Missing or wrong admin token"},
    403: {"model": ErrorResponse, "description": "Admin endpoints disabled (no admin_token)"},
    404: {"model": ErrorResponse, "description": "Version not in the registry"},
    409: {"model": ErrorResponse, "description": "Refused: production version, no candidate "
          "to shadow, or a bundle that cannot be loaded"},
    413: {"model": ErrorResponse, "description": "Body over serving.max_body_bytes"},
    415: {"model": ErrorResponse, "description": "Body not sent as application/json"},
}  # fmt: skip


def status(predictor: Predictor) -> dict[str, Any]:
    """The ``AdminStatus`` of this worker."""
    holder, registry = predictor.holder, predictor.registry
    loaded = holder.candidate()
    pointer = registry.candidate(holder.name)
    mirror = predictor.shadow
    return {
        "model": holder.name,
        "pid": os.getpid(),
        "production": holder.current().version if holder.ready else None,
        "candidate": (
            {"version": loaded.model.version, "shadow": loaded.shadow} if loaded else None
        ),
        "shadow": bool(loaded and loaded.shadow and mirror is not None),
        "registry_production": registry.production(holder.name),
        "registry_candidate": (
            {"version": pointer.version, "shadow": pointer.shadow} if pointer else None
        ),
        "shadow_queue_depth": mirror.depth if mirror else 0,
        "shadow_queue_capacity": mirror.capacity if mirror else 0,
        "shadow_rows": dict(mirror.counts) if mirror else {"ok": 0, "error": 0, "dropped": 0},
    }


def _reload(predictor: Predictor, _: Any) -> dict[str, Any]:
    predictor.holder.refresh()
    return status(predictor)


def _set_candidate(predictor: Predictor, body: Any) -> dict[str, Any]:
    request = parse_model(CandidateRequest, body, '{"version": "v3", "shadow": true}')
    version = check_name(request.version, "version")
    holder = predictor.holder
    # verify and open it before the pointer moves: a bundle that cannot serve is refused here
    model = holder.open(version)
    predictor.registry.set_candidate(
        holder.name, version, shadow=request.shadow, actor=ACTOR, reason=request.reason
    )
    holder.refresh(preloaded=model)
    return status(predictor)


def _clear_candidate(predictor: Predictor, _: Any) -> dict[str, Any]:
    predictor.registry.clear_candidate(
        predictor.holder.name, actor=ACTOR, reason="DELETE /admin/candidate"
    )
    predictor.holder.refresh()
    return status(predictor)


def _set_shadow(predictor: Predictor, body: Any) -> dict[str, Any]:
    request = parse_model(ShadowRequest, body, '{"enabled": true}')
    predictor.registry.set_shadow(
        predictor.holder.name, request.enabled, actor=ACTOR, reason=request.reason
    )
    predictor.holder.refresh()
    return status(predictor)


def add_admin_routes(app: FastAPI, get_predictor: Callable[[], Predictor]) -> None:
    """Add the ``/admin`` routes to ``app``, guarded by ``serving.admin_token``."""
    guard = Security(admin_guard(lambda: get_predictor().settings.admin_token))

    def add(
        method: str,
        path: str,
        handler: Callable[[Predictor, Any], dict[str, Any]],
        summary: str,
        request_model: type[BaseModel] | None = None,
    ) -> None:
        async def endpoint(request: Request) -> JSONResponse:
            predictor = get_predictor()
            body = None
            if request_model is not None:
                body = await read_json(request, predictor.settings.max_body_bytes)
            return JSONResponse(await run_in_threadpool(handler, predictor, body))

        app.add_api_route(
            path, endpoint, methods=[method], name=f"admin_{method.lower()}_{path[7:]}",
            summary=summary, response_model=AdminStatus, responses=ERRORS, tags=["admin"],
            dependencies=[guard],
            openapi_extra=body_schema(request_model) if request_model else None,
        )  # fmt: skip

    add("POST", "/admin/reload", _reload, "Follow the registry now (this worker)")
    add(
        "PUT", "/admin/candidate", _set_candidate,
        "Set the candidate version (every worker follows)", CandidateRequest,
    )  # fmt: skip
    add("DELETE", "/admin/candidate", _clear_candidate, "Remove the candidate")
    add("PUT", "/admin/shadow", _set_shadow, "Shadow mode of the candidate", ShadowRequest)
    add("GET", "/admin/status", lambda p, _: status(p), "What this worker serves")
