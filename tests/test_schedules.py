"""Tests for gradlab.schedules.

Every schedule is checked against two independent oracles over a grid of steps that includes its
boundaries and runs past its end: optax 0.2.8 (for the schedules optax has, with the same name and
arguments) and its closed form written out by hand below in plain Python ``math`` (float64).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradlab import schedules

# ----------------------------------------------------------------------------------------------
# Closed forms, one scalar function per schedule, written from the formulas (float64, `math`).
# ----------------------------------------------------------------------------------------------


def ramp(t, start, end, steps):
    """Linear warm-up from ``start`` to ``end`` over ``steps``; ``end`` afterwards."""
    return end if t >= steps else start + (end - start) * t / steps


def ref_constant(t, value):
    return value


def ref_polynomial(t, init_value, end_value, power, transition_steps, transition_begin=0):
    k = t - transition_begin
    if k < 0:
        return init_value
    if k >= transition_steps:
        return end_value
    return (init_value - end_value) * (1 - k / transition_steps) ** power + end_value


def ref_linear(t, init_value, end_value, transition_steps, transition_begin=0):
    k, tau = t - transition_begin, transition_steps  # Goodfellow et al. §8.3.1
    if k < 0:
        return init_value
    if k > tau:
        return end_value
    return (1 - k / tau) * init_value + (k / tau) * end_value


def ref_piecewise_constant(t, init_value, boundaries_and_scales=None):
    value = init_value
    for boundary, scale in sorted((boundaries_and_scales or {}).items()):
        if t >= boundary:
            value *= scale
    return value


def ref_exponential(
    t, init_value, transition_steps, decay_rate, transition_begin=0, staircase=False, end_value=None
):
    if t <= transition_begin:
        value = init_value
    else:
        p = (t - transition_begin) / transition_steps
        value = init_value * decay_rate ** (math.floor(p) if staircase else p)
    if end_value is not None:
        value = max(value, end_value) if decay_rate < 1 else min(value, end_value)
    return value


def ref_cosine_decay(t, init_value, decay_steps, alpha=0.0, exponent=1.0):
    if t >= decay_steps:
        return alpha * init_value
    cosine = 0.5 * (1 + math.cos(math.pi * t / decay_steps))
    return init_value * ((1 - alpha) * cosine**exponent + alpha)


def ref_warmup_cosine(
    t, init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0
):
    if t < warmup_steps:
        return ramp(t, init_value, peak_value, warmup_steps)
    s, length = t - warmup_steps, decay_steps - warmup_steps
    if s >= length:
        return end_value
    cosine = 0.5 * (1 + math.cos(math.pi * s / length))
    return end_value + (peak_value - end_value) * cosine**exponent


def ref_warmup_exponential(
    t,
    init_value,
    peak_value,
    warmup_steps,
    transition_steps,
    decay_rate,
    transition_begin=0,
    staircase=False,
    end_value=None,
):
    if t < warmup_steps:
        return ramp(t, init_value, peak_value, warmup_steps)
    return ref_exponential(
        t - warmup_steps,
        peak_value,
        transition_steps,
        decay_rate,
        transition_begin,
        staircase,
        end_value,
    )


def ref_warmup_constant(t, init_value, peak_value, warmup_steps):
    return ramp(t, init_value, peak_value, warmup_steps)


def ref_sgdr(t, cosine_kwargs):
    start = 0
    for i, kwargs in enumerate(cosine_kwargs):
        if t < start + kwargs["decay_steps"] or i == len(cosine_kwargs) - 1:
            return ref_warmup_cosine(t - start, **kwargs)
        start += kwargs["decay_steps"]
    raise AssertionError("unreachable")


def ref_piecewise_interpolate(t, interpolate_type, init_value, boundaries_and_scales=None):
    bounds, values = [0], [init_value]
    for boundary, scale in sorted((boundaries_and_scales or {}).items()):
        bounds.append(boundary)
        values.append(values[-1] * scale)
    if t >= bounds[-1]:
        return values[-1]
    for i in range(len(bounds) - 1):
        if bounds[i] <= t < bounds[i + 1]:
            pct = (t - bounds[i]) / max(bounds[i + 1] - bounds[i], 1)
            start, end = values[i], values[i + 1]
            if interpolate_type == "linear":
                return start + (end - start) * pct
            return end + (start - end) * (1 + math.cos(math.pi * pct)) / 2
    raise AssertionError("unreachable")


def cos_anneal(start, end, pct):
    """Half-cosine from ``start`` (pct = 0) to ``end`` (pct = 1), as in Smith & Topin."""
    return end + (start - end) * (1 + math.cos(math.pi * pct)) / 2


def ref_cosine_onecycle(
    t, transition_steps, peak_value, pct_start=0.3, div_factor=25.0, final_div_factor=1e4
):
    top, low = int(pct_start * transition_steps), peak_value / div_factor
    final = low / final_div_factor
    if t < top:
        return cos_anneal(low, peak_value, t / top)
    if t < transition_steps:
        return cos_anneal(peak_value, final, (t - top) / (transition_steps - top))
    return final


def ref_linear_onecycle(
    t,
    transition_steps,
    peak_value,
    pct_start=0.3,
    pct_final=0.85,
    div_factor=25.0,
    final_div_factor=1e4,
):
    b1, b2 = int(pct_start * transition_steps), int(pct_final * transition_steps)
    low = peak_value / div_factor
    final = low / final_div_factor
    if t < b1:  # phase 1: up
        return low + (peak_value - low) * t / b1
    if t < b2:  # phase 2: back down
        return peak_value + (low - peak_value) * (t - b1) / (b2 - b1)
    if t < transition_steps:  # phase 3: annihilation
        return low + (final - low) * (t - b2) / (transition_steps - b2)
    return final


def ref_inverse_time(t, init_value, decay_rate, transition_steps=1, staircase=False):
    p = t / transition_steps
    return init_value / (1 + decay_rate * (math.floor(p) if staircase else p))


def ref_cyclic(t, base_value, max_value, step_size, mode="triangular", gamma=1.0):
    # Smith (2017), Alg. 1, and the scale functions of its triangular2 / exp_range variants.
    cycle = math.floor(1 + t / (2 * step_size))
    x = abs(t / step_size - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**t}[mode]
    return base_value + (max_value - base_value) * max(0.0, 1 - x) * scale


def ref_linear_warmup(t, inner, warmup_steps, init_value=0.0):
    if t < warmup_steps:
        return init_value + (inner(0) - init_value) * t / warmup_steps
    return inner(t - warmup_steps)


# ----------------------------------------------------------------------------------------------
# The table: one row per (schedule, arguments), parametrizing every test below.
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Any], Callable]  # module (gradlab.schedules or optax) -> schedule
    ref: Callable[[float], float]  # closed form, float64
    horizon: int  # the sparse grid spans [0, max(2 * horizon, N_SPARSE)]
    marks: tuple[int, ...] = ()  # boundaries: the grid holds b - 1, b and b + 1
    in_optax: bool = True
    name: str = ""  # the function under test


def case(id_, name, ref, horizon, marks=(), in_optax=True, **kwargs):
    """A row that calls ``name(**kwargs)`` in gradlab (and optax) and ``ref(t, **kwargs)``."""

    def build(m, name=name, kwargs=kwargs):
        return getattr(m, name)(**kwargs)

    ref = functools.partial(ref, **kwargs)
    return Case(id_, build, ref, horizon, tuple(marks), in_optax, name)


SGDR_CYCLES = [
    dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=30),
    dict(init_value=0.1, peak_value=0.5, warmup_steps=0, decay_steps=20, end_value=0.05),
    dict(init_value=0.2, peak_value=0.8, warmup_steps=4, decay_steps=16, exponent=2.0),
]


def build_join(m):
    pieces = [m.constant_schedule(1.0), m.linear_schedule(1.0, 0.0, 30)]
    return m.join_schedules([*pieces, m.cosine_decay_schedule(0.5, 20)], [20, 40])


def ref_join(t):
    if t < 20:
        return 1.0
    if t < 40:
        return ref_linear(t - 20, 1.0, 0.0, 30)
    return ref_cosine_decay(t - 40, 0.5, 20)


POLY, LIN, PWC, EXP = ref_polynomial, ref_linear, ref_piecewise_constant, ref_exponential
COS, WCOS, WEXP, WCON = (
    ref_cosine_decay,
    ref_warmup_cosine,
    ref_warmup_exponential,
    ref_warmup_constant,
)
INTERP = ref_piecewise_interpolate

# fmt: off
CASES = [
    case("constant", "constant_schedule", ref_constant, 10, value=0.3),
    case("constant_int", "constant_schedule", ref_constant, 10, value=2),
    case("polynomial", "polynomial_schedule", POLY, 50, [50],
         init_value=1.0, end_value=0.01, power=2, transition_steps=50),
    case("polynomial_begin", "polynomial_schedule", POLY, 50, [10, 50],
         init_value=0.5, end_value=1.5, power=0.5, transition_steps=40, transition_begin=10),
    case("linear", "linear_schedule", LIN, 50, [50],
         init_value=0.1, end_value=0.001, transition_steps=50),
    case("linear_begin", "linear_schedule", LIN, 55, [15, 55],
         init_value=0.0, end_value=1.0, transition_steps=40, transition_begin=15),
    case("linear_one_step", "linear_schedule", LIN, 3, [1],
         init_value=1.0, end_value=2.0, transition_steps=1),
    case("piecewise_constant", "piecewise_constant_schedule", PWC, 40, [20, 40],
         init_value=0.01, boundaries_and_scales={20: 0.1, 40: 0.1}),
    case("piecewise_constant_none", "piecewise_constant_schedule", PWC, 10, init_value=0.5),
    case("piecewise_constant_unsorted_zero", "piecewise_constant_schedule", PWC, 25, [0, 10, 25],
         init_value=1.0, boundaries_and_scales={25: 0.0, 0: 0.5, 10: 2.0}),
    case("exponential", "exponential_decay", EXP, 40, [10, 20],
         init_value=1.0, transition_steps=10, decay_rate=0.5),
    case("exponential_staircase", "exponential_decay", EXP, 40, [10, 20, 30],
         init_value=1.0, transition_steps=10, decay_rate=0.5, staircase=True),
    case("exponential_begin", "exponential_decay", EXP, 40, [15, 25],
         init_value=2.0, transition_steps=10, decay_rate=0.7, transition_begin=15),
    case("exponential_end_value", "exponential_decay", EXP, 40, [23],
         init_value=1.0, transition_steps=10, decay_rate=0.5, end_value=0.2),
    case("exponential_growth_capped", "exponential_decay", EXP, 40, [34],
         init_value=1.0, transition_steps=10, decay_rate=1.5, end_value=4.0),
    case("exponential_all_options", "exponential_decay", EXP, 40, [5, 17, 29],
         init_value=1.0, transition_steps=12, decay_rate=0.3, transition_begin=5,
         staircase=True, end_value=0.05),
    case("cosine", "cosine_decay_schedule", COS, 50, [50], init_value=1.0, decay_steps=50),
    case("cosine_alpha", "cosine_decay_schedule", COS, 50, [50],
         init_value=0.5, decay_steps=50, alpha=0.1),
    case("cosine_exponent", "cosine_decay_schedule", COS, 50, [50],
         init_value=1.0, decay_steps=50, alpha=0.2, exponent=2.0),
    case("cosine_one_step", "cosine_decay_schedule", COS, 2, [1], init_value=0.5, decay_steps=1),
    case("warmup_cosine", "warmup_cosine_decay_schedule", WCOS, 60, [10, 60],
         init_value=0.0, peak_value=1.0, warmup_steps=10, decay_steps=60),
    case("warmup_cosine_end_exponent", "warmup_cosine_decay_schedule", WCOS, 60, [10, 60],
         init_value=0.1, peak_value=1.0, warmup_steps=10, decay_steps=60, end_value=0.05,
         exponent=1.5),
    case("warmup_cosine_no_warmup", "warmup_cosine_decay_schedule", WCOS, 40, [0, 40],
         init_value=0.0, peak_value=1.0, warmup_steps=0, decay_steps=40),
    case("warmup_exponential", "warmup_exponential_decay_schedule", WEXP, 50, [10, 30],
         init_value=0.0, peak_value=1.0, warmup_steps=10, transition_steps=20, decay_rate=0.5),
    case("warmup_exponential_all_options", "warmup_exponential_decay_schedule", WEXP, 50,
         [10, 15, 25, 35], init_value=0.1, peak_value=1.0, warmup_steps=10, transition_steps=10,
         decay_rate=0.5, transition_begin=5, staircase=True, end_value=0.2),
    case("warmup_exponential_no_warmup", "warmup_exponential_decay_schedule", WEXP, 30, [0, 10],
         init_value=0.0, peak_value=1.0, warmup_steps=0, transition_steps=10, decay_rate=0.8),
    case("warmup_constant", "warmup_constant_schedule", WCON, 20, [20],
         init_value=0.0, peak_value=1.0, warmup_steps=20),
    case("warmup_constant_down", "warmup_constant_schedule", WCON, 7, [7],
         init_value=0.5, peak_value=0.1, warmup_steps=7),
    Case("join", build_join, ref_join, 60, (20, 40, 60), name="join_schedules"),
    case("sgdr", "sgdr_schedule", ref_sgdr, 66, [5, 30, 50, 54, 66], cosine_kwargs=SGDR_CYCLES),
    case("cosine_onecycle", "cosine_onecycle_schedule", ref_cosine_onecycle, 50, [15, 50],
         transition_steps=50, peak_value=1.0),
    case("cosine_onecycle_args", "cosine_onecycle_schedule", ref_cosine_onecycle, 40, [20, 40],
         transition_steps=40, peak_value=0.1, pct_start=0.5, div_factor=10.0,
         final_div_factor=100.0),
    case("linear_onecycle", "linear_onecycle_schedule", ref_linear_onecycle, 50, [15, 42, 50],
         transition_steps=50, peak_value=1.0),
    case("linear_onecycle_args", "linear_onecycle_schedule", ref_linear_onecycle, 60,
         [12, 42, 60], transition_steps=60, peak_value=0.2, pct_start=0.2, pct_final=0.7,
         div_factor=5.0, final_div_factor=50.0),
    case("interpolate_linear", "piecewise_interpolate_schedule", INTERP, 30, [10, 30],
         interpolate_type="linear", init_value=1.0, boundaries_and_scales={10: 0.1, 30: 0.01}),
    case("interpolate_cosine", "piecewise_interpolate_schedule", INTERP, 30, [10, 30],
         interpolate_type="cosine", init_value=1.0, boundaries_and_scales={30: 0.01, 10: 0.1}),
    case("interpolate_at_zero", "piecewise_interpolate_schedule", INTERP, 15, [0, 15],
         interpolate_type="cosine", init_value=1.0, boundaries_and_scales={0: 2.0, 15: 0.5}),
    case("interpolate_none", "piecewise_interpolate_schedule", INTERP, 10,
         interpolate_type="linear", init_value=0.7),
    # Beyond optax (or where gradlab deliberately differs): closed forms only.
    case("inverse_time", "inverse_time_decay", ref_inverse_time, 50, in_optax=False,
         init_value=0.1, decay_rate=0.5),
    case("inverse_time_staircase", "inverse_time_decay", ref_inverse_time, 50, [10, 20],
         in_optax=False, init_value=1.0, decay_rate=1.0, transition_steps=10, staircase=True),
    case("inverse_time_no_decay", "inverse_time_decay", ref_inverse_time, 10, in_optax=False,
         init_value=1.0, decay_rate=0.0),
    case("cyclic", "cyclic_schedule", ref_cyclic, 40, [10, 20, 30, 40], in_optax=False,
         base_value=0.1, max_value=1.0, step_size=10),
    case("cyclic_triangular2", "cyclic_schedule", ref_cyclic, 40, [10, 20, 30, 40],
         in_optax=False, base_value=0.1, max_value=1.0, step_size=10, mode="triangular2"),
    case("cyclic_exp_range", "cyclic_schedule", ref_cyclic, 40, [10, 20, 30, 40],
         in_optax=False, base_value=0.1, max_value=1.0, step_size=10, mode="exp_range",
         gamma=0.97),
    case("cyclic_step_size_1", "cyclic_schedule", ref_cyclic, 4, in_optax=False,
         base_value=1.0, max_value=0.5, step_size=1),
    case("warmup_constant_no_warmup", "warmup_constant_schedule", WCON, 5, [0], in_optax=False,
         init_value=0.0, peak_value=1.0, warmup_steps=0),
    Case("linear_warmup",
         lambda m: m.linear_warmup(m.exponential_decay(1.0, 10, 0.5), 10),
         lambda t: ref_linear_warmup(t, lambda s: ref_exponential(s, 1.0, 10, 0.5), 10),
         30, (10, 20), in_optax=False),
    Case("linear_warmup_cosine",
         lambda m: m.linear_warmup(m.cosine_decay_schedule(1.0, 30), 5, init_value=0.1),
         lambda t: ref_linear_warmup(t, lambda s: ref_cosine_decay(s, 1.0, 30), 5, 0.1),
         35, (5, 35), in_optax=False),
    Case("linear_warmup_none",
         lambda m: m.linear_warmup(m.cyclic_schedule(0.0, 1.0, 5), 0),
         lambda t: ref_cyclic(t, 0.0, 1.0, 5), 10, (0, 5), in_optax=False),
    Case("join_optax_schedules",  # gradlab's join takes optax schedules, which return scalars
         lambda m: m.join_schedules(
             [optax.constant_schedule(2.0), optax.linear_schedule(1.0, 0.0, 10)], [10]),
         lambda t: 2.0 if t < 10 else ref_linear(t - 10, 1.0, 0.0, 10), 10, (10, 20),
         in_optax=False),
]
# fmt: on
OPTAX_CASES = [c for c in CASES if c.in_optax]
OTHER_CASES = [c for c in CASES if not c.in_optax]


def ids(cases):
    return [c.id for c in cases]


# Steps. Eager JAX compiles every op once per input shape and dtype, so all rows share two sizes:
# the dense grid (every step 0..135, past 2 * horizon for every row) for calls on whole arrays,
# and a sparse subset of it (20 steps, boundaries first) for calls one scalar step at a time.
# Float grids shift every odd step by 3/8, so a sparse float grid is a subset of the dense one.
N_DENSE, N_SPARSE = 136, 20
KINDS = {"int": (jnp.int32, int), "float": (jnp.float32, float)}  # kind -> (dtype, Python type)


def steps_of(kind: str, index: np.ndarray | None = None) -> np.ndarray:
    """The dense grid of ``kind``, or its entries at ``index``."""
    t = np.arange(N_DENSE) if index is None else index
    return t.astype(np.float64) + (0.375 * (t % 2) if kind == "float" else 0.0)


def sparse_index(c: Case) -> np.ndarray:
    """``N_SPARSE`` steps in [0, max(2 horizon, N_SPARSE)]: every boundary with its neighbours,
    then points spread at finer and finer spacing."""
    top = max(2 * c.horizon, N_SPARSE)
    assert top < N_DENSE, f"{c.id}: horizon too long for the dense grid"
    steps = {0, top} | {m + d for m in c.marks for d in (-1, 0, 1) if 0 <= m + d <= top}
    for k in (3, 5, 9, 17, 33, 65, 129):
        for step in np.linspace(0, top, k).round().astype(int).tolist():
            if len(steps) < N_SPARSE:
                steps.add(step)
    return np.array(sorted(steps))


def closed_form(c: Case, kind: str, index: np.ndarray | None = None) -> np.ndarray:
    py = KINDS[kind][1]
    return np.array([c.ref(py(t)) for t in steps_of(kind, index)])


def assert_close(got, expected, rtol: float, atol_scale: float) -> None:
    """``rtol``, plus an ``atol`` relative to the largest value of the curve (for values near 0)."""
    expected = np.asarray(expected, np.float64)
    atol = atol_scale * max(float(np.max(np.abs(expected))), 1e-30)
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=rtol, atol=atol)


@functools.cache
def optax_curve(case_id: str, kind: str) -> np.ndarray:
    """optax on the dense grid, under ``jax.vmap`` (optax's interpolating schedules reject arrays
    of steps) but not under ``jax.jit`` (see test_no_nan_past_the_end_under_jit)."""
    c = next(c for c in OPTAX_CASES if c.id == case_id)
    steps = jnp.asarray(steps_of(kind), KINDS[kind][0])
    values = jax.vmap(c.build(optax))(steps)
    return np.broadcast_to(np.asarray(values, np.float64), steps.shape)


def call_jit(fn, *steps):
    """``fn`` under ``jax.jit`` on traced scalar steps (zipped from ``steps``): one compilation,
    and no retracing across the steps' values."""
    chex.clear_trace_counter()
    jitted = jax.jit(chex.assert_max_traces(fn, n=1))
    return [jitted(*args) for args in zip(*steps, strict=True)]


