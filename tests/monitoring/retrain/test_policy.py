from __future__ import annotations

import pytest

from monitoring.retrain.policy import RetrainPolicy


def test_triggers_after_k_consecutive_drifted_windows() -> None:
    policy = RetrainPolicy(consecutive_windows=3, cooldown_s=0)
    assert [policy.observe("v1", True, t) for t in range(3)] == [False, False, True]


def test_a_clean_window_resets_the_streak() -> None:
    policy = RetrainPolicy(consecutive_windows=2, cooldown_s=0)
    assert not policy.observe("v1", True, 0)
    assert not policy.observe("v1", False, 1)
    assert not policy.observe("v1", True, 2)
    assert policy.observe("v1", True, 3)


def test_a_new_version_resets_the_streak() -> None:
    policy = RetrainPolicy(consecutive_windows=2, cooldown_s=0)
    assert not policy.observe("v1", True, 0)
    assert not policy.observe("v2", True, 1)
    assert policy.observe("v2", True, 2)


def test_cooldown_blocks_a_job_too_soon_after_the_last() -> None:
    policy = RetrainPolicy(consecutive_windows=1, cooldown_s=600)
    ok, reason = policy.allowed(now=1000.0, last_job_created_at=700.0, job_in_flight=False)
    assert not ok and "cooldown" in reason
    ok, _ = policy.allowed(now=1400.0, last_job_created_at=700.0, job_in_flight=False)
    assert ok
    assert policy.allowed(now=1.0, last_job_created_at=None, job_in_flight=False)[0]


def test_single_flight() -> None:
    policy = RetrainPolicy(consecutive_windows=1, cooldown_s=0)
    ok, reason = policy.allowed(now=1.0, last_job_created_at=None, job_in_flight=True)
    assert not ok and "already queued or running" in reason


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="consecutive_windows"):
        RetrainPolicy(consecutive_windows=0, cooldown_s=0)


def test_too_few_labelled_rows_wait_for_labels() -> None:
    policy = RetrainPolicy(consecutive_windows=1, cooldown_s=0, min_labelled_rows=60)
    ok, reason = policy.allowed(1.0, None, job_in_flight=False, labelled_rows=12)
    assert not ok
    assert reason.startswith("waiting for labels: 12 labelled rows") and "needs 60" in reason
    assert policy.allowed(1.0, None, job_in_flight=False, labelled_rows=60)[0]
    assert policy.allowed(1.0, None, job_in_flight=False)[0]  # not counted: not checked


def test_single_flight_and_cooldown_are_reported_before_labels() -> None:
    policy = RetrainPolicy(consecutive_windows=1, cooldown_s=600, min_labelled_rows=60)
    assert "already queued" in policy.allowed(1.0, None, True, labelled_rows=0)[1]
    assert "cooldown" in policy.allowed(100.0, 50.0, False, labelled_rows=0)[1]
