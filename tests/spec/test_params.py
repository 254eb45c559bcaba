"""Parameter entries of every dialect → Parameter objects, with each tool's own sampling semantics.

The W&B reference formulas below are transcribed from wandb/sweeps `src/sweeps/params.py`
(`HyperParameter.ppf`, commit b1dfc5f, 2026-08): each distribution is sampled there as ppf(U(0, 1)).
"""

from __future__ import annotations

import math
import pickle
from collections import Counter
from typing import Any

import numpy as np
import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from sweepkit.errors import SpecError
from sweepkit.space import (
    Choice,
    Constant,
    Derived,
    Float,
    Int,
    Parameter,
    Quantile,
    Quantized,
    SearchSpace,
    nest,
)
from sweepkit.spec._params import AllOf, ChoiceIs, parse_parameter, parse_parameters

optuna.logging.set_verbosity(optuna.logging.WARNING)

FILE = "sweep.yaml"
N = 4000


def one(entry: Any, name: str = "x") -> Parameter:
    params = parse_parameters({name: entry}, file=FILE)
    assert len(params) == 1
    return params[0]


def fails(params: Any, key: str, fragment: str) -> SpecError:
    """Parse and expect a SpecError at exactly `key` whose message contains `fragment`."""
    with pytest.raises(SpecError) as info:
        parse_parameters(params, file=FILE)
    err = info.value
    assert err.file == FILE
    assert err.key == key, err.message
    assert fragment in err.message, err.message
    return err


def draw(param: Parameter, n: int = N, seed: int = 0) -> list[Any]:
    """n values as a sweep's random strategy would draw them: Optuna's RandomSampler through SearchSpace."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    space = SearchSpace((param,))
    return [space.sample(study.ask())[param.name] for _ in range(n)]


# -------------------------------------------------------------------------------------------------------
# W&B's own formulas


def _q(r: np.ndarray, q: float) -> np.ndarray:
    ret = np.round(r / q) * q
    return ret.astype(int) if isinstance(q, int) else ret


def wandb_ppf(dist: str, c: dict[str, Any], u: np.ndarray) -> np.ndarray:
    """W&B's HyperParameter.ppf for one distribution (defaults filled as its schema.json does)."""
    mu, sigma, a, b, q = c.get("mu", 0.0), c.get("sigma", 1.0), c.get("a", 1), c.get("b", 1), c.get("q", 1.0)
    lo, hi = c.get("min"), c.get("max")
    if dist == "categorical":
        return np.array(c["values"])[stats.randint.ppf(u, 0, len(c["values"])).astype(int)]
    if dist == "categorical_w_probabilities":
        cdf = np.cumsum(c["probabilities"])
        return np.array([c["values"][int(np.argmin(x >= cdf))] for x in u])
    if dist == "int_uniform":
        return stats.randint.ppf(u, lo, hi + 1).astype(int)
    if dist == "uniform":
        return stats.uniform.ppf(u, lo, hi - lo)
    if dist == "q_uniform":
        return _q(stats.uniform.ppf(u, lo, hi - lo), q)
    if dist == "log_uniform":
        return np.exp(stats.uniform.ppf(u, lo, hi - lo))
    if dist == "log_uniform_values":
        return np.exp(stats.uniform.ppf(u, np.log(lo), np.log(hi) - np.log(lo)))
    if dist == "inv_log_uniform":
        return np.exp(-stats.uniform.ppf(1 - u, lo, hi - lo))
    if dist == "inv_log_uniform_values":
        a_, b_ = -np.log(hi), -np.log(lo)
        return np.exp(-stats.uniform.ppf(1 - u, a_, b_ - a_))
    if dist == "q_log_uniform":
        return _q(np.exp(stats.uniform.ppf(u, lo, hi - lo)), q)
    if dist == "q_log_uniform_values":
        return _q(np.exp(stats.uniform.ppf(u, np.log(lo), np.log(hi) - np.log(lo))), q)
    if dist == "normal":
        return stats.norm.ppf(u, loc=mu, scale=sigma)
    if dist == "q_normal":
        return _q(stats.norm.ppf(u, loc=mu, scale=sigma), q)
    if dist == "log_normal":
        return stats.lognorm.ppf(u, s=sigma, scale=np.exp(mu))
    if dist == "q_log_normal":
        return _q(stats.lognorm.ppf(u, s=sigma, scale=np.exp(mu)), q)
    if dist == "beta":
        return stats.beta.ppf(u, a=a, b=b)
    if dist == "q_beta":
        return _q(stats.beta.ppf(u, a=a, b=b), q)
    raise AssertionError(dist)