@functools.cache
def jit_curves(case_id: str) -> dict[str, np.ndarray]:
    """gradlab under one ``jax.jit`` per row on the sparse grids: a traced int32 and a traced
    float32 scalar step in each call (one compilation serves both grids)."""
    c = next(c for c in CASES if c.id == case_id)
    schedule = c.build(schedules)
    pairs = call_jit(
        lambda i, x: (schedule(i), schedule(x)),
        *(jnp.asarray(steps_of(k, sparse_index(c)), dtype) for k, (dtype, _) in KINDS.items()),
    )
    return {"int": np.array([p[0] for p in pairs]), "float": np.array([p[1] for p in pairs])}


@functools.cache
def python_curve(case_id: str, kind: str) -> np.ndarray:
    """gradlab called one Python ``int`` or ``float`` step at a time, on the sparse grid."""
    c = next(c for c in CASES if c.id == case_id)
    schedule, py = c.build(schedules), KINDS[kind][1]
    return np.array([schedule(py(t)) for t in steps_of(kind, sparse_index(c))])


CALLS = ("python", "array", "jit", "vmap")


def gradlab_curve(c: Case, kind: str, call: str) -> tuple[Any, Any]:
    """gradlab's values, called one Python step at a time, on the whole array, under ``jax.jit``
    (traced scalar steps) or under ``jax.vmap``; and the steps' indices in the dense grid."""
    if call == "python":
        return python_curve(c.id, kind), sparse_index(c)
    if call == "jit":
        return jit_curves(c.id)[kind], sparse_index(c)
    steps = jnp.asarray(steps_of(kind), KINDS[kind][0])
    schedule = c.build(schedules)
    return (schedule(steps) if call == "array" else jax.vmap(schedule)(steps)), slice(None)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("c", OPTAX_CASES, ids=ids(OPTAX_CASES))
