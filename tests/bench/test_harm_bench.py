"""The harm bench: its rules on crafted streams, conclusions that follow the figures, and
the whole section on a tiny run of real data."""

from __future__ import annotations

import pytest

from bench.harm import Run, choose, section, shipped_rules, verdict
from bench.harm_cost import cost_text
from bench.harm_data import Scenario, Window, noise
from bench.harm_rules import Rule, kind, meets, outcome


def window(
    shifted: bool, estimated: float, drift: bool = False, weighted: float | None = 0.0
) -> Window:
    return Window(shifted, estimated, estimated, 0.01, drift, weighted)


def stream(calm: list[float], shifted: list[float], weighted: float | None = 0.9) -> list[Window]:
    return [window(False, e, weighted=0.0 if weighted is not None else None) for e in calm] + [
        window(True, e, drift=True, weighted=weighted) for e in shifted
    ]


def test_rules_trigger_after_k_flagged_windows_and_the_weighted_gate_holds() -> None:
    windows = stream([0.9] * 4, [0.8, 0.8, 0.8])
    rule = Rule("r", windows=2, drop=0.05)
    assert rule.triggers(windows, 0.9) == [False] * 5 + [True, True]
    gated = Rule("g", windows=1, drop=0.05, weighted=0.95)
    assert not any(gated.triggers(windows, 0.9))
    no_importance = stream([0.9] * 4, [0.8] * 3, weighted=None)
    assert gated.triggers(no_importance, 0.9)[-1]  # versions without importance: no gate
    evidently = Rule("e", windows=1)
    assert evidently.triggers(windows, 0.9) == [False] * 4 + [True] * 3


def test_outcomes_and_goals_follow_the_streams() -> None:
    harmful = [stream([0.9] * 4, [0.8] * 3), stream([0.9, 0.8, 0.9, 0.9], [0.9, 0.8, 0.8])]
    rule = Rule("r", windows=1, drop=0.05)
    result = outcome(rule, harmful, 0.9)
    assert result.false_alarms == pytest.approx(1 / 8)
    assert (result.caught, result.silent) == (1.0, 0.0)
    assert meets(result, "harmful") == ["false alarms 12.5% > 5%"]
    assert meets(outcome(Rule("k3", 3, 0.05), harmful, 0.9), "harmful") == [
        "harmful caught within 2 windows in 0% of streams"
    ]
    assert kind(0.02) == "harmful" and kind(0.0099) == "benign" and kind(0.015) == "between"


def test_the_tuning_choice_and_the_held_out_verdict_come_from_the_figures() -> None:
    harm = Scenario("harm", "x", noise(0.1))
    calm = Scenario("calm", "x", noise(0.0))
    runs = [
        Run(harm, 0.05, 0.9, [stream([0.9] * 4, [0.87] * 3)]),
        Run(calm, 0.0, 0.9, [stream([0.9] * 4, [0.895] * 3)]),
    ]
    chosen, candidates, within = choose(runs)
    assert candidates == within  # no false alarm anywhere
    # 0.01 and 0.02 both catch the 3-point drop and spare the benign shift: the larger wins
    assert (chosen.drop, chosen.windows) == (0.02, 1)
    assert verdict(chosen, runs) == "every goal met"
    strict = Rule("strict", 1, 0.05)
    assert verdict(strict, runs).startswith("goals missed: harm: harmful caught")
    evidently, shipped = shipped_rules()
    assert evidently.drop is None and shipped.drop is not None


def test_the_cost_conclusion_compares_the_extra_time_with_the_goal() -> None:
    text = cost_text({"base": 1.0, "accuracy": 1.05, "both": 1.5})
    assert "+50.0% (goal missed: at most 20%)" in text and "+5.0% (goal met)" in text


def test_a_tiny_run_on_real_data_writes_every_part(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.harm as harm
    import bench.harm_data as data

    tuning, held = data.scenarios()
    assert {s.dataset for s in tuning} == {s.dataset for s in held} == {"fair", "hie", "digits"}
    # fair and digits only (the HIE model takes longest to fit)
    small = (tuning[:1] + tuning[3:], [s for s in held if s.dataset != "hie"][:2])
    monkeypatch.setattr(harm, "scenarios", lambda: small)
    monkeypatch.setattr(harm, "cost", lambda repeats: {"base": 1.0, "accuracy": 1.0, "both": 1.1})
    lines = section(seeds=1, window=100)
    text = "\n".join(lines)
    assert lines[0].startswith("## 7. Harm")
    for scenario in (*small[0], *small[1]):
        assert f"| {scenario.name} |" in text
    assert "Chosen on the tuning scenarios" in text and "Held out, measured after" in text
    assert "estimate, shipped" in text and "Evidently dataset drift" in text
    assert "(goal met)" in text or "(goal missed)" in text
    fair = next(line for line in lines if "| fair: married 16.5+ years |" in line)
    assert "| harmful |" in fair  # the married-longer subpopulation costs the model accuracy