WANDB_CASES: list[tuple[str, dict[str, Any]]] = [
    ("uniform", {"min": -2.0, "max": 3.0}),
    ("int_uniform", {"min": -3, "max": 7}),
    ("q_uniform", {"min": 0, "max": 10, "q": 2}),
    ("q_uniform", {"min": 0.0, "max": 1.0, "q": 0.1}),
    ("q_uniform", {"min": 0.0, "max": 5.0}),  # default q is 1.0, a float
    ("log_uniform", {"min": -9.2, "max": -2.3}),
    ("log_uniform_values", {"min": 1e-4, "max": 0.1}),
    ("inv_log_uniform", {"min": 2.3, "max": 9.2}),
    ("inv_log_uniform_values", {"min": 1e-4, "max": 0.1}),
    ("q_log_uniform", {"min": 0.0, "max": 6.9, "q": 4}),
    ("q_log_uniform_values", {"min": 1, "max": 1000, "q": 8}),
    ("q_log_uniform_values", {"min": 0.01, "max": 1.0, "q": 0.05}),
    ("normal", {"mu": 2.0, "sigma": 3.0}),
    ("normal", {}),
    ("q_normal", {"mu": 0.0, "sigma": 10.0, "q": 5}),
    ("log_normal", {"mu": 0.5, "sigma": 0.7}),
    ("q_log_normal", {"mu": 2.0, "sigma": 0.5, "q": 0.5}),
    ("beta", {"a": 2.0, "b": 5.0}),
    ("q_beta", {"a": 0.5, "b": 0.5, "q": 0.1}),
    ("categorical", {"values": [1, 5, 9]}),
    ("categorical_w_probabilities", {"values": [1, 2, 3], "probabilities": [0.2, 0.5, 0.3]}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("dist", "config"), WANDB_CASES, ids=lambda v: str(v))
def test_wandb_sampling_matches_wandb_formula(dist: str, config: dict[str, Any]) -> None:
    param = one({"distribution": dist, **config})
    # Rounded alike: W&B's 3 * 0.1 is 0.30000000000000004 where ours is 0.3 (same point, same distribution).
    ours = np.round(np.array(draw(param), dtype=float), 9)
    theirs = np.round(wandb_ppf(dist, config, np.random.default_rng(1).uniform(size=N)).astype(float), 9)
    assert stats.ks_2samp(ours, theirs).pvalue > 0.001
    # Same support: every value we draw is one W&B can draw (up to float noise) and the ranges agree.
    assert ours.min() >= theirs.min() - 0.05 * (np.ptp(theirs) + 1e-12) or dist.endswith("normal")
    assert ours.max() <= theirs.max() + 0.05 * (np.ptp(theirs) + 1e-12) or dist.endswith("normal")


@pytest.mark.parametrize(
    ("dist", "config", "kind"),
    [
        ("q_uniform", {"min": 0, "max": 10, "q": 2}, int),
        ("q_uniform", {"min": 0, "max": 10, "q": 2.5}, float),
        ("q_uniform", {"min": 0, "max": 10}, float),  # W&B's default q is 1.0
        ("q_log_uniform_values", {"min": 1, "max": 1000, "q": 8}, int),
        ("q_log_uniform", {"min": 0, "max": 5, "q": 3}, int),
        ("q_normal", {"mu": 0, "sigma": 10, "q": 5}, int),
        ("q_normal", {"q": 0.25}, float),
        ("q_log_normal", {"q": 2}, int),
        ("q_beta", {"a": 2, "b": 2, "q": 0.1}, float),
    ],
)
def test_q_variants_are_multiples_of_q(dist: str, config: dict[str, Any], kind: type) -> None:
    q = config.get("q", 1.0)
    values = draw(one({"distribution": dist, **config}), n=500)
    assert all(type(v) is kind for v in values)
    assert all(math.isclose(v / q, round(v / q), abs_tol=1e-6) for v in values)


def test_int_uniform_draws_ints_including_both_bounds() -> None:
    values = draw(one({"distribution": "int_uniform", "min": 1, "max": 3}), n=300)
    assert set(values) == {1, 2, 3}
    assert all(type(v) is int for v in values)


def test_categorical_strings_follow_probabilities() -> None:
    param = one({"values": ["a", "b", "c"], "probabilities": [0.1, 0.6, 0.3]})
    counts = Counter(draw(param))
    for value, p in zip("abc", (0.1, 0.6, 0.3), strict=True):
        assert abs(counts[value] / N - p) < 0.03


# -------------------------------------------------------------------------------------------------------
# W&B: types and bounds


_FIELDS = ("value", "values", "low", "high", "log", "q", "family", "mu", "sigma", "a", "b", "step")


def test_wandb_types_and_bounds() -> None:
    e = math.exp
    cases: list[tuple[dict[str, Any], Parameter]] = [
        ({"distribution": "constant", "value": [1, 2]}, Constant("x", value=[1, 2])),
        ({"distribution": "categorical", "values": ["a", "b"]}, Choice("x", values=("a", "b"))),
        ({"distribution": "int_uniform", "min": 2, "max": 9}, Int("x", low=2, high=9)),
        ({"distribution": "uniform", "min": 1, "max": 2}, Float("x", low=1.0, high=2.0)),
        ({"distribution": "log_uniform", "min": -5, "max": 0}, Float("x", low=e(-5), high=1.0, log=True)),
        (
            {"distribution": "log_uniform_values", "min": 1e-5, "max": 1},
            Float("x", low=1e-5, high=1, log=True),
        ),
        (
            {"distribution": "inv_log_uniform", "min": 1, "max": 4},
            Float("x", low=e(-4), high=e(-1), log=True),
        ),
        (
            {"distribution": "inv_log_uniform_values", "min": 0.1, "max": 2},
            Float("x", low=0.1, high=2, log=True),
        ),
        ({"distribution": "q_uniform", "min": 0, "max": 4, "q": 2}, Quantized("x", low=0, high=4, q=2)),
        (
            {"distribution": "q_log_uniform", "min": 0, "max": 2, "q": 1},
            Quantized("x", low=1.0, high=e(2), q=1, log=True, family="q_log_uniform"),
        ),
        (
            {"distribution": "q_log_uniform_values", "min": 1, "max": 64, "q": 4},
            Quantized("x", low=1, high=64, q=4, log=True, family="q_log_uniform_values"),
        ),
        ({"distribution": "normal", "mu": 1, "sigma": 2}, Quantile("x", family="normal", mu=1, sigma=2)),
        ({"distribution": "q_normal", "q": 3}, Quantile("x", family="normal", q=3)),
        ({"distribution": "log_normal", "mu": -1}, Quantile("x", family="log_normal", mu=-1)),
        ({"distribution": "q_log_normal"}, Quantile("x", family="log_normal", q=1.0)),
        ({"distribution": "beta", "a": 2, "b": 3}, Quantile("x", family="beta", a=2, b=3)),
        ({"distribution": "q_beta", "q": 0.5}, Quantile("x", family="beta", q=0.5)),
    ]
    for entry, expected in cases:
        got = one(entry)
        assert type(got) is type(expected), entry
        for field in _FIELDS:
            if hasattr(expected, field):
                want, have = getattr(expected, field), getattr(got, field)
                if isinstance(want, float):
                    assert have == pytest.approx(want, rel=1e-12), (entry, field)
                else:
                    assert have == want, (entry, field)


def test_wandb_defaults_match_its_schema() -> None:
    normal = one({"distribution": "normal"})
    assert isinstance(normal, Quantile) and (normal.mu, normal.sigma, normal.q) == (0.0, 1.0, None)
    qn = one({"distribution": "q_normal"})
    assert isinstance(qn, Quantile) and qn.q == 1.0 and isinstance(qn.q, float)
    beta = one({"distribution": "beta"})
    assert isinstance(beta, Quantile) and (beta.a, beta.b) == (1.0, 1.0)
    qu = one({"distribution": "q_uniform", "min": 0, "max": 3})
    assert isinstance(qu, Quantized) and qu.q == 1.0 and isinstance(qu.q, float)


def test_wandb_inference_without_distribution() -> None:
    assert isinstance(one({"value": 3}), Constant)
    choice = one({"values": [1, 2]})
    assert isinstance(choice, Choice) and choice.values == (1, 2) and choice.probabilities is None
    weighted = one({"values": ["a", "b"], "probabilities": [0.25, 0.75]})
    assert isinstance(weighted, Choice) and weighted.probabilities == (0.25, 0.75)
    ints = one({"min": 1, "max": 5})
    assert isinstance(ints, Int) and (ints.low, ints.high) == (1, 5)
    floats = one({"min": 1, "max": 5.0})
    assert isinstance(floats, Float) and (floats.low, floats.high, floats.log) == (1.0, 5.0, False)
    from_strings = one({"min": "1", "max": "10"})
    assert isinstance(from_strings, Int) and from_strings.high == 10
    normal = one({"mu": 1, "sigma": 0.5})
    assert isinstance(normal, Quantile) and (normal.family, normal.mu, normal.sigma) == ("normal", 1.0, 0.5)
    # `distribution: categorical` with probabilities is read as the weighted form.
    assert one({"distribution": "categorical", "values": [1, 2], "probabilities": [0.5, 0.5]}).probabilities


def test_numeric_strings_are_numbers_but_values_stay_as_written() -> None:
    lr = one({"distribution": "log_uniform_values", "min": "1e-5", "max": "1e-1"})
    assert isinstance(lr, Float) and lr.low == 1e-5 and lr.high == 0.1
    choice = one({"values": ["1e-5", "1e-4"]})
    assert isinstance(choice, Choice) and choice.values == ("1e-5", "1e-4")
    q = one({"distribution": "q_uniform", "min": "0", "max": "8", "q": "2"})
    assert isinstance(q, Quantized) and q.q == 2 and isinstance(q.q, int)


def test_nested_parameters_flatten_to_dotted_names() -> None:
    params = parse_parameters(
        {
            "epochs": 10,
            "optimizer": {
                "parameters": {
                    "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                    "betas": {"parameters": {"b1": {"values": [0.9, 0.95]}, "b2": 0.999}},
                    "name": {"values": ["adam", "sgd"]},
                }
            },
            "batch": [16, 32],
        },
        file=FILE,
    )
    assert [p.name for p in params] == [
        "epochs",
        "optimizer.lr",
        "optimizer.betas.b1",
        "optimizer.betas.b2",
        "optimizer.name",
        "batch",
    ]
    point = SearchSpace(tuple(params)).sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask())
    assert nest(point)["optimizer"]["betas"]["b2"] == 0.999


