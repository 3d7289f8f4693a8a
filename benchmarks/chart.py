"""bench-data/chart.png: throughput of every peer in every transfer scenario, one bar each.

matplotlib is a benchmark-only dependency (``pip install -e '.[bench]'``; ``python -m
benchmarks`` installs it when missing); nothing in the library imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: write a file
import matplotlib.pyplot as plt

from .measure import Case


def draw(cases: list[Case], path: Path, info: dict[str, Any]) -> Path:
    """One panel per scenario and profile, a bar of MiB/s (median) per peer."""
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        if case.payload_bytes and case.throughput():
            groups.setdefault((case.scenario, case.profile), []).append(case)
    if not groups:
        return path
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.2 + 1.6 * len(groups)), squeeze=False)
    for axis, ((scenario, profile), members) in zip(axes[:, 0], groups.items(), strict=True):
        names = [c.peer for c in members]
        values = [c.throughput() or 0.0 for c in members]
        colors = ["tab:blue" if n.startswith("gaama_async") or n == "gaama CLI" else "tab:gray"
                  for n in names]  # fmt: skip
        bars = axis.barh(names, values, color=colors)
        axis.bar_label(bars, labels=[f"{v:.0f}" for v in values], padding=3, fontsize=8)
        axis.invert_yaxis()
        axis.set_title(f"{scenario}, {profile} (MiB/s, median)", fontsize=10, loc="left")
        axis.tick_params(labelsize=8)
        axis.set_xlim(0, max(values) * 1.15)
    machine = info["machine"]
    fig.suptitle(
        f"python -m benchmarks — {machine['cores']} cores, {machine['cpu'][:40]}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
