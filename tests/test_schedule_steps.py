"""Schedules at large steps, and step-count arguments given as NumPy/JAX integers.

Every schedule, joined ones included, is compared with its float64 closed form (Python ``math``
on exact Python ints, from tests/test_schedules.py) at its boundaries and their neighbours and at
``2**31 - 1``, ``2**31`` and ``10**12``: called with Python ints, with a traced int32 array
under ``jax.jit`` (an optimizer's step counter), and with int64 arrays and Python ints under
``jax.enable_x64``. Boundaries sit beyond int32 too, so that a step is compared with a boundary
its dtype cannot hold. Before the fix, Python ints above int32 raised ``OverflowError`` in most
schedules, and float32 steps put ``2**31 - 2`` on the wrong side of a boundary at ``2**31 - 1``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradlab import schedules
from tests.test_schedules import (
    ref_cosine_decay,
    ref_cosine_onecycle,
    ref_exponential,
    ref_inverse_time,
    ref_linear,
    ref_linear_onecycle,
    ref_linear_warmup,
    ref_piecewise_constant,
    ref_piecewise_interpolate,
    ref_polynomial,
    ref_sgdr,
    ref_warmup_constant,
    ref_warmup_cosine,
    ref_warmup_exponential,
)

I32 = 2**31  # the first step int32 cannot hold
BIG = 10**12
s = schedules


def ref_cyclic_exact(t, base_value, max_value, step_size, mode="triangular", gamma=1.0):
    """Smith's triangle with integer arithmetic: exact at any step (``t / s`` in float64 is not,
    at ``t = 10**12``)."""
    t = max(t, 0)
    cycle, position = 1 + t // (2 * step_size), t % (2 * step_size)
    height = min(position, 2 * step_size - position) / step_size
    scale = {"triangular": 1.0, "triangular2": 0.5 ** (cycle - 1), "exp_range": gamma**t}[mode]
    return base_value + (max_value - base_value) * height * scale


def ref_join(t):
    if t < I32 - 1:
        return 1.0
    if t < BIG:
        return ref_linear(t - (I32 - 1), 1.0, 0.0, 1000)
    return ref_cosine_decay(t - BIG, 0.5, I32)


@dataclasses.dataclass(frozen=True)
class Row:
    id: str
    build: Callable[[], Callable]
    ref: Callable[[int], float]
    marks: tuple[int, ...] = ()


def row(id_, fn, ref, marks=(), **kwargs):
    return Row(id_, lambda: fn(**kwargs), functools.partial(ref, **kwargs), tuple(marks))


SGDR = [
    dict(init_value=0.0, peak_value=1.0, warmup_steps=10, decay_steps=I32 - 1),
    dict(init_value=0.1, peak_value=0.5, warmup_steps=I32, decay_steps=BIG, end_value=0.05),
]
SGDR_MARKS = (10, I32 - 1, I32 - 1 + I32, I32 - 1 + BIG)
LIN_CYCLE = (int(0.3 * 2**32), int(0.85 * 2**32), 2**32)

# fmt: off
ROWS = [
    row("constant", s.constant_schedule, lambda t, value: value, value=0.5),
    row("polynomial", s.polynomial_schedule, ref_polynomial, [100, BIG + 100],
        init_value=1.0, end_value=0.1, power=2.0, transition_steps=BIG, transition_begin=100),
    row("linear", s.linear_schedule, ref_linear, [50, I32 - 50],
        init_value=1.0, end_value=0.0, transition_steps=I32 - 100, transition_begin=50),
    row("piecewise_constant", s.piecewise_constant_schedule, ref_piecewise_constant,
        [100, I32, BIG], init_value=1.0, boundaries_and_scales={100: 0.5, I32: 0.1, BIG: 0.1}),
    row("interpolate_linear", s.piecewise_interpolate_schedule, ref_piecewise_interpolate,
        [I32 - 1, BIG], interpolate_type="linear", init_value=1.0,
        boundaries_and_scales={I32 - 1: 0.5, BIG: 0.1}),
    row("interpolate_cosine", s.piecewise_interpolate_schedule, ref_piecewise_interpolate,
        [1000, I32], interpolate_type="cosine", init_value=1.0,
        boundaries_and_scales={1000: 0.1, I32: 0.01}),
    row("exponential_staircase_int32_edge", s.exponential_decay, ref_exponential,
        [I32 - 1, 2 * (I32 - 1)], init_value=1.0, transition_steps=I32 - 1, decay_rate=0.5,
        staircase=True),
    row("exponential_late_begin", s.exponential_decay, ref_exponential, [I32, I32 + 1000],
        init_value=1.0, transition_steps=1000, decay_rate=0.999, transition_begin=I32,
        staircase=True),
    row("exponential_end_value", s.exponential_decay, ref_exponential, [43],
        init_value=2.0, transition_steps=10, decay_rate=0.5, end_value=0.1),
    row("cosine", s.cosine_decay_schedule, ref_cosine_decay, [BIG],
        init_value=1.0, decay_steps=BIG, alpha=0.1),
    row("cosine_exponent", s.cosine_decay_schedule, ref_cosine_decay, [1000],
        init_value=1.0, decay_steps=1000, alpha=0.2, exponent=2.0),
    row("warmup_cosine", s.warmup_cosine_decay_schedule, ref_warmup_cosine, [I32, BIG],
        init_value=0.0, peak_value=1.0, warmup_steps=I32, decay_steps=BIG, end_value=0.01),
    row("warmup_exponential", s.warmup_exponential_decay_schedule, ref_warmup_exponential,
        [100, 110, I32 + 110], init_value=0.0, peak_value=1.0, warmup_steps=100,
        transition_steps=I32, decay_rate=0.5, transition_begin=10, staircase=True),
    row("warmup_constant", s.warmup_constant_schedule, ref_warmup_constant, [I32 + 5],
        init_value=0.0, peak_value=1.0, warmup_steps=I32 + 5),
    Row("join", lambda: s.join_schedules(
        [s.constant_schedule(1.0), s.linear_schedule(1.0, 0.0, 1000),
         s.cosine_decay_schedule(0.5, I32)], [I32 - 1, BIG]),
        ref_join, (I32 - 1, I32 + 999, BIG, BIG + I32)),
    row("sgdr", s.sgdr_schedule, ref_sgdr, SGDR_MARKS, cosine_kwargs=SGDR),
    row("cosine_onecycle", s.cosine_onecycle_schedule, ref_cosine_onecycle, [3 * 10**11, BIG],
        transition_steps=BIG, peak_value=1.0),
    row("linear_onecycle", s.linear_onecycle_schedule, ref_linear_onecycle, LIN_CYCLE,
        transition_steps=2**32, peak_value=1.0),
    row("cyclic", s.cyclic_schedule, ref_cyclic_exact, [7, 14],
        base_value=0.1, max_value=1.0, step_size=7),
    row("cyclic_triangular2", s.cyclic_schedule, ref_cyclic_exact, [2**30, I32],
        base_value=0.1, max_value=1.0, step_size=2**30, mode="triangular2"),
    row("cyclic_exp_range", s.cyclic_schedule, ref_cyclic_exact, [5, 10],
        base_value=0.1, max_value=1.0, step_size=5, mode="exp_range", gamma=0.999999),
    row("inverse_time_staircase", s.inverse_time_decay, ref_inverse_time, [3, 6],
        init_value=1.0, decay_rate=0.5, transition_steps=3, staircase=True),
    row("inverse_time", s.inverse_time_decay, ref_inverse_time, [I32],
        init_value=1.0, decay_rate=2.0, transition_steps=I32),
    Row("linear_warmup",
        lambda: s.linear_warmup(s.exponential_decay(1.0, 10**9, 0.5), I32 + 1),
        lambda t: ref_linear_warmup(t, lambda u: ref_exponential(u, 1.0, 10**9, 0.5), I32 + 1),
        (I32 + 1,)),
]
# fmt: on


N_STEPS = 24  # every row's steps, padded to one length: eager JAX compiles once per dtype


def steps_of(r: Row) -> list[int]:
    near = {m + d for m in r.marks for d in (-1, 0, 1)}
    return sorted({0, 1, I32 - 1, I32, I32 + 1, BIG - 1, BIG, BIG + 1} | near)


def padded(steps: list[int]) -> list[int]:
    assert len(steps) <= N_STEPS
    return steps + [steps[-1]] * (N_STEPS - len(steps))


def check(r: Row, steps: list[int], got: Any, rtol: float, atol: float) -> None:
    expected = np.array([r.ref(t) for t in steps])
    got = np.broadcast_to(np.asarray(got, np.float64), expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"{r.id} {steps}")


@pytest.mark.parametrize("r", ROWS, ids=[r.id for r in ROWS])
def test_python_int_steps(r: Row):
    schedule, steps = r.build(), steps_of(r)
    got = [schedule(t) for t in steps]
    assert all(jnp.result_type(v) == jnp.float32 for v in got)
    check(r, steps, got, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("r", ROWS, ids=[r.id for r in ROWS])
def test_traced_int32_steps(r: Row):
    # An optimizer's int32 step counter under jit (eager int32 arrays take the same path).
    steps = padded([t for t in steps_of(r) if t < I32])
    got = jax.jit(r.build())(jnp.asarray(steps, jnp.int32))
    assert got.dtype == jnp.float32 and got.shape == (N_STEPS,)
    check(r, steps, got, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("r", ROWS, ids=[r.id for r in ROWS])
def test_int64_arrays_and_python_ints_under_x64(r: Row):
    steps = padded(steps_of(r))
    with jax.enable_x64(True):
        schedule = r.build()
        got = schedule(jnp.asarray(steps, jnp.int64))
        assert got.dtype == jnp.float64 and got.shape == (N_STEPS,)
        check(r, steps, got, rtol=1e-9, atol=1e-12)
        check(r, steps, [schedule(t) for t in steps], rtol=1e-9, atol=1e-12)


def test_numpy_int64_steps_beyond_int32():
    schedule = s.piecewise_constant_schedule(1.0, {I32: 0.1})
    np.testing.assert_allclose(schedule(np.array([I32 - 1, I32, BIG])), [1.0, 0.1, 0.1])


def test_a_traced_int32_step_against_boundaries_beyond_int32():
    joined = s.join_schedules([s.constant_schedule(1.0), s.constant_schedule(2.0)], [3 * 10**9])
    linear = s.linear_schedule(1.0, 0.0, transition_steps=BIG)
    step = jnp.int32(I32 - 1)
    np.testing.assert_allclose(jax.jit(joined)(step), 1.0)
    np.testing.assert_allclose(jax.jit(linear)(step), 1.0 - (I32 - 1) / BIG, rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Step-count arguments as NumPy/JAX integer scalars: the same schedule as with Python ints.
# ----------------------------------------------------------------------------------------------


def _cycles(w, d):
    return [dict(init_value=0.0, peak_value=1.0, warmup_steps=w, decay_steps=d)] * 2


# (id, builder of the schedule from its step-count arguments, the Python int arguments)
# fmt: off
STEP_COUNT_BUILDERS = [
    ("polynomial", lambda n, b: s.polynomial_schedule(1.0, 0.0, 2.0, n, b), (40, 7)),
    ("linear", lambda n, b: s.linear_schedule(1.0, 0.0, n, b), (40, 7)),
    ("exponential", lambda n, b: s.exponential_decay(1.0, n, 0.5, b, True, 0.1), (9, 3)),
    ("inverse_time", lambda n: s.inverse_time_decay(1.0, 0.5, n, True), (9,)),
    ("cosine", lambda n: s.cosine_decay_schedule(1.0, n, 0.1), (41,)),
    ("warmup_cosine", lambda w, d: s.warmup_cosine_decay_schedule(0.0, 1.0, w, d), (7, 50)),
    ("warmup_exponential",
     lambda w, n, b: s.warmup_exponential_decay_schedule(0.0, 1.0, w, n, 0.5, b), (7, 10, 3)),
    ("warmup_constant", lambda w: s.warmup_constant_schedule(0.0, 1.0, w), (7,)),
    ("join", lambda a, b: s.join_schedules([s.constant_schedule(1.0), s.linear_schedule(
        1.0, 0.0, 10), s.constant_schedule(0.3)], [a, b]), (10, 25)),
    ("linear_warmup", lambda w: s.linear_warmup(s.cosine_decay_schedule(1.0, 30), w), (7,)),
    ("sgdr", lambda w, d: s.sgdr_schedule(_cycles(w, d)), (3, 20)),
    ("cyclic", lambda n: s.cyclic_schedule(0.1, 1.0, n), (6,)),
    ("cosine_onecycle", lambda n: s.cosine_onecycle_schedule(n, 1.0, pct_start=0.29), (100,)),
    ("linear_onecycle", lambda n: s.linear_onecycle_schedule(n, 1.0, 0.29, 0.57), (100,)),
    ("piecewise_constant", lambda a, b: s.piecewise_constant_schedule(1.0, {a: 0.1, b: 0.5}),
     (10, 25)),
    ("interpolate", lambda a, b: s.piecewise_interpolate_schedule("linear", 1.0, {a: 0.1, b: 2.0}),
     (10, 25)),
]
# fmt: on
# JAX arrays are unhashable, so dictionary keys (boundaries_and_scales) can only be NumPy ints.
HASHABLE_ONLY = {"piecewise_constant", "interpolate"}
INTEGER_KINDS = {
    "jnp.int32": jnp.int32,
    "np.int64": np.int64,
    "jnp.asarray": jnp.asarray,
    "np.uint16": np.uint16,
}


@pytest.mark.parametrize("kind", list(INTEGER_KINDS))
@pytest.mark.parametrize(
    "id_, build, args", STEP_COUNT_BUILDERS, ids=[b[0] for b in STEP_COUNT_BUILDERS]
)
def test_integer_scalar_step_counts_match_python_ints(id_, build, args, kind):
    if id_ in HASHABLE_ONLY and kind.startswith("jnp"):
        pytest.skip("a dict key cannot be a jax.Array")
    steps = jnp.arange(120)
    reference = build(*args)
    schedule = build(*(INTEGER_KINDS[kind](a) for a in args))
    # The very same schedule: bit for bit on an array of steps, and at a Python int past int32.
    np.testing.assert_array_equal(np.asarray(schedule(steps)), np.asarray(reference(steps)))
    np.testing.assert_array_equal(schedule(BIG), reference(BIG))


def test_int64_scalar_step_counts_under_x64():
    with jax.enable_x64(True):
        steps = jnp.arange(120)
        for id_, build, args in STEP_COUNT_BUILDERS:
            if id_ not in HASHABLE_ONLY:
                got = build(*(jnp.int64(a) for a in args))(steps)
                np.testing.assert_array_equal(got, build(*args)(steps), err_msg=id_)


def test_messages_show_integer_scalars_as_numbers():
    with pytest.raises(ValueError, match="got decay_steps=10, warmup_steps=10"):
        s.warmup_cosine_decay_schedule(0.0, 1.0, jnp.int32(10), jnp.int32(10))


def test_traced_step_counts_still_work():
    @jax.jit
    def value(n, step):
        return s.linear_schedule(1.0, 0.0, n)(step), s.cyclic_schedule(0.0, 1.0, n)(step)

    linear, cyclic = value(jnp.int32(40), jnp.int32(10))
    np.testing.assert_allclose([linear, cyclic], [0.75, 0.25], rtol=1e-6)