def test_a_dotted_name_is_one_flat_key_as_in_wandb() -> None:
    params = parse_parameters(
        {
            "optimizer.init_args.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
            "model": {"parameters": {"d_model": [64, 128], "head.dropout": 0.1}},
            "data.variant": {"values": ["small", "big"]},
            "warmup": {"value": 5, "when": "data.variant == 'big' and model.d_model > 64"},
        },
        file=FILE,
    )
    names = ["optimizer.init_args.lr", "model.d_model", "model.head.dropout", "data.variant", "warmup"]
    assert [p.name for p in params] == names  # one name per parameter, as `when`, the store and CSV see it
    space = SearchSpace(tuple(params))
    point = space.sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask())
    nested = space.nest(point)
    warmup = ["warmup"] if "warmup" in point else []
    assert list(nested) == ["optimizer.init_args.lr", "model", "data.variant", *warmup]
    assert nested["model"] == {"d_model": point["model.d_model"], "head.dropout": 0.1}
    assert nested["optimizer.init_args.lr"] == point["optimizer.init_args.lr"]
    assert nest(point)["optimizer"]["init_args"]["lr"] == point["optimizer.init_args.lr"]  # no space: every dot nests


def test_nested_section_when_applies_to_children() -> None:
    params = parse_parameters(
        {
            "use_opt": [True, False],
            "opt": {
                "when": "use_opt",
                "parameters": {
                    "lr": {"min": 0.0, "max": 1.0},
                    "mom": {"values": [0.5], "when": "opt.lr > 0.5"},
                },
            },
        },
        file=FILE,
    )
    lr, mom = params[1], params[2]
    assert lr.when is not None and lr.when.text == "use_opt"
    assert isinstance(mom.when, AllOf) and mom.when.names == {"use_opt", "opt.lr"}
    assert mom.when.text == "(use_opt) and (opt.lr > 0.5)"
    space = SearchSpace(tuple(params))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(200):
        point = space.sample(study.ask())
        assert ("opt.lr" in point) == point["use_opt"]
        assert ("opt.mom" in point) == (point["use_opt"] and point["opt.lr"] > 0.5)


