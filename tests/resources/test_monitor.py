"""TrialMonitor on real processes: memory and CPU of a trial's whole process tree, short trials, no psutil."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import sweepkit.resources.monitor as monitor_module
from sweepkit.resources import TrialMonitor, format_resources, monitor_unavailable, probe

# allocates ~200 MB (written, so it is resident) and keeps one core busy for ~1.5 s
HOG = "x = b'\\1' * (200 * 2**20)\nimport time\nt = time.time()\nwhile time.time() - t < 1.5: pass\n"
# starts HOG as a grandchild and only waits for it: what it uses is the grandchild's
PARENT = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {HOG!r}], check=True)\n"


def watch(argv: list[str], gpus: tuple[int, ...] = (), interval: float = 0.25) -> dict:
    proc = subprocess.Popen(argv)
    monitor = TrialMonitor(proc.pid, gpus=gpus, interval=interval).start()
    try:
        proc.wait(timeout=60)
    finally:
        resources = monitor.stop()
    assert proc.returncode == 0
    return resources


@pytest.mark.slow
def test_a_trial_that_allocates_and_spins_shows_its_memory_and_cpu() -> None:
    resources = watch([sys.executable, "-c", HOG])
    assert resources["peak_rss_mb"] >= 150
    assert resources["cpu_percent_max"] > 10  # a spinning process; not 100: the CI machine is shared
    assert resources["cpu_percent_mean"] <= resources["cpu_percent_max"]
    assert resources["samples"] >= 3


@pytest.mark.slow
@pytest.mark.parametrize("walk", ["proc children files", "psutil children"])
def test_the_whole_process_tree_is_counted(walk: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if walk == "psutil children":  # what kernels without /proc/<pid>/task/<tid>/children use
        monkeypatch.setattr(monitor_module, "_HAS_CHILDREN_FILES", False)
    resources = watch([sys.executable, "-c", PARENT])
    assert resources["peak_rss_mb"] >= 150  # the parent alone holds ~10 MB
    assert resources["cpu_percent_max"] > 10  # the parent only waits: the spinning grandchild counts


@pytest.mark.slow
def test_cpu_used_before_monitoring_is_not_counted() -> None:
    """A pool worker runs many trials: what it did before this trial started is not this trial's."""
    code = "import time\nt = time.time()\nwhile time.time() - t < 1: pass\nprint('ready', flush=True)\ntime.sleep(1.5)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    monitor = TrialMonitor(proc.pid, interval=0.25).start()
    time.sleep(1)
    resources = monitor.stop()
    proc.wait(timeout=10)
    assert resources["samples"] >= 2
    assert resources["cpu_percent_max"] < 30  # it slept all the while; the 1 s of spinning came before


def test_a_trial_that_exits_at_once_gives_a_summary_not_an_error() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    monitor = TrialMonitor(proc.pid, interval=0.25).start()
    proc.wait(timeout=30)
    resources = monitor.stop()
    assert resources["samples"] >= 0
    if resources["samples"]:
        assert resources["peak_rss_mb"] > 0

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert TrialMonitor(gone.pid).start().stop() == {"samples": 0}  # already reaped: nothing to read


@pytest.mark.slow
def test_the_first_sample_is_taken_at_start_so_short_trials_get_one() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    monitor = TrialMonitor(proc.pid, interval=60).start()  # no sample would come from the interval
    time.sleep(0.2)
    resources = monitor.stop()  # returns at once: stop wakes the sampler instead of waiting out the interval
    proc.wait(timeout=30)
    assert resources["samples"] >= 1 and resources["peak_rss_mb"] > 1
    assert "cpu_percent_mean" in resources  # the baseline at start and the last sample at stop


@pytest.mark.slow
@pytest.mark.skipif(bool(probe().devices), reason="this machine has an NVIDIA GPU; test_gpu_device.py checks it")
def test_without_nvml_there_are_no_gpu_figures() -> None:
    resources = watch([sys.executable, "-c", "import time; time.sleep(0.3)"], gpus=(0,))
    assert resources["samples"] >= 1
    assert not any(key.startswith("gpu") for key in resources)


def test_without_psutil_monitoring_is_off_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # as if it were not installed: `import psutil` fails
    assert "pip install 'sweepkit[monitor]'" in (monitor_unavailable() or "")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert TrialMonitor(proc.pid).start().stop() == {}
    proc.wait(timeout=30)


def test_monitor_unavailable_is_none_with_psutil_installed() -> None:
    assert monitor_unavailable() is None


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval must be > 0"):
        TrialMonitor(1, interval=0)


@pytest.mark.parametrize(
    ("resources", "line"),
    [
        ({}, ""),
        (None, ""),
        ({"samples": 0}, ""),
        ({"samples": 3, "cpu_percent_mean": 97.4, "cpu_percent_max": 120, "peak_rss_mb": 212.4},
         "cpu 97% · rss 212 MB"),
        (
            {"samples": 9, "cpu_percent_mean": 101, "peak_rss_mb": 2048, "gpus": "0", "gpu_util_mean": 81.2,
             "gpu_util_max": 99, "gpu_mem_peak_mb": 3174.4, "gpu_mem_source": "process"},
            "cpu 101% · rss 2.0 GB · gpu0 81% 3.1 GB",
        ),
        (
            {"samples": 1, "peak_rss_mb": 50, "gpus": "0,1", "gpu_util_mean": 3, "gpu_mem_peak_mb": 900,
             "gpu_mem_source": "device"},
            "rss 50 MB · gpu0,1 3% 900 MB (whole GPU)",
        ),
    ],
)  # fmt: skip
def test_format_resources_gives_one_short_line(resources: dict | None, line: str) -> None:
    assert format_resources(resources) == line
