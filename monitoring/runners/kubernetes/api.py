"""The few calls of the Kubernetes REST API the retrain runner makes, over httpx.

Create, read and delete ``batch/v1`` Jobs with the monitor's service-account token (read
again for every request: the kubelet rotates it). Errors are mapped onto
``monitoring.errors`` (``KubernetesUnavailable`` for no answer or 5xx,
``KubernetesForbidden`` for 401/403, ...), each naming the request and the API's own
message. No ``kubernetes`` client package: four endpoints do not need one.

Example::

    api = KubernetesApi(scope.monitoring.kubernetes)
    api.create_job("ml", manifest)
    api.get_job("ml", "trainsmart-retrain-fair-affairs-42")["status"]
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

import httpx

from monitoring.errors import (
    KubernetesConflict,
    KubernetesError,
    KubernetesForbidden,
    KubernetesNotFound,
    KubernetesRejected,
    KubernetesUnavailable,
)
from monitoring.runners.kubernetes.settings import KubernetesJobSettings


def jobs_path(namespace: str, name: str | None = None) -> str:
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    return path if name is None else f"{path}/{name}"


class KubernetesApi:
    """Jobs in the API server of ``config.api_server``; ``transport`` is for tests."""

    def __init__(
        self, config: KubernetesJobSettings, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.config = config
        verify: ssl.SSLContext | bool = True
        if config.api_server.startswith("https://") and config.ca_path.is_file():
            verify = ssl.create_default_context(cafile=str(config.ca_path))
        self.client = httpx.Client(
            base_url=config.api_server,
            timeout=config.request_timeout_s,
            verify=verify,
            transport=transport,
        )

    def namespace(self) -> str:
        """The configured namespace, else the monitor's own (in a pod), else ``default``."""
        if self.config.namespace:
            return self.config.namespace
        try:
            return self.config.namespace_path.read_text().strip() or "default"
        except OSError:
            return "default"

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", jobs_path(namespace), json=manifest)

    def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        return self._request("GET", jobs_path(namespace, name))

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete the Job and (in the background) its pods; a Job already gone is fine."""
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        with contextlib.suppress(KubernetesNotFound):
            self._request("DELETE", jobs_path(namespace, name), json=options)

    def close(self) -> None:
        self.client.close()

    def _token(self) -> str:
        try:
            return self.config.token_path.read_text().strip()
        except OSError as exc:
            raise KubernetesError(
                f"no Kubernetes service-account token at {self.config.token_path} ({exc}); "
                "run the monitor in a pod with the trainsmart-monitor service account "
                "(deploy/kubernetes/), or set monitoring.kubernetes.token_path"
            ) from exc

    def _request(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        try:
            response = self.client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise KubernetesUnavailable(
                f"the Kubernetes API at {self.config.api_server} did not answer {method} "
                f"{path} ({type(exc).__name__}: {exc}); check monitoring.kubernetes.api_server "
                "and that the monitor runs in the cluster"
            ) from exc
        if response.is_success:
            body = response.json() if response.content else {}
            return body if isinstance(body, dict) else {}
        raise _error(method, path, response)


def _error(method: str, path: str, response: httpx.Response) -> KubernetesError:
    code = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("message") or body.get("reason")):
        detail = str(body.get("message") or body.get("reason"))
    else:
        detail = response.text[:200] or response.reason_phrase
    if code in (401, 403):
        return KubernetesForbidden(method, path, code, detail)
    what = f"the Kubernetes API answered {code} to {method} {path}: {detail}"
    if code == 404:
        return KubernetesNotFound(what, code)
    if code == 409:
        return KubernetesConflict(what, code)
    if code in (400, 422):
        return KubernetesRejected(
            f"{what}; the rendered Job is invalid: check the monitoring.kubernetes settings "
            "(`trainsmart monitor render-job` prints it)",
            code,
        )
    return KubernetesUnavailable(f"{what}; the next check tries again", code)