# -------------------------------------------------------------------------------------------------------
# Optuna / Ray Tune / hyperopt


def test_optuna_style_types() -> None:
    f = one({"type": "float", "low": 0, "high": 1})
    assert isinstance(f, Float) and (f.low, f.high, f.log, f.step) == (0.0, 1.0, False, None)
    f = one({"type": "float", "low": "1e-5", "high": "1e-2", "log": True})
    assert isinstance(f, Float) and f.log and f.low == 1e-5
    f = one({"type": "float", "low": 0, "high": 1, "step": 0.25})
    assert isinstance(f, Float) and f.step == 0.25 and f.grid() == (0.0, 0.25, 0.5, 0.75, 1.0)
    for kind in ("uniform",):
        u = one({"type": kind, "min": -1, "max": 1})
        assert isinstance(u, Float) and not u.log and (u.low, u.high) == (-1.0, 1.0)
    for kind in ("loguniform", "log_uniform"):
        lg = one({"type": kind, "lower": 1e-3, "upper": 1})
        assert isinstance(lg, Float) and lg.log and (lg.low, lg.high) == (1e-3, 1.0)
    i = one({"type": "int", "low": 1, "high": 10, "step": 3})
    assert isinstance(i, Int) and (i.low, i.high, i.step, i.log) == (1, 10, 3, False)
    assert i.grid() == (1, 4, 7, 10)
    i = one({"type": "int", "low": 1, "high": 1024, "log": True})
    assert isinstance(i, Int) and i.log and i.high == 1024
    for kind in ("logint", "loguniform_int"):
        i = one({"type": kind, "low": 2, "high": 64})
        assert isinstance(i, Int) and i.log and (i.low, i.high) == (2, 64)
    for kind in ("choice", "categorical"):
        assert one({"type": kind, "choices": ["a", "b"]}).values == ("a", "b")  # type: ignore[attr-defined]
        assert one({"type": kind, "values": [1]}).values == (1,)  # type: ignore[attr-defined]
    qu = one({"type": "quniform", "low": 0, "high": 10, "q": 2})
    assert isinstance(qu, Quantized) and not qu.log and qu.q == 2
    assert all(isinstance(v, float) and v % 2 == 0 for v in draw(qu, n=200))  # hyperopt/Ray: always floats
    ql = one({"type": "qloguniform", "low": 1, "high": 100, "q": 5})
    assert isinstance(ql, Quantized) and ql.log
    for kind in ("normal", "randn"):
        n = one({"type": kind, "mean": 3, "sd": 2})
        assert isinstance(n, Quantile) and (n.mu, n.sigma) == (3.0, 2.0)
        n = one({"type": kind, "mu": 1, "sigma": 4})
        assert isinstance(n, Quantile) and (n.mu, n.sigma) == (1.0, 4.0)
    assert one({"type": "randn"}).sigma == 1.0  # type: ignore[attr-defined]
    for kind in ("const", "constant"):
        c = one({"type": kind, "value": "relu"})
        assert isinstance(c, Constant) and c.value == "relu"


def test_ray_randint_upper_bound_is_exclusive() -> None:
    r = one({"type": "randint", "low": 0, "high": 3})
    assert isinstance(r, Int) and (r.low, r.high) == (0, 2) and r.grid() == (0, 1, 2)
    assert set(draw(r, n=300)) == {0, 1, 2}
    lr = one({"type": "lograndint", "lower": 1, "upper": 100})
    assert isinstance(lr, Int) and lr.log and (lr.low, lr.high) == (1, 99)


def test_optuna_style_keys_without_type_are_inferred() -> None:
    i = one({"low": 1, "high": 8})
    assert isinstance(i, Int) and (i.low, i.high) == (1, 8)
    f = one({"min": 1e-5, "max": 1e-1, "log": True})
    assert isinstance(f, Float) and f.log
    s = one({"low": 0, "high": 1, "step": 0.5})
    assert isinstance(s, Float) and s.step == 0.5
    c = one({"choices": [1, 2]})
    assert isinstance(c, Choice)


