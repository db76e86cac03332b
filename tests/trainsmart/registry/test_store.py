"""Promotion, rollback and the audit log, on a real SQLite file and BentoML store."""

from __future__ import annotations

import pytest

from tests.conftest import BundleFactory
from trainsmart.errors import ModelNotFound, RegistryError
from trainsmart.registry import Registry


def test_versions_are_sequential_and_immutable_bundles_verify(
    make_bundle: BundleFactory, registry: Registry
) -> None:
    assert [make_bundle(promote=False) for _ in range(3)] == ["v1", "v2", "v3"]
    assert registry.versions("fair") == ["v1", "v2", "v3"]
    bundle = registry.get("fair", "v2")
    bundle.verify()
    assert bundle.contract().feature_names[0] == "rate_marriage"
    (bundle.path / "contract.json").write_text("{}")
    with pytest.raises(RegistryError, match="does not match its checksum"):
        bundle.verify()


def test_promote_and_rollback_move_pointer_and_write_audit(
    make_bundle: BundleFactory, registry: Registry
) -> None:
    v1, v2 = make_bundle(promote=False), make_bundle(promote=False)
    assert registry.production("fair") is None
    registry.promote("fair", v1, actor="alice", reason="first")
    registry.promote("fair", v2, actor="bob", reason="better")
    assert registry.production("fair") == v2
    assert registry.rollback("fair", actor="carol", reason="regression") == v1
    assert registry.production("fair") == v1
    entries = [
        (e.action, e.from_version, e.to_version, e.actor, e.reason)
        for e in reversed(registry.audit("fair"))
    ]
    assert entries == [
        ("promote", None, v1, "alice", "first"),
        ("promote", v1, v2, "bob", "better"),
        ("rollback", v2, v1, "carol", "regression"),
    ]
    with pytest.raises(RegistryError, match="no earlier production version"):
        registry.rollback("fair", reason="again")


def test_promote_refuses_unknown_or_current_version(
    make_bundle: BundleFactory, registry: Registry
) -> None:
    v1 = make_bundle()
    with pytest.raises(ModelNotFound):
        registry.promote("fair", "v9", reason="x")
    with pytest.raises(RegistryError, match="already in production"):
        registry.promote("fair", v1, reason="x")
    with pytest.raises(Exception, match="lowercase letters"):
        registry.get("fair", "../../etc")


def test_crash_mid_promotion_leaves_the_old_pointer(
    make_bundle: BundleFactory, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = make_bundle()
    v2 = make_bundle(promote=False)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk gone while writing the audit row")

    import trainsmart.registry.store as store

    monkeypatch.setattr(store, "write_audit", crash)
    with pytest.raises(OSError):
        registry.promote("fair", v2, reason="will crash")
    assert registry.production("fair") == v1
    assert registry.history("fair") == [v1]


def test_promote_only_if_current_refuses_when_production_moved(
    make_bundle: BundleFactory, registry: Registry
) -> None:
    v1 = make_bundle()
    v2 = make_bundle()  # production moved on while a retrain (expecting v1) trained
    v3 = make_bundle(promote=False)
    with pytest.raises(RegistryError, match=f"moved from {v1} to {v2}"):
        registry.promote("fair", v3, reason="challenger", only_if_current=v1)
    assert registry.production("fair") == v2
    registry.promote("fair", v3, reason="challenger", only_if_current=v2)
    assert registry.production("fair") == v3
