"""GPU slots from given device lists (no GPU needed), and what this machine's NVML says."""

from __future__ import annotations

import pytest

from sweepkit.errors import SpecError, UsageError
from sweepkit.resources import Gpu, Slot, parse_gpu_ids, parse_gpus_per_trial, plan_slots, probe, resolve_slots

FOUR = [Gpu(i, f"GPU-{i}aaa-{i}", "NVIDIA H100 80GB HBM3", 81559) for i in range(4)]


def visible(slots: list[Slot]) -> list[str]:
    return [slot.env().get("CUDA_VISIBLE_DEVICES", "") for slot in slots]


def test_one_gpu_per_trial_gives_one_slot_per_gpu() -> None:
    slots = plan_slots(None, 1, None, FOUR)
    assert visible(slots) == ["0", "1", "2", "3"]
    assert [s.index for s in slots] == [0, 1, 2, 3]
    assert all(s.share == 1.0 for s in slots)
    assert slots[0].env() == {"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert slots.notes == []


@pytest.mark.parametrize(("fraction", "per_gpu"), [(0.5, 2), (0.25, 4), (1 / 3, 3), (0.333, 3), ("0.5", 2)])
def test_fractions_pack_that_many_trials_per_gpu_and_no_more(fraction: object, per_gpu: int) -> None:
    slots = plan_slots(None, fraction, None, [0, 1])
    assert len(slots) == 2 * per_gpu
    for gpu in ("0", "1"):
        assert visible(slots).count(gpu) == per_gpu
    assert visible(slots)[:2] == ["0", "1"]  # spread before packing: the first trials get a GPU each
    assert all(abs(s.share - 1 / per_gpu) < 1e-9 for s in slots)
    assert slots[0].describe() == f"gpu0 (1/{per_gpu})"


def test_two_gpus_per_trial_gives_disjoint_pairs_and_says_which_stay_idle() -> None:
    slots = plan_slots(None, 2, None, [0, 1, 2, 3, 4])
    assert visible(slots) == ["0,1", "2,3"]
    assert slots[1].gpus == (2, 3) and slots[1].describe() == "gpu2,3"
    assert slots.gpus == (0, 1, 2, 3)
    assert any("GPU 4 left idle" in note for note in slots.notes)


def test_workers_are_capped_by_the_slots_the_gpus_allow_with_a_note() -> None:
    slots = plan_slots(8, 1, None, FOUR)
    assert len(slots) == 4
    assert slots.notes == ["workers: 8, but 4 GPUs at 1 per trial run 4 trials at once"]


def test_fewer_workers_than_slots_spread_over_the_gpus() -> None:
    assert visible(plan_slots(2, 0.5, None, FOUR)) == ["0", "1"]
    assert plan_slots(2, 0.5, None, FOUR).notes == []


def test_gpu_ids_restrict_the_devices_in_their_order() -> None:
    assert visible(plan_slots(None, 1, [3, 1], FOUR)) == ["3", "1"]
    assert visible(plan_slots(None, 0.5, "2", FOUR)) == ["2", "2"]  # a string as a sweep file may hold it


def test_gpu_ids_alone_mean_one_gpu_per_trial() -> None:
    assert visible(plan_slots(None, None, [0, 1], FOUR)) == ["0", "1"]


def test_gpu_ids_naming_a_missing_gpu_is_a_user_error_naming_those_that_exist() -> None:
    with pytest.raises(SpecError) as caught:
        plan_slots(None, 1, [0, 7], FOUR)
    assert caught.value.exit_code == 2
    assert str(caught.value) == "resources.gpu_ids: GPU 7 not found; the GPUs here are 0, 1, 2, 3"


def test_no_gpus_asked_gives_cpu_slots_with_no_environment() -> None:
    slots = plan_slots(3, None, None, [])
    assert len(slots) == 3 and all(s.gpus == () and s.env() == {} for s in slots)
    assert slots[0].describe() == "cpu"
    assert len(plan_slots(None, 0, None, FOUR)) == 1


def test_gpus_asked_where_nvml_finds_none_is_a_clear_user_error() -> None:
    with pytest.raises(UsageError) as caught:
        plan_slots(None, 1, None, [], unavailable="NVML Shared Library Not Found")
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "gpus_per_trial: 1 but no NVIDIA GPU was found (NVML: NVML Shared Library Not Found);"
        " set gpu_ids or remove gpus_per_trial"
    )
    with pytest.raises(UsageError, match=r"no NVIDIA GPU was found \(NVML: 0 devices\)"):
        plan_slots(None, 0.5, None, [])