def test_optuna_float_samples_match_numpy() -> None:
    values = np.array(draw(one({"type": "loguniform", "low": "1e-5", "high": 1})))
    reference = np.exp(np.random.default_rng(2).uniform(np.log(1e-5), 0, size=N))
    assert stats.ks_2samp(values, reference).pvalue > 0.001


# -------------------------------------------------------------------------------------------------------
# NNI


def test_nni_types() -> None:
    c = one({"_type": "choice", "_value": [1, "a", None]})
    assert isinstance(c, Choice) and c.values == (1, "a", None)
    r = one({"_type": "randint", "_value": [2, 5]})
    assert isinstance(r, Int) and (r.low, r.high) == (2, 4)
    old = one({"_type": "randint", "_value": [3]})
    assert isinstance(old, Int) and (old.low, old.high) == (0, 2)
    u = one({"_type": "uniform", "_value": [0.1, 0.5]})
    assert isinstance(u, Float) and (u.low, u.high, u.log) == (0.1, 0.5, False)
    lg = one({"_type": "loguniform", "_value": ["1e-4", 1e-1]})
    assert isinstance(lg, Float) and lg.log and lg.low == 1e-4
    for kind, family, q in [
        ("normal", "normal", None),
        ("qnormal", "normal", 0.5),
        ("lognormal", "log_normal", None),
        ("qlognormal", "log_normal", 2.0),
    ]:
        value = [1, 2] if q is None else [1, 2, q]
        p = one({"_type": kind, "_value": value})
        assert isinstance(p, Quantile) and (p.family, p.mu, p.sigma, p.q) == (family, 1.0, 2.0, q)


def test_nni_randint_excludes_upper() -> None:
    assert set(draw(one({"_type": "randint", "_value": [0, 3]}), n=300)) == {0, 1, 2}


def test_nni_quniform_clips_into_bounds() -> None:
    q = one({"_type": "quniform", "_value": [2, 10, 5]})
    assert isinstance(q, Quantized) and q.clip == (2.0, 10.0)
    assert q.grid() == (2.0, 5.0, 10.0)
    values = draw(q, n=600)
    assert set(values) == {2.0, 5.0, 10.0}
    assert all(isinstance(v, float) for v in values)  # NNI's quantized values are always floats
    # Without the clip, round(U(2, 10) / 5) * 5 would give 0 for x < 2.5: clipping moves those to 2.
    counts = Counter(values)
    assert abs(counts[2.0] / 600 - 0.5 / 8) < 0.04
    ql = one({"_type": "qloguniform", "_value": [1, 100, 30]})
    assert isinstance(ql, Quantized) and ql.log and ql.clip == (1.0, 100.0)
    assert set(draw(ql, n=400)) <= {1.0, 30.0, 60.0, 90.0, 100.0}


NNI_NESTED = {
    "layer": {
        "_type": "choice",
        "_value": [
            {"_name": "Empty"},
            {"_name": "Conv", "kernel_size": {"_type": "choice", "_value": [1, 3, 5]}},
            {"_name": "Max_pool", "pooling_size": {"_type": "choice", "_value": [2, 3]}},
            {"_name": "Avg_pool", "pooling_size": {"_type": "choice", "_value": [2, 3]}},
        ],
    },
    "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
}


def test_nni_nested_choice() -> None:
    params = parse_parameters(NNI_NESTED, file=FILE)
    assert [p.name for p in params] == ["layer._name", "layer.kernel_size", "layer.pooling_size", "lr"]
    names, kernel, pooling = params[:3]
    assert isinstance(names, Choice) and names.values == ("Empty", "Conv", "Max_pool", "Avg_pool")
    assert isinstance(kernel.when, ChoiceIs) and kernel.when.text == "layer._name == 'Conv'"
    assert pooling.when is not None and pooling.when.text == "layer._name in ['Max_pool', 'Avg_pool']"
    assert pooling.when.names == {"layer._name"}
    space = SearchSpace(tuple(params))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = Counter()
    for _ in range(300):
        point = space.sample(study.ask())
        chosen = point["layer._name"]
        seen[chosen] += 1
        assert ("layer.kernel_size" in point) == (chosen == "Conv")
        assert ("layer.pooling_size" in point) == (chosen in ("Max_pool", "Avg_pool"))
        if chosen == "Conv":
            assert nest(point)["layer"] == {"_name": "Conv", "kernel_size": point["layer.kernel_size"]}
    assert set(seen) == {"Empty", "Conv", "Max_pool", "Avg_pool"}
    # Conditions travel to worker processes.
    restored = pickle.loads(pickle.dumps(params))
    assert restored[2].when.evaluate({"layer._name": "Avg_pool"}) is True
    assert restored[2].when.evaluate({"layer._name": "Conv"}) is False


def test_nni_nested_choice_with_differing_shared_subparameter() -> None:
    bad = {
        "layer": {
            "_type": "choice",
            "_value": [
                {"_name": "a", "size": {"_type": "choice", "_value": [1, 2]}},
                {"_name": "b", "size": {"_type": "choice", "_value": [3]}},
            ],
        }
    }
    fails(bad, "parameters.layer._value[1].size", 'both define "size", differently')


