"""One look for every figure: each trial state has its colour, marker and legend name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StateStyle:
    colour: str
    marker: str  # matplotlib marker
    name: str


# Colour-blind-safe pairs (blue/orange) for the two states seen most; failed ones also differ by shape.
STATES = {
    "COMPLETE": StateStyle("#1f77b4", "o", "complete"),
    "PRUNED": StateStyle("#ff7f0e", "v", "pruned"),
    "FAILED": StateStyle("#d62728", "x", "failed"),
    "INTERRUPTED": StateStyle("#bcbd22", "x", "interrupted"),
    "INFEASIBLE": StateStyle("#9467bd", "s", "infeasible"),
    "RUNNING": StateStyle("#7f7f7f", "o", "running"),
    "WAITING": StateStyle("#c7c7c7", "o", "waiting"),
}
# Learning curves: stopped trials first, complete ones over them (they are the ones that reach the end).
CURVE_ORDER = ("PRUNED", "FAILED", "INTERRUPTED", "INFEASIBLE", "WAITING", "RUNNING", "COMPLETE")
BEST = "#d62728"  # the best trial's star and the best-so-far line
BEST_SO_FAR = "#2ca02c"


def colormap(maximize: bool) -> str:
    """Brighter is better in every figure: viridis ends in yellow at the best values."""
    return "viridis" if maximize else "viridis_r"
