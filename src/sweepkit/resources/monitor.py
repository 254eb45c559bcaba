"""Per-trial resource monitoring: CPU, peak memory and, on NVIDIA GPUs, utilization and GPU memory.

A `TrialMonitor` watches one trial's process and everything it started (a program's children, a pool
worker's helpers) from a daemon thread in the sweep process, and sums them, because a training script's
cost is its whole process tree (data-loader workers, a shell wrapper's python). The summary is stored
with the trial and shown by `sweepkit status` (`format_resources`).

Sampling stands on psutil (and NVML through nvidia-ml-py for GPUs), both optional: without psutil the
monitor is off and `stop()` returns {}; without NVML there are no GPU figures. A failed read never fails a trial.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

INSTALL_HINT = "pip install 'sweepkit[monitor]'"
MIN_CPU_WINDOW = 0.05  # s: a CPU % over a shorter window is mostly the 10 ms tick of the kernel's CPU clock


def _children_path(pid: int, tid: int) -> str:
    return f"/proc/{pid}/task/{tid}/children"


# Linux lists each thread's child processes here (CONFIG_PROC_CHILDREN, on in the common distributions' kernels)
_HAS_CHILDREN_FILES = os.path.exists(_children_path(os.getpid(), os.getpid()))


def _children(pid: int) -> list[int]:
    """A process's children: each of its threads lists those it started, so all threads are read."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:  # it has ended
        return found
    for tid in threads:
        try:
            with open(_children_path(pid, int(tid)), "rb") as listing:
                found.extend(int(child) for child in listing.read().split())
        except OSError:  # the thread has ended
            continue
    return found


def monitor_unavailable() -> str | None:
    """Why trials can't be monitored here (for one note at the sweep's start), or None when they can."""
    try:
        import psutil  # noqa: F401
    except ImportError:
        return f"per-trial CPU/memory monitoring is off: psutil is not installed ({INSTALL_HINT})"
    return None