def test_nni_nested_choice_errors() -> None:
    fails(
        {"m": {"_type": "choice", "_value": [{"_name": "a"}, 3]}},
        "parameters.m._value[1]",
        'every option must be a mapping with "_name"',
    )
    fails(
        {"m": {"_type": "choice", "_value": [{"_name": "a"}, {"_name": "a"}]}},
        "parameters.m._value[1]._name",
        "unique",
    )
    fails(
        {"m": {"_type": "choice", "_value": [{"_name": 1}]}},
        "parameters.m._value[0]._name",
        "non-empty string",
    )


# -------------------------------------------------------------------------------------------------------
# Native shorthands, when and expr


def test_shorthands() -> None:
    params = parse_parameters(
        {"a": [1, 2, 3], "b": 0.5, "c": "relu", "d": True, "e": None, "f": [[1, 2], {"k": 1}]}, file=FILE
    )
    a, b, c, d, e, f = params
    assert isinstance(a, Choice) and a.values == (1, 2, 3)
    assert [type(p) for p in (b, c, d, e)] == [Constant] * 4
    assert [p.value for p in (b, c, d, e)] == [0.5, "relu", True, None]  # type: ignore[attr-defined]
    assert isinstance(f, Choice) and f.values == ([1, 2], {"k": 1})
    assert one({"value": 3, "description": "why", "desc": "short"}).value == 3  # type: ignore[attr-defined]


def test_when_and_expr() -> None:
    params = parse_parameters(
        {
            "loss": ["ce", "focal"],
            "gamma": {"min": 0.5, "max": 5.0, "when": "loss == 'focal'"},
            "hidden": {"expr": "width * 4", "when": "width > 1"},  # reads a parameter declared later
            "width": {"values": [1, 2, 8]},
        },
        file=FILE,
    )
    loss, gamma, hidden, width = params
    assert gamma.when is not None and gamma.when.names == {"loss"}
    assert isinstance(hidden, Derived) and hidden.expr is not None and hidden.expr.names == {"width"}
    assert hidden.reads == {"width"}
    space = SearchSpace((loss, gamma, width, hidden))  # dependencies first (the space's loader sorts)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(100):
        point = space.sample(study.ask())
        assert ("gamma" in point) == (point["loss"] == "focal")
        if point["width"] > 1:
            assert point["hidden"] == point["width"] * 4
        else:
            assert "hidden" not in point


def test_parse_parameter_single_entry() -> None:
    params = parse_parameter(
        "opt", {"parameters": {"lr": {"min": 0.1, "max": 1.0}, "m": 0.9}}, file=FILE, key="parameters.opt"
    )
    assert [p.name for p in params] == ["opt.lr", "opt.m"]
    # Without known names, expressions are not checked against names; with them, they are.
    assert parse_parameter("y", {"expr": "other + 1"}, file=FILE, key="parameters.y")[0].reads == {"other"}
    with pytest.raises(SpecError) as info:
        parse_parameter("y", {"expr": "othr + 1"}, file=FILE, key="parameters.y", known_names=["other"])
    assert info.value.key == "parameters.y.expr" and 'did you mean "other"' in info.value.message


def test_custom_section_key() -> None:
    with pytest.raises(SpecError) as info:
        parse_parameters({"lr": {"min": 1, "max": 0}}, file=FILE, key="search_space")
    assert info.value.key == "search_space.lr.max"


# -------------------------------------------------------------------------------------------------------
# Errors: exact key path and a fragment of the message


