"""The drift benchmark's harness on a small scale: real streams, real verdicts."""

from __future__ import annotations

from bench.drift import scenarios, stream_rates


def test_a_real_shift_is_caught_and_same_population_windows_rarely_alarm() -> None:
    tuning, held_out = scenarios()
    assert {s.name.split(":")[0] for s in tuning} == {"fair"}
    assert {s.name.split(":")[0] for s in held_out} == {"hie"}
    far, caught, delay = stream_rates(tuning[0], drift_share=0.5, seeds=2)
    assert far <= 0.1 and caught == 1.0 and delay <= 1.0
