# over 300 lines: one Registry owns the bundles and the pointers that name them, under one lock
"""The registry: immutable versions in the BentoML model store, production pointers in the
state database (SQLite, or PostgreSQL shared by several machines).

Promotion and rollback are single transactions, under the lock ``registry:<model>``,
over the ``production`` stack and the ``audit`` table: a crash mid-way leaves the old
pointer and no audit row, and a reader never sees a half-written pointer. The candidate pointer
(one version per model served beside production, optionally in shadow mode) lives
in the ``candidate`` table and is audited the same way, so every worker and replica
follows it as it follows production.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainsmart.errors import ModelNotFound, RegistryError
from trainsmart.names import check_name
from trainsmart.registry.bundle import REQUIRED_FILES, Bundle, Lineage, write_checksums
from trainsmart.state.audit import default_actor as default_actor  # re-exported: its old home
from trainsmart.state.audit import write_audit
from trainsmart.state.db import Database

_VERSION = re.compile(r"^v(\d+)$")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # lazy: fcntl is POSIX-only
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    ts: float
    model: str
    action: str
    from_version: str | None
    to_version: str | None
    actor: str
    reason: str


@dataclass(frozen=True)
class Candidate:
    """The version served beside production: pinned requests reach it, and with ``shadow``
    every production request is mirrored to it (serving/shadow.py)."""

    model: str
    version: str
    shadow: bool
    set_at: float


class Registry:
    """Versions of each model and which one is in production.

    Example::

        registry = Registry(settings.paths.model_store, open_database(settings))
        bundle = registry.register("fair", staging_dir, lineage)
        registry.promote("fair", bundle.version, reason="first model")
        registry.production("fair")   # "v1"
    """

    def __init__(self, store_path: Path, db: Database) -> None:
        # lazy: bentoml's import takes a second; CLI commands that never touch the store skip it
        from bentoml._internal.models.model import ModelStore

        self.store_path = Path(store_path)
        self.store_path.mkdir(parents=True, exist_ok=True)
        self._store = ModelStore(self.store_path)
        self.db = db

    # -- versions ---------------------------------------------------------------------------
    def versions(self, name: str) -> list[str]:
        """Registered versions of ``name``, oldest first (v1, v2, ...)."""
        folder = self.store_path / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def names(self) -> list[str]:
        return sorted(
            p.name for p in self.store_path.iterdir() if p.is_dir() and self.versions(p.name)
        )

    def get(self, name: str, version: str) -> Bundle:
        check_name(name, "model")
        check_name(version, "version")
        path = self.store_path / name / version
        if not path.is_dir():
            raise ModelNotFound(name, version)
        return Bundle(name, version, path)

    def register(self, name: str, staging: Path, lineage: Lineage) -> Bundle:
        """Copy the files prepared in ``staging`` into a new immutable version."""
        # lazy: bentoml, as in __init__
        import bentoml

        check_name(name, "model")
        missing = [f for f in REQUIRED_FILES if f != "lineage.json" and not (staging / f).is_file()]
        if missing:
            raise RegistryError(f"cannot register {name}: staging folder lacks {missing}")
        (staging / "lineage.json").write_text(lineage.model_dump_json(indent=2))
        write_checksums(staging)
        metadata = {
            "serving_variant": lineage.serving_variant,
            "framework": lineage.framework,
            "trigger": lineage.trigger,
            "parent_version": lineage.parent_version or "",
        }
        with self._registering(name):
            existing = self.versions(name)
            version = f"v{int(existing[-1][1:]) + 1 if existing else 1}"
            with bentoml.models.create(
                f"{name}:{version}",
                labels={"owner": "trainsmart"},
                metadata=metadata,
                _model_store=self._store,
            ) as model:
                shutil.copytree(staging, model.path, dirs_exist_ok=True)
        bundle = self.get(name, version)
        bundle.verify()
        return bundle

    def import_version(self, name: str, version: str, source: Path) -> Bundle:
        """Copy a bundle folder made by another registry (a Bento's model, an export) in as
        ``name:version``, keeping its version; its checksums are verified first. A version
        that is already here is left as it is (and verified)."""
        # lazy: bentoml, as in __init__
        import bentoml

        check_name(name, "model")
        check_name(version, "version")
        if version in self.versions(name):
            bundle = self.get(name, version)
            bundle.verify()
            return bundle
        Bundle(name, version, Path(source)).verify()
        with self._registering(name):
            if version not in self.versions(name):  # another replica may have imported it
                with bentoml.models.create(
                    f"{name}:{version}", labels={"owner": "trainsmart"}, _model_store=self._store
                ) as model:
                    shutil.copytree(source, model.path, dirs_exist_ok=True)
        bundle = self.get(name, version)
        bundle.verify()
        return bundle

    def _registering(self, name: str) -> AbstractContextManager[object]:
        """Held while a version of ``name`` is numbered and written: on a model store
        shared by several machines (PostgreSQL state), two registrations take turns under
        a database lock; on SQLite (one machine) a lock file in the store does it, so the
        input log's writers never wait for a copy."""
        if self.db.dialect == "postgresql":
            return self.db.transaction(lock=f"register:{name}")
        return _file_lock(self.store_path / f".register-{name}.lock")

    # -- production pointer -----------------------------------------------------------------
    def production(self, name: str) -> str | None:
        return self._production(self.db.connection(), name)

    def history(self, name: str) -> list[str]:
        """The production stack, oldest first; rollback pops its top."""
        rows = self.db.connection().execute(
            "SELECT version FROM production WHERE model = ? ORDER BY position", (name,)
        )
        return [str(r[0]) for r in rows]

    def promote(
        self,
        name: str,
        version: str,
        *,
        actor: str | None = None,
        reason: str,
        only_if_current: str | None = None,
    ) -> None:
        """Make ``version`` the production version of ``name`` (atomic, audited).

        With ``only_if_current``, promote only while that version is still in production
        (a retrain must not override a rollback made while it trained).
        """
        bundle = self.get(name, version)
        bundle.verify()
        with self.db.transaction(lock=f"registry:{name}") as conn:
            top = conn.execute(
                "SELECT position, version FROM production WHERE model = ?"
                " ORDER BY position DESC LIMIT 1",
                (name,),
            ).fetchone()
            current = None if top is None else str(top["version"])
            if only_if_current is not None and current != only_if_current:
                raise RegistryError(
                    f"{name}: production moved from {only_if_current} to {current} meanwhile; "
                    f"{version} was not promoted (promote it by hand if it should serve)"
                )
            if current == version:
                raise RegistryError(f"{name}:{version} is already in production; nothing to do")
            position = 0 if top is None else int(top["position"]) + 1
            conn.execute(
                "INSERT INTO production (model, position, version) VALUES (?, ?, ?)",
                (name, position, version),
            )
            write_audit(conn, name, "promote", current, version, actor, reason)
            # promoting the candidate ends its candidacy: it is production now
            if conn.execute(
                "DELETE FROM candidate WHERE model = ? AND version = ?", (name, version)
            ).rowcount:
                write_audit(conn, name, "candidate-clear", version, None, actor, "promoted")

    def rollback(
        self,
        name: str,
        *,
        actor: str | None = None,
        reason: str,
        only_if_current: str | None = None,
    ) -> str:
        """Put back the version that was in production before the current one.

        With ``only_if_current``, roll back only while that version is still in production
        (the monitor's automatic rollback must not undo a promotion made meanwhile).
        """
        check_name(name, "model")
        with self.db.transaction(lock=f"registry:{name}") as conn:
            rows = conn.execute(
                "SELECT position, version FROM production WHERE model = ?"
                " ORDER BY position DESC LIMIT 2",
                (name,),
            ).fetchall()
            if len(rows) < 2:
                raise RegistryError(
                    f"{name} has no earlier production version to roll back to"
                    + ("" if rows else " (nothing is in production)")
                )
            current, previous = str(rows[0]["version"]), str(rows[1]["version"])
            if only_if_current is not None and current != only_if_current:
                raise RegistryError(
                    f"{name}: production moved from {only_if_current} to {current} meanwhile; "
                    "nothing was rolled back"
                )
            conn.execute(
                "DELETE FROM production WHERE model = ? AND position = ?",
                (name, rows[0]["position"]),
            )
            write_audit(conn, name, "rollback", current, previous, actor, reason)
        return previous

    # -- candidate pointer ------------------------------------------------------------------
    def candidate(self, name: str) -> Candidate | None:
        row = (
            self.db.connection()
            .execute("SELECT * FROM candidate WHERE model = ?", (name,))
            .fetchone()
        )
        if row is None:
            return None
        return Candidate(row["model"], row["version"], bool(row["shadow"]), row["set_at"])

    def set_candidate(
        self, name: str, version: str, *, shadow: bool, actor: str | None = None, reason: str
    ) -> Candidate:
        """Make ``version`` the candidate of ``name`` (replacing any other; audited)."""
        self.get(name, version).verify()
        with self.db.transaction(lock=f"registry:{name}") as conn:
            if self._production(conn, name) == version:
                raise RegistryError(
                    f"{name}:{version} is the production version; a candidate must be another "
                    "version ('trainsmart models list' shows them)"
                )
            before = self._candidate_version(conn, name)
            chosen = Candidate(name, version, shadow, time.time())
            conn.execute(
                "INSERT INTO candidate (model, version, shadow, set_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (model) DO UPDATE SET version = excluded.version,"
                " shadow = excluded.shadow, set_at = excluded.set_at",
                (name, version, int(shadow), chosen.set_at),
            )
            why = f"{reason} (shadow {'on' if shadow else 'off'})"
            write_audit(conn, name, "candidate", before, version, actor, why)
        return chosen

    def set_shadow(
        self, name: str, enabled: bool, *, actor: str | None = None, reason: str
    ) -> Candidate:
        """Turn shadow mode of the current candidate on or off (audited)."""
        with self.db.transaction(lock=f"registry:{name}") as conn:
            version = self._candidate_version(conn, name)
            if version is None:
                raise RegistryError(
                    f"{name} has no candidate to shadow; set one first "
                    f"('trainsmart models candidate {name} VERSION --shadow')"
                )
            conn.execute("UPDATE candidate SET shadow = ? WHERE model = ?", (int(enabled), name))
            action = "shadow-on" if enabled else "shadow-off"
            write_audit(conn, name, action, version, version, actor, reason)
            row = conn.execute("SELECT set_at FROM candidate WHERE model = ?", (name,)).fetchone()
        return Candidate(name, version, enabled, float(row[0]))

    def clear_candidate(self, name: str, *, actor: str | None = None, reason: str) -> str | None:
        """Remove the candidate of ``name``; returns the version removed (None: there was none,
        and nothing is audited)."""
        check_name(name, "model")
        with self.db.transaction(lock=f"registry:{name}") as conn:
            version = self._candidate_version(conn, name)
            if version is not None:
                conn.execute("DELETE FROM candidate WHERE model = ?", (name,))
                write_audit(conn, name, "candidate-clear", version, None, actor, reason)
        return version

    @staticmethod
    def _production(conn: Any, name: str) -> str | None:
        row = conn.execute(
            "SELECT version FROM production WHERE model = ? ORDER BY position DESC LIMIT 1",
            (name,),
        ).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _candidate_version(conn: Any, name: str) -> str | None:
        row = conn.execute("SELECT version FROM candidate WHERE model = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def audit(
        self, name: str | None = None, limit: int = 100, *, action: str | None = None
    ) -> list[AuditEntry]:
        """Audit rows, newest first (of one model and one action when given)."""
        sql, args = "SELECT * FROM audit WHERE 1=1", list[Any]()
        if name:
            sql, args = sql + " AND model = ?", [*args, name]
        if action:
            sql, args = sql + " AND action = ?", [*args, action]
        rows = self.db.connection().execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [AuditEntry(**dict(r)) for r in rows]

    def promotion(self, name: str, version: str) -> AuditEntry | None:
        """The latest promotion that made ``version`` production (None: none recorded)."""
        row = (
            self.db.connection()
            .execute(
                "SELECT * FROM audit WHERE model = ? AND action = 'promote' AND to_version = ?"
                " ORDER BY id DESC LIMIT 1",
                (name, version),
            )
            .fetchone()
        )
        return None if row is None else AuditEntry(**dict(row))