def test_matches_optax(c: Case, kind: str, call: str):
    got, index = gradlab_curve(c, kind, call)
    assert_close(got, optax_curve(c.id, kind)[index], rtol=1e-6, atol_scale=1e-7)


@pytest.mark.parametrize(
    "kind, x64", [("int", False), ("float", False), ("float", True)], ids=["int32", "f32", "f64"]
)
@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_matches_closed_form(c: Case, kind: str, x64: bool):
    steps, expected = steps_of(kind), closed_form(c, kind)
    if x64:  # also a 2-D array of steps: the output keeps the input's shape
        steps, expected = steps.reshape(8, -1), expected.reshape(8, -1)
    with jax.enable_x64(x64):
        got = c.build(schedules)(jnp.asarray(steps, jnp.float64 if x64 else KINDS[kind][0]))
        assert got.dtype == (jnp.float64 if x64 else jnp.float32)
        assert got.shape == steps.shape
        # float32 rounding costs ~1e-7 of the curve's scale near 0 (1 + cos(x) near x = pi).
        rtol, atol_scale = (1e-10, 1e-12) if x64 else (1e-5, 1e-6)
        assert_close(got, expected, rtol, atol_scale)


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_array_of_steps_is_the_curve(c: Case):
    schedule = c.build(schedules)
    curve = schedule(jnp.arange(N_DENSE))
    assert curve.shape == (N_DENSE,)
    # [schedule(i) for i in range(n)], at the boundaries and a spread of other steps
    assert_close(curve[sparse_index(c)], python_curve(c.id, "int"), rtol=1e-6, atol_scale=1e-7)
    assert jnp.shape(schedule(3)) == ()


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("c", OTHER_CASES, ids=ids(OTHER_CASES))
def test_under_jit_and_vmap_without_optax(c: Case, kind: str):
    # test_matches_optax covers jit (with no retracing) and vmap for the rows optax also has.
    expected = closed_form(c, kind, sparse_index(c))
    assert_close(jit_curves(c.id)[kind], expected, rtol=1e-5, atol_scale=1e-6)
    vmapped = jax.vmap(c.build(schedules))(jnp.asarray(steps_of(kind), KINDS[kind][0]))
    assert_close(vmapped, closed_form(c, kind), rtol=1e-5, atol_scale=1e-6)