class TrialMonitor:
    """Samples a trial's process tree every `interval` seconds while it runs; `stop()` gives the summary.

    The first sample is taken as soon as `start()` is called, and a last one at `stop()`, so a trial shorter
    than `interval` still gets its memory measured. CPU % is the tree's CPU time over wall time, as a
    percentage of one core (200% = two cores busy); it is measured between samples, so the first sample
    only sets the baseline (a pool worker's CPU from earlier trials is never counted).

    GPU memory is the trial's own processes' memory as NVML lists them (`gpu_mem_source: "process"`); where
    NVML lists no process of the tree (other pid namespace, no permission), it is the memory in use on the
    trial's GPUs (`"device"`), which includes other trials sharing them. Utilization is always the device's.

        monitor = TrialMonitor(proc.pid, gpus=slot.gpus).start()
        ...  # the trial runs
        resources = monitor.stop()  # {"cpu_percent_mean": 97.0, "peak_rss_mb": 212.4, "samples": 31, ...}
    """

    def __init__(self, pid: int, gpus: tuple[int, ...] = (), interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.pid = pid
        self.gpus = tuple(gpus)
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._psutil: Any = None
        self._root: Any = None
        self._procs: dict[int, Any] = {}  # pid → psutil.Process of the tree at the last sample
        self._nvml: Any = None
        self._handles: list[Any] = []
        # running figures, touched by the sampling thread, then by stop() once that thread has ended
        self._samples = 0
        self._cpu_seen: dict[tuple[int, float], float] = {}  # (pid, create time) → CPU seconds at last sample
        self._cpu_at: tuple[float, float] | None = None  # (monotonic, wall) time of the last CPU reading
        self._cpu: list[float] = []
        self._peak_rss = 0
        self._gpu_util: list[float] = []
        self._gpu_mem_process = 0
        self._gpu_mem_device = 0
        self._gpu_matched = False

    # -- life cycle ---------------------------------------------------------------------------------------
    def start(self) -> TrialMonitor:
        """Begin sampling (returns self); does nothing where psutil is missing."""
        try:
            import psutil
        except ImportError:
            return self
        self._psutil = psutil
        if self.gpus:
            self._open_nvml()
        self._thread = threading.Thread(target=self._loop, name=f"sweepkit-monitor-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        """Stop sampling and summarize: {} when monitoring was off, else at least `samples`."""
        if self._thread is None:  # never started, psutil missing, or stopped already
            return self.summary()
        self._stopping.set()
        self._thread.join()
        self._thread = None
        self._sample()  # the last moments of a trial (or all of a short one) count too
        if self._nvml is not None:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._nvml = None
        return self.summary()

    def __enter__(self) -> TrialMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        # The first sample a moment after start, not at once: right after Popen a program may not have
        # exec'd yet, and the sample would measure the fork's few pages instead of the program.
        delay = min(0.1, self.interval)
        while not self._stopping.wait(delay):
            self._sample()
            delay = self.interval

    def _open_nvml(self) -> None:
        try:
            import pynvml
        except ImportError:
            return
        try:
            pynvml.nvmlInit()  # reference-counted by NVML: one per monitor is fine
        except (pynvml.NVMLError, OSError):
            return
        try:
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in self.gpus]
        except pynvml.NVMLError:
            pynvml.nvmlShutdown()
            return
        self._nvml = pynvml

    # -- sampling -----------------------------------------------------------------------------------------
    def _tree(self) -> list[Any] | None:
        psutil = self._psutil
        try:
            if self._root is None:
                self._root = psutil.Process(self.pid)
            if not self._root.is_running():  # is_running also catches a reused pid
                return None
            if not _HAS_CHILDREN_FILES:
                return [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return None
        # Walk down from the trial's process through /proc/<pid>/task/<tid>/children instead of psutil's
        # children(), which reads /proc/<pid>/stat of every process on the machine at each sample: ~3 ms with
        # 150 processes, ~20 ms on a busy GPU box, per trial and second. This reads only the trial's own.
        procs = [self._root]
        known: dict[int, Any] = {self.pid: self._root}
        queue = [self.pid]
        while queue:
            for pid in _children(queue.pop()):
                if pid in known:
                    continue
                proc = self._procs.get(pid)
                if proc is None:
                    try:
                        proc = psutil.Process(pid)
                    except psutil.Error:
                        continue
                known[pid] = proc
                procs.append(proc)
                queue.append(pid)
        self._procs = known
        return procs

    def _sample(self) -> None:
        psutil = self._psutil
        procs = self._tree()
        if procs is None:
            return
        now, wall = time.monotonic(), time.time()
        rss = 0
        cpu_seen: dict[tuple[int, float], float] = {}
        for proc in procs:
            try:
                with proc.oneshot():  # one read of /proc/<pid>/stat for all three
                    created = proc.create_time()
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
            except psutil.Error:  # it ended between listing and reading
                continue
            cpu_seen[(proc.pid, created)] = times.user + times.system
        if not cpu_seen or not rss:  # gone, or a zombie waiting to be reaped: nothing of it to measure
            return
        self._samples += 1
        self._peak_rss = max(self._peak_rss, rss)
        self._read_cpu(cpu_seen, now, wall)
        if self._nvml is not None:
            self._read_gpus({pid for pid, _ in cpu_seen})

    def _read_cpu(self, seen: dict[tuple[int, float], float], now: float, wall: float) -> None:
        if self._cpu_at is None:  # the baseline
            self._cpu_seen, self._cpu_at = seen, (now, wall)
            return
        last_now, last_wall = self._cpu_at
        if now - last_now < MIN_CPU_WINDOW:
            return  # keep the old baseline; the next reading covers this window
        used = 0.0
        for key, seconds in seen.items():
            if key in self._cpu_seen:
                used += seconds - self._cpu_seen[key]
            elif key[1] >= last_wall - 0.5:  # started since the last reading: all its CPU time is new
                used += seconds
            # else: an older process that joined the tree; only its CPU from now on counts
        self._cpu.append(max(0.0, 100.0 * used / (now - last_now)))
        self._cpu_seen, self._cpu_at = seen, (now, wall)

    def _read_gpus(self, pids: set[int]) -> None:
        nvml = self._nvml
        used_by_tree = 0
        used_on_devices = 0
        for handle in self._handles:
            try:
                self._gpu_util.append(float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                used_on_devices += int(nvml.nvmlDeviceGetMemoryInfo(handle).used)
            except nvml.NVMLError:
                continue
            try:
                running = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except nvml.NVMLError:
                running = []
            for entry in running:
                if entry.pid in pids and entry.usedGpuMemory is not None:  # None: hidden by the driver
                    used_by_tree += int(entry.usedGpuMemory)
                    self._gpu_matched = True
        self._gpu_mem_process = max(self._gpu_mem_process, used_by_tree)
        self._gpu_mem_device = max(self._gpu_mem_device, used_on_devices)

    def summary(self) -> dict[str, Any]:
        """The figures so far (what `stop()` returns); keys without a reading are left out."""
        if self._psutil is None:
            return {}
        out: dict[str, Any] = {"samples": self._samples}
        if self._cpu:
            out["cpu_percent_mean"] = round(sum(self._cpu) / len(self._cpu), 1)
            out["cpu_percent_max"] = round(max(self._cpu), 1)
        if self._samples:
            out["peak_rss_mb"] = round(self._peak_rss / 2**20, 1)
        if self._gpu_util:
            out["gpus"] = ",".join(map(str, self.gpus))
            out["gpu_util_mean"] = round(sum(self._gpu_util) / len(self._gpu_util), 1)
            out["gpu_util_max"] = round(max(self._gpu_util), 1)
            memory = self._gpu_mem_process if self._gpu_matched else self._gpu_mem_device
            out["gpu_mem_peak_mb"] = round(memory / 2**20, 1)
            out["gpu_mem_source"] = "process" if self._gpu_matched else "device"
        return out


def _size(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def format_resources(resources: dict[str, Any] | None) -> str:
    """One short line for status and progress: `cpu 97% · rss 212 MB · gpu0 81% 3.1 GB`; "" when nothing."""
    if not resources:
        return ""
    parts = []
    if "cpu_percent_mean" in resources:
        parts.append(f"cpu {resources['cpu_percent_mean']:.0f}%")
    if "peak_rss_mb" in resources:
        parts.append(f"rss {_size(resources['peak_rss_mb'])}")
    if "gpu_util_mean" in resources:
        gpu = f"gpu{resources.get('gpus', '')} {resources['gpu_util_mean']:.0f}%"
        if "gpu_mem_peak_mb" in resources:
            gpu += f" {_size(resources['gpu_mem_peak_mb'])}"
            if resources.get("gpu_mem_source") == "device":
                gpu += " (whole GPU)"
        parts.append(gpu)
    return " · ".join(parts)
