"""GPU slots: which GPUs each concurrently running trial may use, given as `CUDA_VISIBLE_DEVICES`.

A sweep runs N trials at once in N slots. With `resources: {gpus_per_trial: g, gpu_ids: [...]}` (or
`--gpu-ids 0,1`), each slot owns a fixed share of the GPUs for the whole sweep: `g: 1` gives one slot per GPU,
`g: 0.5` packs two slots onto each GPU (never more), `g: 2` gives each slot two GPUs of its own. A trial
started in a slot gets the slot's `CUDA_VISIBLE_DEVICES`, so its framework sees only its GPUs as `cuda:0`, ...

GPUs are numbered as `nvidia-smi` numbers them (NVML's index, in PCI bus order): that is what `gpu_ids`,
`Slot.gpus` and the monitor's `gpu0` mean. The slot's environment sets `CUDA_DEVICE_ORDER=PCI_BUS_ID` too,
because CUDA's own default order (fastest first) can differ from nvidia-smi's on a machine with mixed GPUs.
When sweepkit itself runs under a `CUDA_VISIBLE_DEVICES` (a cluster scheduler's allocation, say), those
devices are the only ones slots are made of, and their entries (indices or `GPU-<uuid>`) are mapped to
nvidia-smi's numbers, so a trial never lands on a GPU outside the allocation.

`plan_slots` is a pure function of its inputs (unit-tested with given device lists); `resolve_slots` asks NVML
and the environment, then plans.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sweepkit.errors import SpecError, UsageError

GPUS_KEY = "resources.gpus_per_trial"
IDS_KEY = "resources.gpu_ids"
INSTALL_HINT = "pip install 'sweepkit[monitor]'"


@dataclass(frozen=True)
class Gpu:
    """One NVIDIA GPU as NVML reports it."""

    index: int  # nvidia-smi's number
    uuid: str  # "GPU-8f6c...": what CUDA_VISIBLE_DEVICES may name instead of the index
    name: str  # "NVIDIA H100 80GB HBM3"
    memory_mb: int  # total memory, MiB


@dataclass(frozen=True)
class Slot:
    """Where one trial at a time runs: the GPUs it owns (none for a CPU slot) and its share of each.

    `share` is 1.0 for whole GPUs and 0.5 when two slots share each of their GPUs; sweepkit never puts more
    slots on a GPU than the share allows, but it cannot cap a trial's GPU memory: with `gpus_per_trial: 0.5`
    each trial should use at most half of the GPU (e.g. `torch.cuda.set_per_process_memory_fraction(0.5)`).
    """

    index: int
    gpus: tuple[int, ...] = ()
    share: float = 0.0

    def env(self) -> dict[str, str]:
        """Environment variables a trial in this slot gets; empty for a CPU slot (it inherits sweepkit's)."""
        if not self.gpus:
            return {}
        return {"CUDA_VISIBLE_DEVICES": ",".join(map(str, self.gpus)), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}

    def describe(self) -> str:
        """`gpu0`, `gpu0,1`, `gpu0 (1/2)`, or `cpu`: how progress and status name the slot."""
        if not self.gpus:
            return "cpu"
        shared = f" (1/{round(1 / self.share)})" if self.share < 1 else ""
        return f"gpu{','.join(map(str, self.gpus))}{shared}"


class SlotPlan(list[Slot]):
    """The slots, in the order trials should fill them, plus the notes worth one line each to the user.

    A list (what `plan_slots` promises) that also carries `notes` ("workers: 8, but 4 GPUs at
    gpus_per_trial 1 run 4 trials at once") and the GPUs the plan uses, so the engine can print them.
    """

    def __init__(self, slots: Iterable[Slot] = (), notes: Iterable[str] = ()) -> None:
        super().__init__(slots)
        self.notes: list[str] = list(notes)

    @property
    def gpus(self) -> tuple[int, ...]:
        return tuple(sorted({g for slot in self for g in slot.gpus}))


@dataclass(frozen=True)
class Probe:
    """What NVML said: the GPUs, or why it could not tell (`problem`, with `devices` then empty)."""

    devices: list[Gpu] = field(default_factory=list)
    problem: str | None = None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)  # older bindings return bytes


def probe() -> Probe:
    """Ask NVML for the machine's GPUs; no bindings, library or driver → no GPUs and the reason, never a crash."""
    try:
        import pynvml  # nvidia-ml-py: imported here, only by sweeps that ask about GPUs
    except ImportError:
        return Probe(problem=f"nvidia-ml-py is not installed: {INSTALL_HINT}")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return Probe(problem=str(exc))  # "NVML Shared Library Not Found", "Driver Not Loaded", ...
    except OSError as exc:  # a broken libnvidia-ml on the library path
        return Probe(problem=str(exc))
    try:
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            found.append(
                Gpu(
                    index=index,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    memory_mb=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // 2**20,
                )
            )
        return Probe(devices=found)
    except pynvml.NVMLError as exc:
        return Probe(problem=str(exc))
    finally:
        pynvml.nvmlShutdown()


