r"""Learning-rate schedules: plain callables ``step -> value``.

A schedule maps an optimisation step :math:`t` to a hyperparameter value, usually the learning
rate :math:`\gamma_t`. Every schedule in this package

* accepts a Python ``int`` or ``float``, a NumPy/JAX scalar, a traced ``int32`` counter inside
  :func:`jax.jit` or :func:`jax.vmap`, or an array of steps: ``schedule(jnp.arange(n))`` returns
  the whole curve in one call, with the shape of its input;
* is written with ``jnp`` only, with no Python branching on the step, so one trace serves every
  step;
* returns the default floating dtype (``float32``, or ``float64`` under ``jax.enable_x64``) and
  keeps integer steps exact: comparisons with boundaries, differences, floor divisions and
  remainders are integer arithmetic (Python ints and NumPy integers as int64, JAX arrays in their
  own int32/int64), and only the fraction that follows is a float. So a Python int step of
  :math:`10^{12}`, an int32 counter at :math:`2^{31} - 1` or a boundary beyond int32 give the
  float64 formula's value to float32 rounding, never an ``OverflowError`` nor a step that lands
  on the wrong side of a boundary;
* checks its concrete arguments when it is built and raises ``ValueError`` naming the argument
  and a fix (traced arguments are not checked). Step counts, rates, factors and modes are
  checked; values (``init_value``, ``peak_value``, ``end_value``, ``alpha``, ...) may have any
  sign, as in optax, since a schedule may anneal any scalar. Step counts may be NumPy or JAX
  integer scalars (``jnp.int32(1000)``): they are read as the Python int, so the schedule is the
  one that int builds. The degenerate values that optax accepts with a log message follow optax
  and emit a ``UserWarning`` naming the argument: ``transition_steps <= 0`` (a constant
  ``init_value``, or ``peak_value`` after a warm-up), ``decay_rate=0`` (the same), a negative
  ``transition_begin`` (0), a negative ``warmup_steps`` (the next phase starts that many steps
  early) and ``peak_value=0`` in :func:`warmup_cosine_decay_schedule` (a decay phase of 0).
  NaN, infinite, fractional and non-numeric values still raise.

Names, argument names, argument order and defaults follow ``optax`` 0.2.8 wherever optax has a
function of the same name. :func:`inverse_time_decay`, :func:`cyclic_schedule` and
:func:`linear_warmup` have no optax counterpart.

Differences from optax:
  *Warns where optax logs and continues* (the values are optax's; see above).
  *Rejects what optax accepts silently.* A negative ``decay_rate`` (NaN in optax), ``power <= 0``
  or ``exponent <= 0`` (a constant or an infinite schedule), non-integer step counts such as
  ``transition_steps=10.5``, negative or non-integer boundary steps, ``join_schedules``
  boundaries that are not strictly increasing or whose number is not ``len(schedules) - 1``
  (optax's ``zip`` drops the extras), ``pct_start`` outside (0, 1), one-cycle phases that round
  to the same step (optax's dict drops a phase), and an empty ``sgdr_schedule`` (an
  ``IndexError`` at the first call in optax).
  *Edge cases that behave differently.* ``warmup_constant_schedule(..., warmup_steps=0)`` is
  ``peak_value`` from step 0 (optax: ``init_value`` forever; a negative ``warmup_steps`` gives
  optax's ``init_value`` with a warning); ``piecewise_interpolate_schedule`` is ``init_value``
  at negative steps (optax: 0);
  ``constant_schedule`` returns a float array shaped like the step (optax returns ``value``
  unchanged); ``piecewise_interpolate_schedule`` and the one-cycle schedules accept an array of
  steps (optax's raise a shape error unless wrapped in ``jax.vmap``).
  *Two fixes.* Under :func:`jax.jit`, XLA computes :math:`t / T` as :math:`t \cdot (1/T)`, which
  can land just above or below an integer. optax clips :math:`t` before dividing, so
  ``optax.polynomial_schedule`` with a non-integer ``power`` is NaN from the end of the
  transition on under jit; gradlab clips the fraction itself. And optax's ``staircase=True``
  takes ``floor(t / T)``, which under jit is one less at some exact multiples of :math:`T` (at
  :math:`t = 41` for ``transition_steps=41``: a step that comes one step late); gradlab uses an
  exact ``floor_divide``. And steps stay exact integers (see above): optax converts them to
  float32 (``cosine_decay_schedule``) or to a weak int32, which overflows for a Python int above
  :math:`2^{31} - 1` in most of its schedules and cannot tell :math:`2^{31} - 1` from
  :math:`2^{31}`.
"""

from __future__ import annotations

from gradlab.core.base import Schedule, StatefulSchedule
from gradlab.schedules.basic import (
    constant_schedule,
    exponential_decay,
    inverse_time_decay,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
)
from gradlab.schedules.cosine import (
    cosine_decay_schedule,
    sgdr_schedule,
    warmup_cosine_decay_schedule,
)
from gradlab.schedules.cyclical import (
    cosine_onecycle_schedule,
    cyclic_schedule,
    linear_onecycle_schedule,
)
from gradlab.schedules.joining import (
    join_schedules,
    linear_warmup,
    warmup_constant_schedule,
    warmup_exponential_decay_schedule,
)
from gradlab.schedules.stateful import WrappedSchedule, WrappedScheduleState

__all__ = [
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
    "WrappedScheduleState",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "cyclic_schedule",
    "exponential_decay",
    "inverse_time_decay",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "linear_warmup",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]
