"""A list `metric:` (and Optuna's `directions:`, Ray's `mode: [...]`) reads as several objectives; a combined
metric (`combine:`/`expr:`) as one; the mistakes people make get one precise error naming the key."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from sweepkit import SpecError
from sweepkit.spec import load_spec

SPACE = "parameters: {x: {min: 0.0, max: 1.0}}\n"


def spec(text: str) -> Any:
    return load_spec(yaml.safe_load(text + SPACE))


def objectives(text: str) -> list[tuple[str, str]]:
    return [(o.name, o.goal) for o in spec(text).metric.objectives]


def test_a_list_of_name_and_goal_is_two_objectives() -> None:
    metric = spec("metric: [{name: val_loss, goal: minimize}, {name: val_acc, goal: maximize}]\n").metric
    assert metric.multi
    assert [(o.name, o.goal) for o in metric.objectives] == [("val_loss", "minimize"), ("val_acc", "maximize")]
    assert (metric.name, metric.goal) == ("val_loss", "minimize")  # the first: what one-metric code reads


def test_optuna_directions_and_ray_modes_pair_with_a_list_of_names() -> None:
    assert objectives("metric: [loss, acc]\ndirections: [minimize, maximize]\n") == [
        ("loss", "minimize"),
        ("acc", "maximize"),
    ]
    assert objectives("metric: [loss, acc]\nmode: [min, max]\n") == [("loss", "minimize"), ("acc", "maximize")]
    hpo = (
        "hpo:\n  study: {study_name: two, directions: [minimize, maximize]}\n  metric: [loss, acc]\n"
        "  search_space: {x: {type: float, low: 0, high: 1}}\n"
    )
    assert [(o.name, o.goal) for o in load_spec(yaml.safe_load(hpo)).metric.objectives] == [
        ("loss", "minimize"),
        ("acc", "maximize"),
    ]


def test_one_goal_holds_for_every_metric_and_shared_keys_reach_each() -> None:
    metric = spec("metric: {name: [a, b], goal: max, summary: best}\n").metric
    assert [(o.goal, o.summary) for o in metric.objectives] == [("maximize", "best"), ("maximize", "best")]


def test_a_one_item_list_is_an_ordinary_metric() -> None:
    metric = spec("metric: [{name: val_loss, goal: maximize}]\n").metric
    assert not metric.multi and (metric.name, metric.goal) == ("val_loss", "maximize")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("metric: []\n", "an empty list of metrics: name at least one"),
        ("metric: [a, a]\n", 'metric "a" is listed twice'),
        ("metric: [{name: a, target: 0.1}, b]\n", "a multi-objective sweep has a Pareto front"),
        ("metric: {name: [a, b], target: 0.1}\n", "remove target"),
        ("metric: [a, b]\ndirections: [minimize]\n", "2 metrics but 1 goal (directions)"),
        ("metric: a\ndirections: [minimize, maximize]\n", "goal lists 2 goals (directions) but the metric names one"),
        ("metric: [{name: a, goal: minimize}, b]\ndirections: [maximize, minimize]\n", 'metric "a" says goal'),
        ("metric: [a, 3]\n", "metric 2 is 3: expected a name or {name, goal}"),
        ("metric: [a, {name: b, goal: sideways}]\n", "minimize"),
    ],
)
def test_mistakes_in_a_list_metric_name_the_key(text: str, says: str) -> None:
    with pytest.raises(SpecError, match="metric") as raised:
        spec(text)
    assert says in str(raised.value)
    assert raised.value.exit_code == 2


def test_a_combined_metric_is_one_objective_with_its_weights() -> None:
    metric = spec("metric: {name: combined, combine: {val_loss_a: 0.5, val_loss_b: 0.5}, goal: minimize}\n").metric
    assert not metric.multi and metric.combine == {"val_loss_a": 0.5, "val_loss_b": 0.5}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("metric: {name: s, combine: {a: 1}, expr: 'a + b'}\n", "not both"),
        ("metric: {name: s, combine: {}}\n", "combine is empty"),
        ("metric: {name: s, combine: {a: heavy}}\n", "number"),
        ("metric: {name: a, combine: {a: 0.5, b: 0.5}}\n", "computed from itself"),
        ("metric: {name: s, expr: 'a +* b'}\n", "invalid expression"),
        ("metric: {name: s, expr: '__import__(\"os\")'}\n", "s"),
        ("metric: {name: [a, b], combine: {a: 1, b: 1}}\n", "belong to one objective"),
    ],
)
def test_mistakes_in_a_combined_metric(text: str, says: str) -> None:
    with pytest.raises(SpecError) as raised:
        spec(text)
    assert says in str(raised.value)
