"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries, a throwaway cluster.

``initdb`` makes a cluster in a temporary directory and ``postgres`` serves it on a free
loopback port (fsync off: a test cluster need not survive a power cut). PostgreSQL
refuses to run as root, so as root the cluster belongs to the ``postgres`` user the
Debian package creates. Each test gets its own database (``create_database``).

Example::

    with PostgresServer(find_postgres_bin()) as server:
        url = server.create_database()   # postgresql://trainsmart@127.0.0.1:<port>/t_1
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.services import Server, free_port, require_binary, require_module, wait_until

USER = "trainsmart"


def find_postgres_bin() -> Path:
    """The folder of ``initdb`` and ``postgres`` (Debian keeps them off PATH); skip the test
    without them or without psycopg, or fail under ``make test-all`` (see tests/services.py)."""
    require_module("psycopg", "pip install -e '.[postgres]'")
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    on_path = shutil.which("initdb")
    if found:
        return Path(found[-1]).parent
    if on_path:
        return Path(on_path).parent
    require_binary("initdb", apt_package="postgresql")
    raise AssertionError("unreachable: require_binary skips or fails")


class PostgresServer(Server):
    """A throwaway PostgreSQL cluster on a free loopback port."""

    def __init__(self, bindir: Path, port: int | None = None) -> None:
        self.bindir = bindir
        self.port = port if port is not None else free_port()
        self.root = Path(tempfile.mkdtemp(prefix="trainsmart-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root: run it as the package's user
            self._as_user = ["runuser", "-u", "postgres", "--"]
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout_s: float = 60.0) -> None:
        if not self.data.exists():
            initdb = [*self._as_user, str(self.bindir / "initdb"), "-D", str(self.data)]
            initdb += ["-U", USER, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
            subprocess.run(initdb, check=True, capture_output=True)
        command = [*self._as_user, str(self.bindir / "postgres"), "-D", str(self.data)]
        command += ["-p", str(self.port), "-c", "listen_addresses=127.0.0.1"]
        command += ["-c", f"unix_socket_directories={self.root}", "-c", "fsync=off"]
        command += ["-c", "full_page_writes=off"]
        command += ["-c", "max_connections=200"]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        process = self._process
        try:
            wait_until(lambda: process.poll() is None and self._answers(), timeout_s, "postgres")
        except TimeoutError as exc:
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc} (exit code {process.returncode}); log:\n{tail}") from None

    def _answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url(), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends (their own process group), as a crash."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)
            # the dead postmaster can linger as a zombie where nothing reaps orphans (a
            # container's init), and postgres would take its pid file for a live server
            (self.data / "postmaster.pid").unlink(missing_ok=True)
            for lock in self.root.glob(".s.PGSQL.*.lock"):
                lock.unlink(missing_ok=True)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster); SIGKILL if it has not ended in 20 s."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def close(self) -> None:
        """Stop, and remove the cluster's directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