def test_traced_hyperparameters_are_accepted():
    @jax.jit
    def values(rate, peak, step):
        exponential = schedules.exponential_decay(1.0, 10, rate, end_value=0.3)
        cosine = schedules.warmup_cosine_decay_schedule(0.0, peak, 10, 110)
        return exponential(step), cosine(step)

    exponential, cosine = values(0.5, 2.0, 20)
    np.testing.assert_allclose(exponential, 0.3, rtol=1e-6)  # 0.25, clipped at end_value
    np.testing.assert_allclose(cosine, ref_warmup_cosine(20, 0.0, 2.0, 10, 110), rtol=1e-6)


def test_no_nan_past_the_end_under_jit():
    # Under jit, XLA turns t / T into t * (1 / T), which can exceed 1 at t = T. optax 0.2.8 clips
    # t before dividing, so optax.polynomial_schedule(..., power=0.5) is NaN from t = T on under
    # jit; gradlab clips the fraction itself.
    schedule = schedules.polynomial_schedule(
        0.5, 1.5, 0.5, transition_steps=40, transition_begin=10
    )
    values = jax.jit(jax.vmap(schedule))(jnp.arange(45, 120))
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values[5:], 1.5)


@pytest.mark.parametrize("steps", [41, 61])
def test_staircase_boundaries_under_jit(steps):
    # Under jit, floor(t / T) is floor(t * (1/T)): floor(41 * (1/41)) = 0 in float32, which puts
    # optax 0.2.8's staircase one step late at such multiples of T. gradlab uses floor_divide.
    multiples = np.arange(1, 60) * steps
    rows = [  # (schedule, closed form, offset putting the multiples of T on the staircase edges)
        (schedules.exponential_decay(1.0, steps, 0.9, staircase=True),
         functools.partial(ref_exponential, init_value=1.0, transition_steps=steps,
                           decay_rate=0.9, staircase=True), 0),
        (schedules.warmup_exponential_decay_schedule(0.0, 1.0, 7, steps, 0.9, 3, staircase=True),
         functools.partial(ref_warmup_exponential, init_value=0.0, peak_value=1.0,
                           warmup_steps=7, transition_steps=steps, decay_rate=0.9,
                           transition_begin=3, staircase=True), 7 + 3),
        (schedules.inverse_time_decay(1.0, 0.5, steps, staircase=True),
         functools.partial(ref_inverse_time, init_value=1.0, decay_rate=0.5,
                           transition_steps=steps, staircase=True), 0),
    ]  # fmt: skip
    for schedule, ref, offset in rows:
        t = np.concatenate([multiples - 1, multiples, multiples + 1]) + offset
        got = jax.jit(jax.vmap(schedule))(jnp.asarray(t, jnp.int32))
        assert_close(got, [ref(int(s)) for s in t], rtol=1e-5, atol_scale=0.0)


