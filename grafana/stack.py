# over 300 lines: one script that writes the configs, starts and stops the three servers
"""Run Prometheus, Alertmanager and Grafana (if installed) for a running trainsmart.

``make stack`` starts them on this repository's configs against a running service and
monitor.

Usage (from the repository root, with the service and the monitor already running)::

    python grafana/stack.py [--config trainsmart.yaml] [--service HOST:PORT]
        [--monitor HOST:PORT] [--prometheus-port 9090] [--alertmanager-port 9093]
        [--grafana-port 3001]

The service and monitor addresses default to the trainsmart settings (serving.port,
monitoring.port, or their TRAINSMART_* variables); the retrain webhook's bearer token is
monitoring.webhook_token (TRAINSMART_MONITORING__WEBHOOK_TOKEN). Each server gets a copy
of its config with these addresses, and its data, in one temporary directory that is
removed on exit; Ctrl-C (or SIGTERM) stops them all.

Grafana (``grafana`` or ``grafana-server`` on PATH) is provisioned with the datasources
and the dashboard only: Prometheus evaluates the alert rules here, so the Grafana-managed
copies (provisioning/alerting/) would only duplicate them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
WEBHOOK_PATH = "/webhook/alertmanager"
TOKEN_ENV = "TRAINSMART_MONITORING__WEBHOOK_TOKEN"
BOARD = HERE / "dashboards" / "trainsmart.json"


@dataclass
class Addresses:
    service: str = "127.0.0.1:3000"
    monitor: str = "127.0.0.1:9108"
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    grafana_port: int = 3001
    token: str | None = None


@dataclass
class Server:
    name: str
    command: list[str]
    ready_url: str
    url: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _dump(data: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def render_prometheus(workdir: Path, at: Addresses) -> Path:
    """prometheus.yml with the service, monitor and Alertmanager addresses; alerts.yml beside."""
    config = _load(HERE / "prometheus" / "prometheus.yml")
    targets = {"trainsmart-service": at.service, "trainsmart-monitor": at.monitor}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    alertmanager = f"127.0.0.1:{at.alertmanager_port}"
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    shutil.copy(HERE / "prometheus" / "alerts.yml", workdir / "alerts.yml")
    return _dump(config, workdir / "prometheus.yml")


def render_alertmanager(workdir: Path, at: Addresses) -> Path:
    """alertmanager.yml whose retrain webhook calls ``at.monitor`` with ``at.token``."""
    config = _load(HERE / "alertmanager" / "alertmanager.yml")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            if hook["url"].endswith(WEBHOOK_PATH):
                hook["url"] = f"http://{at.monitor}{WEBHOOK_PATH}"
                if at.token:
                    token = workdir / "webhook.token"
                    token.write_text(at.token)
                    token.chmod(0o600)
                    hook["http_config"]["authorization"]["credentials_file"] = str(token)
                else:
                    del hook["http_config"]
    return _dump(config, workdir / "alertmanager.yml")


def render_grafana(workdir: Path, at: Addresses) -> Path:
    """A provisioning folder: the datasources at these ports and the repository's dashboards."""
    root = workdir / "provisioning"
    sources = _load(HERE / "provisioning" / "datasources" / "prometheus.yaml")
    ports = {"prometheus": at.prometheus_port, "alertmanager": at.alertmanager_port}
    for source in sources["datasources"]:
        source["url"] = f"http://127.0.0.1:{ports[source['type']]}"
    _dump(sources, root / "datasources" / "prometheus.yaml")
    boards = _load(HERE / "provisioning" / "dashboards" / "trainsmart.yaml")
    for provider in boards["providers"]:
        provider["options"]["path"] = str(HERE / "dashboards")
    _dump(boards, root / "dashboards" / "trainsmart.yaml")
    for empty in ("alerting", "plugins", "notifiers"):
        (root / empty).mkdir(parents=True, exist_ok=True)
    return root


def servers(workdir: Path, at: Addresses) -> list[Server]:
    """The servers whose binaries are installed (Prometheus and Alertmanager are required)."""
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if prometheus is None or alertmanager is None:
        raise SystemExit(
            "make stack needs prometheus and Alertmanager: apt-get install -y prometheus "
            "prometheus-alertmanager (or put the upstream binaries on PATH)"
        )
    prom_url = f"http://127.0.0.1:{at.prometheus_port}"
    am_url = f"http://127.0.0.1:{at.alertmanager_port}"
    found = [
        Server(
            "prometheus",
            [
                prometheus,
                f"--config.file={render_prometheus(workdir, at)}",
                f"--storage.tsdb.path={workdir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{at.prometheus_port}",
                f"--web.external-url={prom_url}/",
            ],
            f"{prom_url}/-/ready",
            prom_url,
        ),
        Server(
            "alertmanager",
            [
                alertmanager,
                f"--config.file={render_alertmanager(workdir, at)}",
                f"--storage.path={workdir / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{at.alertmanager_port}",
                f"--web.external-url={am_url}/",
                # a single instance: no gossip port (9094)
                "--cluster.listen-address=",
            ],
            f"{am_url}/-/ready",
            am_url,
        ),
    ]
    grafana = _grafana_command()
    if grafana is not None:
        url = f"http://127.0.0.1:{at.grafana_port}"
        env = {
            "GF_PATHS_PROVISIONING": str(render_grafana(workdir, at)),
            "GF_PATHS_DATA": str(workdir / "grafana-data"),
            "GF_PATHS_LOGS": str(workdir / "grafana-logs"),
            "GF_SERVER_HTTP_ADDR": "127.0.0.1",
            "GF_SERVER_HTTP_PORT": str(at.grafana_port),
            # Local and throwaway: look without logging in; admin/admin to edit.
            "GF_AUTH_ANONYMOUS_ENABLED": "true",
            "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
            "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": str(BOARD),
        }
        found.append(Server("grafana", grafana, f"{url}/api/health", url, env))
    return found


