"""A fake Kubernetes API server: the four Job endpoints the retrain runner calls, over real
HTTP on a free loopback port (``http.server`` in a thread).

It checks the bearer token (401 otherwise), validates a created Job against the schema
(strict; 422 like the real API for a field it does not know), answers 409 for a name it
holds, 404 for one it does not, and records every request. A test sets a Job's outcome
with :meth:`FakeKubernetes.finish`. :func:`k8s_settings` points the settings at it.

It is not Kubernetes: no pods run, no controller sets conditions or enforces
activeDeadlineSeconds, no TTL deletes anything, no RBAC beyond the token and the
``forbidden`` switch. Those are the gap between these tests and a real cluster.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate

from apps.settings import Settings, load_settings
from trainsmart.state import Job, JobStore

TOKEN = "fake-service-account-token"
PASSWORD = "hunter2-not-in-the-job"
NS = "ml"
_JOBS = re.compile(r"^/apis/batch/v1/namespaces/([a-z0-9-]+)/jobs(?:/([a-z0-9-]+))?$")


@dataclass
class Request:
    method: str
    path: str
    body: Any


@dataclass
class FakeKubernetes:
    """State of the fake API server; ``url`` once started."""

    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    forbidden: bool = False
    """Answer 403 to everything (a service account without the Role)."""
    reject: bool = False
    """Answer 422 to a create (an invalid Job)."""
    url: str = ""

    def finish(self, namespace: str, name: str, kind: str, reason: str = "") -> None:
        """Give the Job a true ``Complete`` or ``Failed`` condition, as the controller does."""
        condition = {"type": kind, "status": "True", "reason": reason or kind}
        self.jobs[(namespace, name)]["status"] = {"conditions": [condition]}

    def answer(self, method: str, path: str, token: str, body: Any) -> tuple[int, Any]:
        self.requests.append(Request(method, path, body))
        if token != f"Bearer {TOKEN}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        if self.forbidden:
            return 403, status(403, "Forbidden", f'jobs.batch is forbidden: {method} "{path}"')
        match = _JOBS.match(path)
        if match is None:
            return 404, status(404, "NotFound", f"no route {path}")
        namespace, name = match.groups()
        if method == "POST" and name is None:
            return self._create(namespace, body)
        key = (namespace, name or "")
        if key not in self.jobs:
            return 404, status(404, "NotFound", f'jobs.batch "{name}" not found')
        if method == "GET":
            return 200, self.jobs[key]
        if method == "DELETE":
            del self.jobs[key]
            return 200, status(200, "Success", "deleted")
        return 405, status(405, "MethodNotAllowed", method)

    def _create(self, namespace: str, body: Any) -> tuple[int, Any]:
        if self.reject:
            return 422, status(422, "Invalid", "Job.batch is invalid: spec.template: Invalid")
        try:
            kubernetes_validate.validate(body, "1.30", strict=True)
        except kubernetes_validate.ValidationError as exc:
            return 422, status(422, "Invalid", f"Job.batch is invalid: {exc.message}")
        name = body["metadata"]["name"]
        if (namespace, name) in self.jobs:
            return 409, status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
        created = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
        created["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
        created["status"] = {"active": 1}
        self.jobs[(namespace, name)] = created
        return 201, created


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``v1.Status`` body, as the API server answers errors."""
    ok = "Success" if code < 400 else "Failure"
    return {"kind": "Status", "apiVersion": "v1", "status": ok, "message": message,
            "reason": reason, "code": code}  # fmt: skip


def serve(fake: FakeKubernetes) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve ``fake`` on 127.0.0.1 (a free port); sets ``fake.url``."""

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            token = self.headers.get("Authorization", "")
            code, answer = fake.answer(self.command, self.path, token, body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server, thread


def k8s_settings(settings: Settings, tmp_path: Path, api_server: str) -> Settings:
    """``settings`` with the Kubernetes runner on ``api_server`` (namespace ``ml``), a token
    file in ``tmp_path`` and a PostgreSQL URL whose password must never reach a Job."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    return load_settings(
        data_dir=settings.data_dir,
        model_name="fair",
        database_url=f"postgresql://trainsmart:{PASSWORD}@db:5432/trainsmart",
        monitoring={
            "job_runner": "kubernetes",
            "job_timeout_s": 60,
            "kubernetes": {
                "namespace": NS,
                "api_server": api_server,
                "token_path": str(token),
                "labels": {"team": "ml"},
                "env_from_secrets": ["trainsmart-training"],
            },
        },
    )


def queued(jobs: JobStore) -> Job:
    """A queued drift job of model ``fair``."""
    job = jobs.create("fair", "drift in 2 windows")
    assert job is not None
    return job
