"""GPU slots and GPU monitoring on a real NVIDIA GPU; skipped where NVML finds none (CI, most laptops).

Needs only pynvml, psutil and the source tree (no Optuna): on a bare GPU machine,
`PYTHONPATH=src python -m pytest -q --noconftest tests/resources` runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sweepkit.errors import SpecError
from sweepkit.resources import TrialMonitor, discover, resolve_slots

DEVICES = discover()
# Programs on real GPUs (and torch imported): the fast lane leaves the file out.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DEVICES, reason="no NVIDIA GPU found through NVML on this machine"),
]

try:
    import torch  # noqa: F401

    HAS_TORCH = True
except ImportError:
    HAS_TORCH = False
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed: no program to put on the GPU")

# what a trial in a slot sees through CUDA: how many GPUs, and which (by uuid)
SEES = "import json, torch; print(json.dumps([str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]))"  # noqa: E501
# ~2.3 GB on the GPU and 3 s of matrix products
BUSY = (
    "import torch, time\n"
    "x = torch.randn(8192, 8192, device='cuda')\n"
    "pad = torch.ones(2**29, device='cuda')\n"
    "t = time.time()\n"
    "while time.time() - t < 3:\n"
    "    y = x @ x\n"
    "    torch.cuda.synchronize()\n"
)


def test_discover_lists_each_gpu_with_its_uuid_name_and_memory() -> None:
    assert [gpu.index for gpu in DEVICES] == list(range(len(DEVICES)))
    for gpu in DEVICES:
        assert gpu.uuid.startswith("GPU-") and "NVIDIA" in gpu.name and gpu.memory_mb > 1024


@pytest.mark.parametrize(("fraction", "per_gpu"), [(1, 1), (0.5, 2), (0.25, 4)])
def test_slots_on_the_real_gpus(fraction: float, per_gpu: int) -> None:
    slots = resolve_slots(None, fraction, None, environ={})
    assert len(slots) == per_gpu * len(DEVICES)
    for gpu in DEVICES:
        assert [s.env()["CUDA_VISIBLE_DEVICES"] for s in slots].count(str(gpu.index)) == per_gpu


def test_a_missing_gpu_id_names_the_gpus_that_exist() -> None:
    with pytest.raises(SpecError) as caught:
        resolve_slots(None, 1, [len(DEVICES)], environ={})
    assert caught.value.exit_code == 2
    assert f"GPU {len(DEVICES)} not found; the GPUs here are 0" in str(caught.value)


def test_cuda_visible_devices_by_uuid_maps_to_the_right_gpu() -> None:
    last = DEVICES[-1]
    slots = resolve_slots(None, 1, None, environ={"CUDA_VISIBLE_DEVICES": last.uuid})
    assert [s.gpus for s in slots] == [(last.index,)]


@needs_torch
def test_a_trial_in_a_slot_sees_exactly_its_gpu() -> None:
    for slot in resolve_slots(None, 1, None, environ={}):
        env = {"PATH": "/usr/bin:/bin", **slot.env()}
        out = subprocess.run([sys.executable, "-c", SEES], env=env, capture_output=True, text=True, check=True)
        uuids = json.loads(out.stdout)
        assert len(uuids) == 1
        assert DEVICES[slot.gpus[0]].uuid.endswith(uuids[0])  # torch prints the uuid without "GPU-"


@needs_torch
def test_monitor_reports_gpu_utilization_and_memory_of_a_busy_trial() -> None:
    slot = resolve_slots(1, 1, None, environ={})[0]
    proc = subprocess.Popen([sys.executable, "-c", BUSY], env={"PATH": "/usr/bin:/bin", **slot.env()})
    monitor = TrialMonitor(proc.pid, gpus=slot.gpus, interval=0.25).start()
    assert proc.wait(timeout=120) == 0
    resources = monitor.stop()
    print(resources)
    assert resources["gpus"] == ",".join(map(str, slot.gpus))
    assert resources["gpu_util_max"] >= 50
    assert resources["gpu_mem_peak_mb"] >= 2000
    assert resources["gpu_mem_source"] in ("process", "device")
