"""The demo's optimizers and their learning rates: one table, one constructor.

:data:`LEARNING_RATES` is the table the README states and ``--lr NAME=VALUE`` overrides. The
rates were tuned once, by hand, for the demo's MLP on the digits (inputs in [0, 1], batches of
64, 1500 steps): "start with SGD + momentum, give Adam a try, adjust the learning rate first".

>>> from gradlab.demo.optimizers import LEARNING_RATES, make_optimizer
>>> list(LEARNING_RATES)[:3]
['sgd', 'sgd-momentum', 'sgd-nesterov']
>>> tx = make_optimizer("adam", LEARNING_RATES["adam"], steps=100)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from gradlab.core.base import GradientTransformation

#: The learning rate of each optimizer (for ``sgd-nesterov``, the rate before its decay).
LEARNING_RATES: dict[str, float] = {
    "sgd": 0.1,
    "sgd-momentum": 0.02,
    "sgd-nesterov": 0.05,
    "adagrad": 0.05,
    "rmsprop": 1e-3,
    "adadelta": 1.0,
    "adam": 2e-3,
    "adamw": 2e-3,
    "adamax": 4e-3,
    "nadam": 2e-3,
    "amsgrad": 2e-3,
}

#: What each name stands for, besides its learning rate (the ``setting`` column of the table).
SETTINGS: dict[str, str] = {
    "sgd": "plain SGD",
    "sgd-momentum": "momentum 0.9",
    "sgd-nesterov": "Nesterov 0.9, rate x0.3 at 1/3 and 2/3 of the steps",
    "adagrad": "initial accumulator 0.1",
    "rmsprop": "decay 0.9",
    "adadelta": "rho 0.9, eps 1e-6",
    "adam": "b1 0.9, b2 0.999",
    "adamw": "b1 0.9, b2 0.999, weight decay 1e-2",
    "adamax": "b1 0.9, b2 0.999",
    "nadam": "b1 0.9, b2 0.999",
    "amsgrad": "b1 0.9, b2 0.999",
}

#: Every optimizer name, in the order the demo runs and reports them.
NAMES: tuple[str, ...] = tuple(LEARNING_RATES)


def make_optimizer(name: str, learning_rate: float, steps: int) -> GradientTransformation:
    """The gradlab optimizer called ``name`` in :data:`LEARNING_RATES`, at ``learning_rate``.

    Args:
      name: one of :data:`NAMES`.
      learning_rate: its (initial) learning rate, > 0.
      steps: the length of the run; ``sgd-nesterov`` multiplies its rate by 0.3 after each
        third of it (a step decay).

    Returns:
      A :class:`~gradlab.GradientTransformation`.

    >>> import jax.numpy as jnp
    >>> tx = make_optimizer("sgd-nesterov", 0.1, steps=30)
    >>> updates, _ = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    >>> [round(u, 4) for u in updates.tolist()]  # -0.1 * (g + 0.9 m), m = g
    [-0.19, -0.19]
    """
    import gradlab

    if name == "sgd":
        return gradlab.sgd(learning_rate)
    if name == "sgd-momentum":
        return gradlab.sgd(learning_rate, momentum=0.9)
    if name == "sgd-nesterov":
        decay = gradlab.exponential_decay(
            learning_rate, transition_steps=max(1, steps // 3), decay_rate=0.3, staircase=True
        )
        return gradlab.sgd(decay, momentum=0.9, nesterov=True)
    if name == "adagrad":
        return gradlab.adagrad(learning_rate)
    if name == "rmsprop":
        return gradlab.rmsprop(learning_rate)
    if name == "adadelta":
        return gradlab.adadelta(learning_rate)
    if name == "adam":
        return gradlab.adam(learning_rate)
    if name == "adamw":
        return gradlab.adamw(learning_rate, weight_decay=1e-2)
    if name == "adamax":
        return gradlab.adamax(learning_rate)
    if name == "nadam":
        return gradlab.nadam(learning_rate)
    if name == "amsgrad":
        return gradlab.amsgrad(learning_rate)
    raise ValueError(unknown_name(name))


def unknown_name(name: str) -> str:
    """The error message for an optimizer name not in :data:`NAMES`."""
    return f"unknown optimizer {name!r}; choose from {', '.join(NAMES)}"


def parse_optimizers(text: str) -> tuple[str, ...]:
    """``"adam,sgd"`` -> ``("adam", "sgd")``, checked against :data:`NAMES` (order kept).

    >>> parse_optimizers("adam, sgd-momentum")
    ('adam', 'sgd-momentum')
    >>> parse_optimizers("all") == NAMES
    True
    """
    if text.strip() == "all":
        return NAMES
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise ValueError("--optimizers needs at least one name, e.g. --optimizers adam,sgd")
    for name in names:
        if name not in LEARNING_RATES:
            raise ValueError(unknown_name(name))
    return names


def parse_learning_rates(items: Sequence[str]) -> dict[str, float]:
    """``["adam=3e-3", ...]`` (the ``--lr`` flags) -> ``{"adam": 0.003, ...}``, each > 0.

    >>> parse_learning_rates(["adam=3e-3", "sgd=0.2"])
    {'adam': 0.003, 'sgd': 0.2}
    """
    rates: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--lr takes NAME=VALUE, e.g. --lr adam=3e-3; got {item!r}")
        if name not in LEARNING_RATES:
            raise ValueError(f"--lr {item}: {unknown_name(name)}")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"--lr {item}: {value.strip()!r} is not a number") from None
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"--lr {item}: the learning rate must be a finite number > 0")
        rates[name] = rate
    return rates


def learning_rates(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """:data:`LEARNING_RATES` with ``overrides`` applied (a new dict; the table is unchanged).

    >>> learning_rates({"adam": 0.01})["adam"], LEARNING_RATES["adam"]
    (0.01, 0.002)
    """
    return {**LEARNING_RATES, **(overrides or {})}


__all__ = [
    "LEARNING_RATES",
    "NAMES",
    "SETTINGS",
    "learning_rates",
    "make_optimizer",
    "parse_learning_rates",
    "parse_optimizers",
]
