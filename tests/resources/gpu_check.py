"""Standalone check of GPU slots and monitoring on a real GPU machine, printing the figures as JSON lines.

Needs only pynvml (+ psutil, torch where present) and the source tree: `PYTHONPATH=src python3
tests/resources/gpu_check.py`. Also measures what monitoring costs the sweep process (any machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from sweepkit.resources import TrialMonitor, discover, format_resources, resolve_slots

BUSY = (
    "import torch, time\n"
    "x = torch.randn(8192, 8192, device='cuda')\n"
    "pad = torch.ones(2**29, device='cuda')\n"
    "t = time.time()\n"
    "while time.time() - t < 4:\n"
    "    y = x @ x\n"
    "    torch.cuda.synchronize()\n"
)


def show(what: str, value: object) -> None:
    print(json.dumps({what: value}, default=str), flush=True)


def monitor_cost(interval: float, seconds: float) -> dict[str, float]:
    """CPU the sweep process spends sampling one idle trial: its CPU time over wall time while it only waits."""
    import psutil  # noqa: F401 - imported before measuring: its import is paid once per sweep, not per sample

    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds + 2})"])
    time.sleep(0.5)
    before_cpu, before = time.process_time(), time.monotonic()
    monitor = TrialMonitor(proc.pid, interval=interval).start()
    time.sleep(seconds)
    result = monitor.stop()
    used, wall = time.process_time() - before_cpu, time.monotonic() - before
    proc.kill()
    proc.wait()
    return {
        "interval_s": interval,
        "samples": result["samples"],
        "ms_per_sample": round(1000 * used / result["samples"], 2),
        "share_of_a_core_percent": round(100 * used / wall, 3),
    }


def main() -> None:
    devices = discover()
    show("discover", [vars(gpu) for gpu in devices])
    show("processes_on_machine", len(os.listdir("/proc")))
    show("monitor_cost", monitor_cost(1.0, 10))
    show("monitor_cost", monitor_cost(0.1, 5))
    if not devices:
        return
    for fraction in (1, 0.5, 0.25):
        plan = resolve_slots(None, fraction, None, environ={})
        show(f"slots_gpus_per_trial_{fraction}", [(s.index, s.describe(), s.env()) for s in plan])
    show("slots_cvd_uuid", [s.env() for s in resolve_slots(None, 1, None, {"CUDA_VISIBLE_DEVICES": devices[0].uuid})])
    try:
        import torch  # noqa: F401
    except ImportError:
        show("gpu_monitor", "skipped: no torch")
        return
    slot = resolve_slots(1, 1, None, environ={})[0]
    proc = subprocess.Popen([sys.executable, "-c", BUSY], env={**os.environ, **slot.env()})
    monitor = TrialMonitor(proc.pid, gpus=slot.gpus, interval=0.5).start()
    proc.wait()
    resources = monitor.stop()
    show("gpu_monitor", resources)
    show("format_resources", format_resources(resources))


if __name__ == "__main__":
    main()