def discover() -> list[Gpu]:
    """The machine's NVIDIA GPUs (empty when there are none, or NVML cannot be asked)."""
    return probe().devices


# -- parsing the user's values ------------------------------------------------------------------------------
def parse_gpu_ids(value: object, *, key: str = IDS_KEY) -> list[int] | None:
    """`--gpu-ids 0,1`, `gpu_ids: "0,1"`, `gpu_ids: [0, 1]` or `gpu_ids: 0` → [0, 1]; None/"" → None (all GPUs)."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        items: list[object] = [part.strip() for part in value.split(",")]
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise SpecError(f"expected GPU numbers like 0,1 or [0, 1], got {value!r}", key=key)
    ids: list[int] = []
    for item in items:
        if isinstance(item, bool):
            number = None
        elif isinstance(item, int):
            number = item
        elif isinstance(item, str) and item.isdigit():  # isdigit: no sign, so "-1" is refused below
            number = int(item)
        else:
            number = None
        if number is None or number < 0:
            raise SpecError(f"expected GPU numbers like 0,1 (as nvidia-smi numbers them), got {item!r}", key=key)
        if number in ids:
            raise SpecError(f"GPU {number} is named twice", key=key)
        ids.append(number)
    return ids or None


def parse_gpus_per_trial(value: object, *, key: str = GPUS_KEY) -> float:
    """`gpus_per_trial`: 0/None → 0 (no GPUs); a fraction that divides 1 (0.5, 0.25, 1/3); or a whole number."""
    if value is None:
        return 0.0
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SpecError(f"expected a number of GPUs like 1, 0.5 or 2, got {value!r}", key=key) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise SpecError(f"expected a number of GPUs like 1, 0.5 or 2, got {value!r}", key=key)
    if value == 0:
        return 0.0
    if value < 1:
        per_gpu = round(1 / value)
        if abs(per_gpu * value - 1) > 0.01:  # 1/3 written as 0.333 is fine; 0.3 leaves a tenth of a GPU idle
            lower, upper = 1 / math.ceil(1 / value), 1 / math.floor(1 / value)
            raise SpecError(
                f"{value} does not divide one GPU into equal shares; use 1/n, e.g. {upper:.3g} or {lower:.3g}", key=key
            )
        return 1 / per_gpu
    if value != int(value):
        raise SpecError(
            f"{value}: more than one GPU per trial must be a whole number (1, 2, ...); below one, a fraction like 0.5",
            key=key,
        )
    return float(int(value))


# -- CUDA_VISIBLE_DEVICES -----------------------------------------------------------------------------------
def _visible(entries: str, devices: Sequence[Gpu] | None) -> list[int]:
    """nvidia-smi numbers of the GPUs a `CUDA_VISIBLE_DEVICES` value leaves; `devices` None: not known.

    Read as CUDA reads it: entries up to the first one that names no device ("-1", a missing index) count.
    """
    found: list[int] = []
    for raw in entries.split(","):
        entry = raw.strip()
        if entry.startswith("MIG-"):
            raise UsageError(
                f"CUDA_VISIBLE_DEVICES={entries} names a MIG instance ({entry}); sweepkit's GPU slots hand out whole"
                " GPUs or 1/n shares of them: name whole GPUs, or remove gpus_per_trial and let each trial inherit"
                " CUDA_VISIBLE_DEVICES"
            )
        if entry.isdigit():
            number = int(entry)
            if devices is not None and number not in {gpu.index for gpu in devices}:
                break
        elif entry.startswith("GPU-") and devices is not None:
            matches = [gpu.index for gpu in devices if gpu.uuid.startswith(entry)]  # CUDA accepts a unique prefix
            if len(matches) != 1:
                break
            number = matches[0]
        else:
            break
        if number in found:
            break
        found.append(number)
    return found


def _listing(ids: Iterable[int]) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids)) if ids else "none"


def plan_slots(
    workers: int | None,
    gpus_per_trial: float | int | None,
    gpu_ids: Sequence[int] | None,
    devices: Sequence[Gpu] | Sequence[int],
    *,
    visible: str | None = None,
    unavailable: str | None = None,
) -> SlotPlan:
    """The slots a sweep runs its trials in, from the user's wishes and the machine's GPUs.

    `workers`: trials at once (None: one per slot the GPUs allow, or 1 without GPUs). `gpus_per_trial`: 0/None
    for CPU slots; `gpu_ids` alone means one GPU per trial on those GPUs. `devices`: the machine's GPUs (or
    their numbers). `visible`: sweepkit's own `CUDA_VISIBLE_DEVICES`, if set. `unavailable`: why NVML could
    not list GPUs; `devices` then means "unknown", and `gpu_ids` (or `visible`) are taken on trust.

    Slots are ordered to spread trials over GPUs first: with 0.5 GPU per trial on two GPUs, the first two
    trials get one GPU each, the next two share them.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SpecError(f"expected a whole number of trials at once, at least 1, got {workers!r}", key="workers")
    ids = parse_gpu_ids(list(gpu_ids)) if gpu_ids is not None else None
    per_trial = parse_gpus_per_trial(gpus_per_trial)
    if per_trial == 0 and ids:
        per_trial = 1.0  # `--gpu-ids 0,1,2,3` alone: each GPU runs its own trials
    if per_trial == 0:
        return SlotPlan(Slot(index=i) for i in range(workers or 1))

    notes: list[str] = []
    known = None if unavailable is not None else [d if isinstance(d, Gpu) else Gpu(d, "", "", 0) for d in devices]
    asked = f"gpus_per_trial: {per_trial:g}"
    if known is None:  # NVML could not say: trust the user's numbers, or fail clearly
        if visible is not None:
            universe = _visible(visible, None)
        elif ids:
            universe = list(ids)
            notes.append(f"GPUs not checked (NVML: {unavailable}); using gpu_ids {_listing(ids)} as given")
        else:
            raise UsageError(
                f"{asked} but no NVIDIA GPU was found (NVML: {unavailable}); set gpu_ids or remove gpus_per_trial"
            )
    elif visible is not None:
        universe = _visible(visible, known)
    else:
        universe = [gpu.index for gpu in known]
    if not universe:
        if known is None:
            raise UsageError(
                f"{asked} but no NVIDIA GPU was found (NVML: {unavailable}; CUDA_VISIBLE_DEVICES={visible!r});"
                " set gpu_ids or remove gpus_per_trial"
            )
        if visible is not None:
            raise UsageError(f"{asked} but CUDA_VISIBLE_DEVICES={visible!r} leaves no GPU to use")
        raise UsageError(f"{asked} but no NVIDIA GPU was found (NVML: 0 devices); remove gpus_per_trial")

    if ids:
        missing = [i for i in ids if i not in universe]
        if missing:
            where = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
            what = "GPU" if len(missing) == 1 else "GPUs"
            raise SpecError(
                f"{what} {_listing(missing)} not found; the GPUs here{where} are {_listing(sorted(universe))}",
                key=IDS_KEY,
            )
        universe = list(ids)

    if per_trial < 1:
        per_gpu = round(1 / per_trial)
        # spread first: slot k sits on GPU k mod n, so a few workers never crowd onto one GPU
        slots = [
            Slot(index=k, gpus=(universe[k % len(universe)],), share=per_trial) for k in range(per_gpu * len(universe))
        ]
    else:
        size = int(per_trial)
        if size > len(universe):
            raise SpecError(
                f"{size} GPUs per trial, but only {len(universe)} {'is' if len(universe) == 1 else 'are'} available"
                f" (GPUs {_listing(universe)})",
                key=GPUS_KEY,
            )
        count = len(universe) // size
        slots = [Slot(index=k, gpus=tuple(universe[k * size : (k + 1) * size]), share=1.0) for k in range(count)]
        idle = universe[count * size :]
        if idle:
            notes.append(f"GPU{'s' if len(idle) > 1 else ''} {_listing(idle)} left idle: {size} GPUs per trial")

    if workers is not None and workers > len(slots):
        notes.append(
            f"workers: {workers}, but {len(universe)} GPU{'s' if len(universe) > 1 else ''} at {per_trial:g} per"
            f" trial run {len(slots)} trial{'s' if len(slots) > 1 else ''} at once"
        )
    elif workers is not None:
        slots = slots[:workers]
    return SlotPlan(slots, notes)


def resolve_slots(
    workers: int | None,
    gpus_per_trial: float | int | None,
    gpu_ids: object = None,
    environ: Mapping[str, str] | None = None,
) -> SlotPlan:
    """`plan_slots` for this machine: asks NVML only when GPUs are wanted, reads `CUDA_VISIBLE_DEVICES`."""
    ids = parse_gpu_ids(gpu_ids)
    if not parse_gpus_per_trial(gpus_per_trial) and not ids:
        return plan_slots(workers, None, None, [])
    env = os.environ if environ is None else environ
    found = probe()
    return plan_slots(
        workers,
        gpus_per_trial,
        ids,
        found.devices,
        visible=env.get("CUDA_VISIBLE_DEVICES"),
        unavailable=found.problem,
    )