@pytest.mark.parametrize(
    ("params", "key", "fragment"),
    [
        # unknown keys, with a did-you-mean
        ({"learning_rate": {"min": 0, "mx": 1.0}}, "parameters.learning_rate.mx", 'did you mean "max"'),
        ({"x": {"distribution": "uniform", "min": 0, "mx": 1}}, "parameters.x.mx", 'unknown key "mx"'),
        ({"x": {"valeus": [1, 2]}}, "parameters.x.valeus", 'did you mean "values"'),
        ({"x": {"type": "float", "low": 0, "hgh": 1}}, "parameters.x.hgh", 'did you mean "high"'),
        ({"x": {"_type": "choice", "_valeu": [1]}}, "parameters.x._valeu", 'did you mean "_value"'),
        ({"x": {"distribution": "uniform", "min": 0, "max": 1, "q": 1}}, "parameters.x.q", "does not apply"),
        ({"x": {"min": 0, "max": 10, "q": 2}}, "parameters.x.q", "does not apply"),
        ({"x": {"description": "nothing else"}}, "parameters.x", "cannot tell what kind of parameter"),
        # unknown distribution names
        ({"x": {"distribution": "unifrom", "min": 0, "max": 1}}, "parameters.x.distribution", '"uniform"?'),
        ({"x": {"distribution": "loguniform"}}, "parameters.x.distribution", "log_uniform_values"),
        ({"x": {"distribution": 3}}, "parameters.x.distribution", "expected the name of a distribution"),
        ({"x": {"type": "randit", "low": 0, "high": 2}}, "parameters.x.type", 'did you mean "randint"'),
        ({"x": {"_type": "quniformm", "_value": [0, 1, 1]}}, "parameters.x._type", 'did you mean "quniform"'),
        ({"x": {"type": "int", "distribution": "int_uniform"}}, "parameters.x.type", "keep one"),
        ({"x": {"_value": [1, 2]}}, "parameters.x._type", 'without "_type"'),
        # bounds
        ({"learning_rate": {"min": 1.0, "max": 0.1}}, "parameters.learning_rate.max", "less than min"),
        ({"x": {"min": 5, "max": 1}}, "parameters.x.max", "less than min"),
        ({"x": {"distribution": "uniform", "min": 1, "max": 1}}, "parameters.x.max", "range is empty"),
        ({"x": {"distribution": "q_uniform", "min": 1, "max": 1}}, "parameters.x.max", "range is empty"),
        ({"x": {"type": "float", "low": 2, "high": 2}}, "parameters.x.high", "range is empty"),
        ({"x": {"type": "int", "low": 3, "high": 2}}, "parameters.x.high", "less than low"),
        ({"x": {"type": "randint", "low": 3, "high": 3}}, "parameters.x.high", "exclusive"),
        ({"x": {"_type": "randint", "_value": [3, 3]}}, "parameters.x._value[1]", "exclusive"),
        ({"x": {"_type": "uniform", "_value": [1, 0]}}, "parameters.x._value[1]", "greater than low"),
        ({"x": {"distribution": "uniform", "min": 0}}, "parameters.x.max", 'missing "max"'),
        ({"x": {"type": "float", "low": 0}}, "parameters.x.high", 'missing "high"'),
        ({"x": {"type": "quniform", "low": 0, "high": 1}}, "parameters.x.q", 'missing "q"'),
        ({"x": {"distribution": "int_uniform", "min": 0.5, "max": 3}}, "parameters.x.min", "whole number"),
        ({"x": {"type": "float", "low": 0, "min": 0, "high": 1}}, "parameters.x.min", "keep one"),
        ({"x": {"distribution": "log_uniform", "min": 0, "max": 1000}}, "parameters.x.max", "exponent"),
        # empty lists
        ({"x": {"values": []}}, "parameters.x.values", "empty"),
        ({"x": {"type": "choice", "choices": []}}, "parameters.x.choices", "empty"),
        ({"x": {"_type": "choice", "_value": []}}, "parameters.x._value", "empty"),
        ({"x": []}, "parameters.x", "empty list"),
        # log scales
        ({"x": {"distribution": "log_uniform_values", "min": 0, "max": 1}}, "parameters.x.min", "log scale"),
        (
            {"x": {"distribution": "q_log_uniform_values", "min": -1, "max": 1}},
            "parameters.x.min",
            "log scale",
        ),
        ({"x": {"type": "loguniform", "low": 0, "high": 1}}, "parameters.x.low", "log scale needs low > 0"),
        ({"x": {"type": "float", "low": -1, "high": 1, "log": True}}, "parameters.x.low", "log scale"),
        ({"x": {"type": "int", "low": 0, "high": 10, "log": True}}, "parameters.x.low", "log scale"),
        ({"x": {"_type": "loguniform", "_value": [0, 1]}}, "parameters.x._value[0]", "log scale"),
        ({"x": {"type": "float", "low": 1, "high": 2, "log": True, "step": 0.1}}, "parameters.x.step", "log"),
        ({"x": {"type": "int", "low": 1, "high": 9, "log": True, "step": 2}}, "parameters.x.step", "log"),
        # step / q / sigma / a / b
        ({"x": {"type": "float", "low": 0, "high": 1, "step": 0}}, "parameters.x.step", "step must be > 0"),
        ({"x": {"type": "int", "low": 0, "high": 9, "step": -1}}, "parameters.x.step", "step must be > 0"),
        ({"x": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}}, "parameters.x.q", "q must be > 0"),
        ({"x": {"type": "quniform", "low": 0, "high": 1, "q": -2}}, "parameters.x.q", "q must be > 0"),
        ({"x": {"_type": "quniform", "_value": [0, 1, 0]}}, "parameters.x._value[2]", "q must be > 0"),
        ({"x": {"distribution": "normal", "sigma": 0}}, "parameters.x.sigma", "sigma must be > 0"),
        ({"x": {"type": "randn", "sd": -1}}, "parameters.x.sd", "must be > 0"),
        ({"x": {"_type": "normal", "_value": [0, 0]}}, "parameters.x._value[1]", "sigma must be > 0"),
        ({"x": {"distribution": "beta", "a": 0}}, "parameters.x.a", "a must be > 0"),
        # probabilities
        ({"x": {"values": [1, 2], "probabilities": [1.0]}}, "parameters.x.probabilities", "1 probabilities"),
        ({"x": {"values": [1, 2], "probabilities": [0.5, 0.6]}}, "parameters.x.probabilities", "sum to 1.1"),
        (
            {"x": {"values": [1, 2], "probabilities": [1.5, -0.5]}},
            "parameters.x.probabilities[1]",
            "negative",
        ),
        ({"x": {"values": [1, 2], "probabilities": 0.5}}, "parameters.x.probabilities", "expected a list"),
        (
            {"x": {"values": [1], "probabilities": ["a"]}},
            "parameters.x.probabilities[0]",
            "expected a number",
        ),
        # wrong types
        ({"x": {"min": "abc", "max": 1}}, "parameters.x.min", 'expected a number, found string "abc"'),
        ({"x": {"min": True, "max": 3}}, "parameters.x.min", "found boolean true"),
        ({"x": {"min": [0], "max": 3}}, "parameters.x.min", "found a list"),
        ({"x": {"min": 0, "max": float("inf")}}, "parameters.x.max", "finite"),
        ({"x": {"min": 0, "max": ".inf"}}, "parameters.x.max", "expected a number"),
        ({"x": {"values": {"a": 1}}}, "parameters.x.values", "expected a list of values, found a mapping"),
        ({"x": {"values": "abc"}}, "parameters.x.values", "expected a list"),
        ({"x": {"_type": "uniform", "_value": {"low": 0}}}, "parameters.x._value", "expected a list"),
        ({"x": {"_type": "uniform", "_value": [0]}}, "parameters.x._value", "takes [low, high]"),
        ({"x": {"_type": "uniform", "_value": [0, "hi"]}}, "parameters.x._value[1]", "expected a number"),
        ({"x": {"type": "float", "low": 0, "high": 1, "log": "yes"}}, "parameters.x.log", "true or false"),
        # a key written as null is a value of the wrong type, not a key left out
        ({"x": {"type": "float", "low": 0, "high": 1, "step": None}}, "parameters.x.step", "found null"),
        (
            {"x": {"distribution": "categorical", "values": [1, 2], "probabilities": None}},
            "parameters.x.probabilities",
            "expected a list of probabilities, found null",
        ),
        ({"x": {"when": 3, "value": 1}}, "parameters.x.when", "expected an expression"),
        ({"x": {1: 2}}, "parameters.x.1", "keys must be strings"),
        ({"x": {1, 2}}, "parameters.x", "found a set"),
        # expr
        ({"x": {"expr": "y * 2", "min": 0}, "y": 1}, "parameters.x.min", "cannot be combined"),
        ({"x": {"expr": "y * 2", "distribution": "uniform"}, "y": 1}, "parameters.x.distribution", "expr"),
        ({"x": {"expr": "y *", "when": "y > 0"}, "y": 1}, "parameters.x.expr", "invalid expression"),
        ({"x": {"expr": "wdth * 2"}, "width": 1}, "parameters.x.expr", 'did you mean "width"'),
        (
            {"x": {"values": [1], "when": "lss == 'a'"}, "loss": "a"},
            "parameters.x.when",
            'did you mean "loss"',
        ),
        ({"x": {"expr": "x + 1"}}, "parameters.x.expr", "refers to the parameter it belongs to"),
        ({"x": {"expr": "y", "exp": 1}, "y": 1}, "parameters.x.exp", 'did you mean "expr"'),
        # names
        ({"": 1}, "parameters", "cannot be empty"),
        ({"learning rate": 1}, "parameters.learning rate", "whitespace"),
        ({"o.p": 1, "o": {"parameters": {"p": 2}}}, "parameters.o.parameters.p", '"o.p" is defined twice'),
        ({1: 1}, "parameters.1", "must be strings"),
        # nested sections
        (
            {"optimizer": {"parameters": {"lr": {"min": 1.0, "max": 0.5}}}},
            "parameters.optimizer.parameters.lr.max",
            "less than min",
        ),
        (
            {"optimizer": {"parameters": {"lr": {"min": "x", "max": 0.5}}}},
            "parameters.optimizer.parameters.lr.min",
            "expected a number",
        ),
        ({"o": {"parameters": {}}}, "parameters.o.parameters", "empty"),
        ({"o": {"parameters": [1]}}, "parameters.o.parameters", "expected a mapping"),
        ({"o": {"parameters": {"a": 1}, "values": [1]}}, "parameters.o.values", "nested section"),
        ({"o": {"when": "zz", "parameters": {"a": 1}}}, "parameters.o.when", "unknown name"),
    ],
)
def test_errors(params: dict[Any, Any], key: str, fragment: str) -> None:
    fails(params, key, fragment)


