"""Using what a sweep found: the best params as text (`format_best`), written into the user's own config
(`write_into`), or run once more at full budget (`retrain`)."""

from __future__ import annotations

from sweepkit.export._formats import FORMATS, format_best, hydra_overrides, hydra_value
from sweepkit.export._into import Change, IntoReport, write_into
from sweepkit.export._retrain import RETRAIN_ATTR, SUFFIX, constants, retrain

__all__ = [
    "FORMATS",
    "RETRAIN_ATTR",
    "SUFFIX",
    "Change",
    "IntoReport",
    "constants",
    "format_best",
    "hydra_overrides",
    "hydra_value",
    "retrain",
    "write_into",
]
