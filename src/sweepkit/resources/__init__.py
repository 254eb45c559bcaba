"""Where trials run and what they use: GPU slots (`gpus`) and per-trial resource monitoring (`monitor`).

Nothing heavy at import: NVML (nvidia-ml-py) and psutil load only when a sweep asks for GPUs or starts
monitoring a trial, and both are optional (`pip install 'sweepkit[monitor]'`).
"""

from __future__ import annotations

from sweepkit.resources.gpus import (
    Gpu,
    Probe,
    Slot,
    SlotPlan,
    discover,
    parse_gpu_ids,
    parse_gpus_per_trial,
    plan_slots,
    probe,
    resolve_slots,
)
from sweepkit.resources.monitor import TrialMonitor, format_resources, monitor_unavailable

__all__ = [
    "Gpu",
    "Probe",
    "Slot",
    "SlotPlan",
    "TrialMonitor",
    "discover",
    "format_resources",
    "monitor_unavailable",
    "parse_gpu_ids",
    "parse_gpus_per_trial",
    "plan_slots",
    "probe",
    "resolve_slots",
]