def test_section_must_be_a_mapping() -> None:
    with pytest.raises(SpecError) as info:
        parse_parameters([1, 2], file=FILE)  # type: ignore[arg-type]
    assert info.value.key == "parameters" and "expected a mapping" in info.value.message


def test_error_message_names_file_and_key() -> None:
    err = fails({"lr": {"min": 1, "mx": 2}}, "parameters.lr.mx", "unknown key")
    assert str(err) == 'sweep.yaml: parameters.lr.mx: unknown key "mx" (did you mean "max"?)'


# -------------------------------------------------------------------------------------------------------
# Anything in, Parameters or SpecError out

_WORDS = [
    "distribution", "type", "_type", "_value", "_name", "min", "max", "low", "high", "values", "value",
    "choices", "probabilities", "q", "mu", "sigma", "a", "b", "log", "step", "parameters", "when", "expr",
    "uniform", "int_uniform", "log_uniform", "q_normal", "categorical", "choice", "randint", "quniform",
    "normal", "beta", "float", "int", "1e-5", "x", "x > 1", "a.b", "",
]  # fmt: skip

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.integers(min_value=-5, max_value=5)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(_WORDS)
    | st.text(max_size=6)
)
_keys = st.sampled_from(_WORDS) | st.text(max_size=4) | st.integers(min_value=0, max_value=3)
_structures = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _structures, max_size=4))
def test_any_structure_parses_or_raises_spec_error(raw: dict[Any, Any]) -> None:
    try:
        params = parse_parameters(raw, file=FILE)
    except SpecError as err:
        assert err.key is not None and err.message
        return
    assert all(isinstance(p, Parameter) for p in params)
    assert len({p.name for p in params}) == len(params)