def test_large_int32_steps_do_not_overflow():
    step = jnp.int32(2**31 - 1)
    np.testing.assert_allclose(schedules.cosine_decay_schedule(1.0, 10**9, 0.1)(step), 0.1)
    np.testing.assert_allclose(schedules.linear_schedule(1.0, 0.0, 2**30, 10)(step), 0.0)


# ----------------------------------------------------------------------------------------------
# Construction-time validation (R5).
# ----------------------------------------------------------------------------------------------

s = schedules
c1 = s.constant_schedule(1.0)
# fmt: off
BAD_ARGUMENTS = [  # (id, construction, regex the message must match)
    # Degenerate but numeric values follow optax with a warning (DEGENERATE below); these raise.
    ("polynomial_nan_steps", lambda: s.polynomial_schedule(1.0, 0.0, 2, float("nan")),
     "transition_steps must be a positive integer, got nan"),
    ("linear_inf_steps", lambda: s.linear_schedule(1.0, 0.0, float("-inf")),
     "transition_steps must be a positive integer, got -inf"),
    ("linear_string_steps", lambda: s.linear_schedule(1.0, 0.0, "10"),  # type: ignore[arg-type]
     "transition_steps must be a real scalar"),
    ("linear_nan_begin", lambda: s.linear_schedule(1.0, 0.0, 10, float("nan")),
     "transition_begin must be a non-negative integer, got nan"),
    ("linear_fractional_negative_begin", lambda: s.linear_schedule(1.0, 0.0, 10, -0.5),
     "transition_begin must be a non-negative integer"),
    ("exponential_nan_rate", lambda: s.exponential_decay(1.0, 10, float("nan")),
     "decay_rate must be positive and finite"),
    ("exponential_none_steps", lambda: s.exponential_decay(1.0, None, 0.5),  # type: ignore[arg-type]
     "transition_steps must be a real scalar"),
    ("warmup_cosine_nan_warmup",
     lambda: s.warmup_cosine_decay_schedule(0.0, 1.0, float("nan"), 10), "warmup_steps"),
    ("warmup_exponential_bool_rate",
     lambda: s.warmup_exponential_decay_schedule(0.0, 1.0, 5, 10, True), "decay_rate"),
    ("polynomial_fractional_steps", lambda: s.polynomial_schedule(1.0, 0.0, 2, 10.5),  # type: ignore[arg-type]
     "transition_steps must be a positive integer"),
    ("polynomial_vector_steps", lambda: s.polynomial_schedule(1.0, 0.0, 2, [10]),  # type: ignore[arg-type]
     "transition_steps must be a real scalar"),
    ("polynomial_power", lambda: s.polynomial_schedule(1.0, 0.0, -1.0, 10), "power"),
    ("piecewise_negative_scale", lambda: s.piecewise_constant_schedule(1.0, {10: -0.1}),
     "every scale"),
    ("piecewise_negative_step", lambda: s.piecewise_constant_schedule(1.0, {-5: 0.1}),
     "the steps .* of boundaries_and_scales"),
    ("piecewise_not_a_dict", lambda: s.piecewise_constant_schedule(1.0, [(10, 0.1)]),  # type: ignore[arg-type]
     "boundaries_and_scales must be a dict"),
    ("exponential_negative_rate", lambda: s.exponential_decay(1.0, 10, -0.5), "decay_rate"),
    ("cosine_zero_steps", lambda: s.cosine_decay_schedule(1.0, 0), "decay_steps"),
    ("cosine_exponent", lambda: s.cosine_decay_schedule(1.0, 10, exponent=0.0), "exponent"),
    ("warmup_cosine_short_decay", lambda: s.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10),
     "decay_steps must be greater than warmup_steps"),
    ("warmup_cosine_exponent", lambda: s.warmup_cosine_decay_schedule(0.0, 1.0, 1, 10, 0.0, -1),
     "exponent"),
    ("warmup_exponential_negative_rate",
     lambda: s.warmup_exponential_decay_schedule(0.0, 1.0, 5, 10, -0.5), "decay_rate"),
    ("join_decreasing", lambda: s.join_schedules([c1, c1, c1], [20, 10]),
     "boundaries must be strictly increasing"),
    ("join_repeated", lambda: s.join_schedules([c1, c1, c1], [10, 10]),
     "boundaries must be strictly increasing"),
    ("join_count", lambda: s.join_schedules([c1, c1, c1], [10]),
     "boundaries must have one entry fewer"),
    ("join_empty", lambda: s.join_schedules([], []), "schedules must be a non-empty list"),
    ("join_not_callable", lambda: s.join_schedules([0.1, 0.2], [10]),  # type: ignore[list-item]
     "schedules"),
    ("sgdr_empty", lambda: s.sgdr_schedule([]), "cosine_kwargs must hold at least one"),
    ("sgdr_no_decay_steps", lambda: s.sgdr_schedule([dict(init_value=0.0, peak_value=1.0)]),
     "'decay_steps'"),
    ("sgdr_bad_cycle",
     lambda: s.sgdr_schedule([SGDR_CYCLES[0], {**SGDR_CYCLES[1], "warmup_steps": 20}]),
     re.escape("cosine_kwargs[1]: warmup_cosine_decay_schedule: decay_steps")),
    ("cosine_onecycle_zero_steps", lambda: s.cosine_onecycle_schedule(0, 1.0),
     "transition_steps"),
    ("cosine_onecycle_pct_zero", lambda: s.cosine_onecycle_schedule(100, 1.0, 0.0), "pct_start"),
    ("cosine_onecycle_pct_one", lambda: s.cosine_onecycle_schedule(100, 1.0, 1.0), "pct_start"),
    ("cosine_onecycle_div", lambda: s.cosine_onecycle_schedule(100, 1.0, div_factor=0.0),
     "div_factor"),
    ("cosine_onecycle_final_div",
     lambda: s.cosine_onecycle_schedule(100, 1.0, final_div_factor=-1.0), "final_div_factor"),
    ("linear_onecycle_zero_steps", lambda: s.linear_onecycle_schedule(0, 1.0),
     "transition_steps"),
    ("linear_onecycle_pct_start", lambda: s.linear_onecycle_schedule(100, 1.0, 1.5),
     "pct_start"),
    ("linear_onecycle_pct_final_low", lambda: s.linear_onecycle_schedule(100, 1.0, 0.3, 0.2),
     "pct_final"),
    ("linear_onecycle_pct_final_one", lambda: s.linear_onecycle_schedule(100, 1.0, 0.3, 1.0),
     "pct_final"),
    ("linear_onecycle_same_step", lambda: s.linear_onecycle_schedule(5, 1.0, 0.3, 0.35),
     "pct_final"),
    ("interpolate_type", lambda: s.piecewise_interpolate_schedule("quadratic", 1.0),
     "interpolate_type"),
    ("interpolate_negative_scale",
     lambda: s.piecewise_interpolate_schedule("linear", 1.0, {10: -1.0}), "every scale"),
    ("inverse_time_negative_rate", lambda: s.inverse_time_decay(1.0, -1.0), "decay_rate"),
    ("inverse_time_zero_steps", lambda: s.inverse_time_decay(1.0, 0.5, 0), "transition_steps"),
    ("cyclic_zero_step_size", lambda: s.cyclic_schedule(0.1, 1.0, 0), "step_size"),
    ("cyclic_mode", lambda: s.cyclic_schedule(0.1, 1.0, 10, mode="sawtooth"), "mode"),
    ("cyclic_gamma_zero", lambda: s.cyclic_schedule(0.1, 1.0, 10, "exp_range", 0.0), "gamma"),
    ("cyclic_gamma_above_one", lambda: s.cyclic_schedule(0.1, 1.0, 10, "exp_range", 1.5),
     "gamma"),
    ("warmup_negative_steps", lambda: s.linear_warmup(c1, -1), "warmup_steps"),
    ("warmup_not_callable", lambda: s.linear_warmup(0.1, 10),  # type: ignore[arg-type]
     "schedule must be a callable"),
]
# fmt: on