def test_gpu_ids_are_trusted_with_a_note_when_nvml_cannot_check_them() -> None:
    slots = plan_slots(None, 1, [0, 1], [], unavailable="Driver Not Loaded")
    assert visible(slots) == ["0", "1"]
    assert slots.notes == ["GPUs not checked (NVML: Driver Not Loaded); using gpu_ids 0, 1 as given"]


def test_more_gpus_per_trial_than_exist_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"resources.gpus_per_trial: 2 GPUs per trial, but only 1 is available"):
        plan_slots(None, 2, None, [0])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.3, "0.3 does not divide one GPU into equal shares; use 1/n, e.g. 0.333 or 0.25"),
        (1.5, "1.5: more than one GPU per trial must be a whole number"),
        (-1, "expected a number of GPUs like 1, 0.5 or 2, got -1"),
        ("half", "expected a number of GPUs like 1, 0.5 or 2, got 'half'"),
        (True, "expected a number of GPUs like 1, 0.5 or 2, got True"),
        (float("nan"), "expected a number of GPUs"),
    ],
)
def test_bad_gpus_per_trial_says_what_is_expected(value: object, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_gpus_per_trial(value)
    assert caught.value.key == "resources.gpus_per_trial"
    assert message in str(caught.value)


def test_bad_workers_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="workers: expected a whole number"):
        plan_slots(0, 1, None, FOUR)


@pytest.mark.parametrize(
    ("value", "ids"),
    [("0,1", [0, 1]), (" 2 , 3 ", [2, 3]), ([0, 1], [0, 1]), (["1"], [1]), (0, [0]), ("", None), (None, None)],
)
def test_parse_gpu_ids_accepts_the_flag_the_string_and_the_list(value: object, ids: list[int] | None) -> None:
    assert parse_gpu_ids(value) == ids


@pytest.mark.parametrize(
    ("value", "message"),
    [("0,x", "got 'x'"), ("-1", "got '-1'"), ([0, 0], "GPU 0 is named twice"), (1.5, "got 1.5"), ([True], "True")],
)
def test_parse_gpu_ids_refuses_what_names_no_gpu(value: object, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_gpu_ids(value)
    assert caught.value.key == "resources.gpu_ids" and message in str(caught.value)


def test_cuda_visible_devices_in_the_environment_is_the_universe_by_number_or_uuid() -> None:
    assert visible(plan_slots(None, 1, None, FOUR, visible="2,3")) == ["2", "3"]
    # a uuid (or a unique prefix of one) is mapped to nvidia-smi's number, which the trial then gets
    assert visible(plan_slots(None, 1, None, FOUR, visible="GPU-3aaa,GPU-1aaa-1")) == ["3", "1"]
    # as CUDA reads it: entries after the first one naming no device are ignored
    assert visible(plan_slots(None, 1, None, FOUR, visible="1,9,2")) == ["1"]


def test_gpu_ids_outside_cuda_visible_devices_say_so() -> None:
    with pytest.raises(SpecError, match=r"GPU 0 not found; the GPUs here \(CUDA_VISIBLE_DEVICES=2,3\) are 2, 3"):
        plan_slots(None, 1, [0], FOUR, visible="2,3")


def test_cuda_visible_devices_hiding_every_gpu_is_a_user_error() -> None:
    with pytest.raises(UsageError, match=r"CUDA_VISIBLE_DEVICES='-1' leaves no GPU to use"):
        plan_slots(None, 1, None, FOUR, visible="-1")
    with pytest.raises(UsageError, match="MIG instance"):
        plan_slots(None, 1, None, FOUR, visible="MIG-4f3a")


def test_cuda_visible_devices_numbers_are_trusted_when_nvml_cannot_check_them() -> None:
    slots = plan_slots(None, 0.5, None, [], visible="1", unavailable="Driver Not Loaded")
    assert visible(slots) == ["1", "1"]


@pytest.mark.skipif(bool(probe().devices), reason="this machine has an NVIDIA GPU; test_gpu_device.py checks it")
def test_this_machine_without_nvidia_gpus() -> None:
    found = probe()  # no NVML library or driver here: an answer with the reason, never a crash
    assert found.devices == [] and found.problem
    with pytest.raises(UsageError, match=r"gpus_per_trial: 1 but no NVIDIA GPU was found \(NVML: "):
        resolve_slots(None, 1, None, environ={})
    assert len(resolve_slots(2, None, None, environ={})) == 2  # no GPUs asked: NVML is never consulted
