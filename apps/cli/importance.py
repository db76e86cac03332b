"""The feature importance part of ``trainsmart models show``: the top features of a version's
permutation importance (metrics.json ``"importance"``, training/importance.py), mean ± std."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

TOP = 10
"""Features shown; the report (report/report.md) lists every one."""


def importance_table(section: Mapping[str, Any] | None, top: int = TOP) -> Table | str:
    """A table of the ``top`` most important features, or a line saying why there is none."""
    if not section:
        return "feature importance: none (a version registered before it was computed)"
    features = section.get("features") or {}
    if not features:
        return f"feature importance: {section.get('note') or 'no features were scored'}"
    ranked = sorted(features.items(), key=lambda item: (-float(item[1]["mean"]), str(item[0])))
    more = f", top {top} of {len(ranked)}" if len(ranked) > top else ""
    table = Table(
        title=f"feature importance (drop of {section.get('metric')} when shuffled, "
        f"{section.get('repeats')} repeats on {section.get('rows')} test rows{more})"
    )
    table.add_column("feature")
    table.add_column("mean ± std", justify="right")
    for name, values in ranked[:top]:
        table.add_row(str(name), f"{float(values['mean']):.4f} ± {float(values['std']):.4f}")
    return table