def _grafana_command() -> list[str] | None:
    """``grafana server`` (Grafana 10+) or ``grafana-server``, with its home folder."""
    for name, prefix in (("grafana", ["server"]), ("grafana-server", [])):
        binary = shutil.which(name)
        if binary is None:
            continue
        home = os.environ.get("GRAFANA_HOME")
        candidates = [home] if home else []
        candidates += [
            str(Path(binary).resolve().parent.parent / "share" / "grafana"),
            "/usr/share/grafana",
        ]
        for candidate in candidates:
            if (Path(candidate) / "conf" / "defaults.ini").is_file():
                return [binary, *prefix, f"--homepath={candidate}"]
        print(f"found {binary} but not its home folder: set GRAFANA_HOME", file=sys.stderr)
    return None


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def start(workdir: Path, all_servers: list[Server], timeout_s: float = 60.0) -> None:
    """Start each server with its log in ``workdir`` and wait until it answers ready."""
    for server in all_servers:
        server.log = workdir / f"{server.name}.log"
        with server.log.open("wb") as log:
            server.process = subprocess.Popen(
                server.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **server.env},
                cwd=workdir,
            )
    deadline = time.monotonic() + timeout_s
    for server in all_servers:
        while not _ready(server.ready_url):
            if not server.running() or time.monotonic() > deadline:
                tail = server.log.read_text(errors="replace")[-2000:] if server.log else ""
                stop(all_servers)
                raise RuntimeError(
                    f"{server.name} did not become ready at {server.ready_url}; "
                    f"its log ends with:\n{tail}"
                )
            time.sleep(0.1)


def stop(all_servers: list[Server]) -> None:
    """SIGTERM each running server; SIGKILL what has not exited within 10 s."""
    for server in all_servers:
        if server.running() and server.process is not None:
            server.process.terminate()
    for server in all_servers:
        if server.process is None:
            continue
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


def addresses(args: argparse.Namespace) -> Addresses:
    """The command line over the trainsmart settings over the defaults."""
    at = Addresses(
        prometheus_port=args.prometheus_port,
        alertmanager_port=args.alertmanager_port,
        grafana_port=args.grafana_port,
    )
    token = os.environ.get(TOKEN_ENV)
    try:
        # lazy: the trainsmart settings only when the stack is started for a local data_dir
        from apps.settings import load_settings

        settings = load_settings(args.config)
        at.service = f"{_reachable(settings.serving.host)}:{settings.serving.port}"
        at.monitor = f"{_reachable(settings.monitoring.host)}:{settings.monitoring.port}"
        secret = getattr(settings.monitoring, "webhook_token", None)
        if secret is not None:
            token = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
    except ImportError:  # run outside the project's environment: defaults and flags only
        pass
    at.service = args.service or at.service
    at.monitor = args.monitor or at.monitor
    at.token = token or None
    return at


def _reachable(host: str) -> str:
    """A server bound to every interface is scraped on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the stack like Ctrl-C."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="trainsmart settings file (default: as the CLI)")
    parser.add_argument("--service", help="HOST:PORT of the service (default: settings)")
    parser.add_argument("--monitor", help="HOST:PORT of the monitor (default: settings)")
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument("--grafana-port", type=int, default=3001)
    at = addresses(parser.parse_args(argv))
    if at.token is None:
        print(
            f"warning: no monitoring.webhook_token ({TOKEN_ENV}): Alertmanager calls the "
            "retrain webhook without a token and the monitor will refuse it",
            file=sys.stderr,
        )
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="trainsmart-stack-") as tmp:
        workdir = Path(tmp)
        running = servers(workdir, at)
        start(workdir, running)
        print(f"scraping the service at {at.service} and the monitor at {at.monitor}")
        for server in running:
            print(f"{server.name:13s} {server.url}   (log: {server.log})")
        if not any(s.name == "grafana" for s in running):
            print(
                "grafana       not installed: import grafana/dashboards/trainsmart.json "
                "into yours (grafana/README.md)"
            )
        print("Ctrl-C stops them and removes their data.")
        try:
            while all(s.process is not None and s.process.poll() is None for s in running):
                time.sleep(0.5)
            dead = [
                s.name for s in running if s.process is not None and s.process.poll() is not None
            ]
            print(f"{', '.join(dead)} exited; stopping the others", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nstopping")
            return 0
        finally:
            stop(running)


if __name__ == "__main__":
    sys.exit(main())