@pytest.mark.parametrize(
    "build, message", [b[1:] for b in BAD_ARGUMENTS], ids=[b[0] for b in BAD_ARGUMENTS]
)
def test_bad_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_error_message_names_the_argument_and_the_fix():
    message = (
        "exponential_decay: transition_steps must be a positive integer, got 10.5. "
        "Pass e.g. transition_steps=1000."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        schedules.exponential_decay(0.1, transition_steps=10.5, decay_rate=0.5)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Degenerate arguments that optax accepts (it logs and continues): optax's values, and a warning
# naming the argument, so that code ported from optax keeps running.
# ----------------------------------------------------------------------------------------------

ZERO_PEAK_CYCLE = dict(init_value=0.2, peak_value=0.0, warmup_steps=5, decay_steps=20,
                       end_value=0.1)  # fmt: skip
# fmt: off
DEGENERATE = [  # (id, function name, arguments, regex the warning must match)
    ("polynomial_zero_steps", "polynomial_schedule", (1.0, 0.0, 2, 0),
     "polynomial_schedule: transition_steps=0 is below 1, so the schedule is the constant "
     "init_value, as in optax"),
    ("polynomial_negative_begin", "polynomial_schedule", (1.0, 0.0, 2, 10, -1),
     "transition_begin=-1 is below 0, so 0 is used"),
    ("linear_negative_steps", "linear_schedule", (1.0, 0.0, -5), "transition_steps=-5"),
    ("linear_negative_begin", "linear_schedule", (1.0, 0.0, 5, -3), "transition_begin=-3"),
    ("exponential_zero_steps", "exponential_decay", (1.0, 0, 0.5), "transition_steps=0"),
    ("exponential_negative_steps", "exponential_decay", (2.0, -10, 0.5, 0, True, 0.1),
     "transition_steps=-10"),
    ("exponential_zero_rate", "exponential_decay", (1.0, 10, 0.0),
     "exponential_decay: decay_rate=0 gives no decay, so the schedule is the constant init_value"),
    ("exponential_zero_rate_end_value", "exponential_decay", (1.0, 10, 0.0, 0, False, 0.5),
     "decay_rate=0"),
    ("exponential_negative_begin", "exponential_decay", (1.0, 10, 0.5, -1), "transition_begin=-1"),
    ("warmup_cosine_negative_warmup", "warmup_cosine_decay_schedule", (0.0, 1.0, -2, 10),
     "warmup_steps=-2 is below 0, so there is no warm-up and the next phase starts early"),
    ("warmup_cosine_zero_peak", "warmup_cosine_decay_schedule", (0.5, 0.0, 10, 30, 0.1),
     "peak_value=0 makes the decay phase 0"),
    ("warmup_exponential_negative_warmup", "warmup_exponential_decay_schedule",
     (0.0, 1.0, -1, 10, 0.5), "warmup_steps=-1"),
    ("warmup_exponential_zero_steps", "warmup_exponential_decay_schedule", (0.0, 1.0, 5, 0, 0.5),
     "transition_steps=0 is below 1, so the decay phase holds peak_value"),
    ("warmup_exponential_zero_rate", "warmup_exponential_decay_schedule",
     (0.0, 1.0, 5, 10, 0.0), "decay_rate=0 gives no decay, so the decay phase holds peak_value"),
    ("warmup_exponential_negative_begin", "warmup_exponential_decay_schedule",
     (0.0, 1.0, 5, 10, 0.5, -4), "transition_begin=-4"),
    ("warmup_constant_negative_warmup", "warmup_constant_schedule", (0.0, 1.0, -1),
     "warmup_steps=-1 is below 0, so the schedule is the constant init_value"),
    ("sgdr_zero_peak_cycle", "sgdr_schedule", ([SGDR_CYCLES[0], ZERO_PEAK_CYCLE],),
     "warmup_cosine_decay_schedule: peak_value=0"),
]
# fmt: on


@pytest.mark.parametrize(
    "name, args, warning", [d[1:] for d in DEGENERATE], ids=[d[0] for d in DEGENERATE]
)
def test_degenerate_arguments_warn_and_follow_optax(name, args, warning):
    with pytest.warns(UserWarning, match=warning) as record:
        schedule = getattr(schedules, name)(*args)
    assert record[0].filename == __file__  # the warning points at the caller's line
    reference = getattr(optax, name)(*args)  # optax logs (absl) and continues
    for t in (-3, 0, 1, 4, 5, 9, 10, 11, 29, 30, 31, 60):
        np.testing.assert_allclose(schedule(t), reference(t), rtol=1e-6, atol=1e-7, err_msg=t)
    np.testing.assert_allclose(  # and under jit on an int32 array
        jax.jit(schedule)(jnp.arange(40)),
        jax.vmap(reference)(jnp.arange(40)),
        rtol=1e-6,
        atol=1e-7,
    )


def test_traced_degenerate_arguments_are_not_checked():
    # A traced transition_steps cannot be seen at construction: no warning, no constant.
    values = jax.jit(lambda n, t: schedules.linear_schedule(1.0, 0.0, n)(t))(jnp.int32(10), 5)
    np.testing.assert_allclose(values, 0.5)


def test_public_names():
    assert sorted(schedules.__all__) == schedules.__all__
    for name in schedules.__all__:
        if not isinstance(getattr(schedules, name), type) and name != "Schedule":  # functions
            doc = getattr(schedules, name).__doc__
            assert "Args:" in doc and "Returns:" in doc and "References:" in doc, name
            assert ">>> from gradlab.schedules import" in doc, name
    # Every schedule optax also has is compared with optax by some row of the table.
    tested = {c.name for c in OPTAX_CASES}
    classes = {"Schedule", "StatefulSchedule", "WrappedSchedule", "WrappedScheduleState"}
    assert {n for n in schedules.__all__ if hasattr(optax, n)} - classes == tested


def test_signatures_match_optax():
    """Same argument names, order and defaults as optax 0.2.8 for every name optax also has."""
    for name in schedules.__all__:
        if name != "Schedule" and hasattr(optax, name):
            ours = inspect.signature(getattr(schedules, name)).parameters.values()
            theirs = inspect.signature(getattr(optax, name)).parameters.values()
            assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]
