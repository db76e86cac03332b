"""The drift benchmark's harness on a small scale: real streams, real verdicts."""

from __future__ import annotations

from bench.drift import contention_conclusion, scenarios, stream_rates
from bench.drift_validity import (
    choose_drift_share,
    held_out_conclusion,
    tuning_conclusion,
    worst,
)
from bench.load import LoadResult


def test_a_real_shift_is_caught_and_same_population_windows_rarely_alarm() -> None:
    tuning, held_out = scenarios()
    assert {s.name.split(":")[0] for s in tuning} == {"fair"}
    assert {s.name.split(":")[0] for s in held_out} == {"hie"}
    far, caught, delay = stream_rates(tuning[0], drift_share=0.5, seeds=2)
    assert far <= 0.1 and caught == 1.0 and delay <= 1.0


# -- the conclusions under the tables are computed from their figures --------------------------
def test_the_tuning_conclusion_names_the_shipped_defaults_own_false_alarms() -> None:
    scores = {0.3: (0.02, 1.0, 0.1), 0.5: (0.0, 0.9, 0.6)}
    chosen = choose_drift_share(scores)
    assert chosen == 0.3
    text = tuning_conclusion(scores, chosen, shipped=0.5)
    assert "**0.3**" in text and "2.0% false alarms, 100% of streams" in text
    assert "The shipped default, 0.5: no false alarm, 90% of streams" in text
    alarmed = {0.3: (0.02, 1.0, 0.1), 0.5: (0.03, 0.9, 0.6)}
    text = tuning_conclusion(alarmed, choose_drift_share(alarmed), shipped=0.5)
    assert "The shipped default, 0.5: 3.0% false alarms" in text
    assert "no false alarm" not in text


def test_without_a_value_under_the_false_alarm_target_the_choice_says_so() -> None:
    scores = {0.3: (0.2, 1.0, 0.0), 0.5: (0.08, 1.0, 0.2)}
    assert choose_drift_share(scores) == 0.5
    text = tuning_conclusion(scores, 0.5, shipped=0.5)
    assert "no value kept false alarms at or under 5%" in text
    assert "It is also the shipped default" in text


def test_held_out_scenarios_are_concluded_for_the_tuned_and_the_shipped_value() -> None:
    held = {0.3: worst([(0.0, 1.0, 0.0), (0.04, 1.0, 1.0)]), 0.5: (0.0, 0.6, 2.5)}
    assert held[0.3] == (0.04, 1.0, 0.5)
    text = held_out_conclusion(held, chosen=0.3, shipped=0.5)
    assert (
        "0.3 (tuned): 4.0% false alarms, 100% of streams flagged within 2 windows, mean delay "
        "0.50 (worst scenario); both targets met" in text
    )
    assert "0.5 (shipped default): no false alarm, 60% of streams" in text
    assert "missed: not every stream flagged within 2 windows" in text
    same = held_out_conclusion({0.5: (0.1, 1.0, 0.0)}, chosen=0.5, shipped=0.5)
    assert "0.5 (tuned and shipped default)" in same and "missed: false alarms over 5%" in same


def test_the_contention_conclusion_follows_the_figures() -> None:
    def load(rps: float, p99: float) -> LoadResult:
        return LoadResult(requests=int(rps * 10), failures=0, seconds=10.0, p50_ms=1.0, p99_ms=p99)

    alone = load(500, 10.0)
    kept = contention_conclusion(alone, load(450, 12.0), load(300, 30.0), niceness=10)
    assert "nice 10, `/predict` ran at 450 req/s, p99 12.0 ms" in kept
    assert "at nice 0, 300 req/s, p99 30.0 ms (alone: 500 req/s, p99 10.0 ms)" in kept
    assert "kept part of the contention off the service" in kept
    lost = contention_conclusion(alone, load(280, 35.0), load(300, 30.0), niceness=10)
    assert "did not keep contention off the service" in lost and "kept part" not in lost
    mixed = contention_conclusion(alone, load(310, 35.0), load(300, 30.0), niceness=10)
    assert "Mixed in this run: a better throughput at the lower priority, a worse p99" in mixed
