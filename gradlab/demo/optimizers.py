"""The demo's optimizers and their learning rates: two groups, one constructor.

:data:`LEARNING_RATES` is the classic group (``--optimizers all``, the default), the table the
README states and ``--lr NAME=VALUE`` overrides. Its rates were tuned once, by hand, for the
demo's MLP on the digits (inputs in [0, 1], batches of 64, 1500 steps): "start with SGD +
momentum, give Adam a try, adjust the learning rate first".

:data:`MODERN_LEARNING_RATES` is the modern group (``--optimizers modern``): Lion, LAMB,
Adafactor, Muon, SOAP, schedule-free AdamW and Prodigy beside AdamW. Its rates were picked by
the sweep of :mod:`gradlab.demo.sweep` on a validation split of the training images (never the
test images); :data:`MODERN_SWEEP` records what it measured.

>>> from gradlab.demo.optimizers import LEARNING_RATES, make_optimizer
>>> list(LEARNING_RATES)[:3]
['sgd', 'sgd-momentum', 'sgd-nesterov']
>>> tx = make_optimizer("adam", LEARNING_RATES["adam"], steps=100)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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

#: The modern group's learning rates, each the best of :data:`MODERN_SWEEP` (see there).
MODERN_LEARNING_RATES: dict[str, float] = {
    "adamw": 8e-3,
    "lion": 3e-4,
    "lamb": 3e-3,
    "adafactor": 3e-2,
    "muon": 5e-3,
    "soap": 3e-3,
    "schedule-free-adamw": 1e-2,
    "prodigy": 1.0,  # learning-rate free: 1.0 multiplies its own estimate (not swept)
}

#: How :data:`MODERN_LEARNING_RATES` were chosen: ``python -m gradlab.demo.sweep`` (seed 0)
#: trained each optimizer for 500 steps (batches of 64) at each rate below, on 1,010 of the
#: 1,347 training images, and measured the accuracy and the mean cross-entropy on the other
#: 337 (the validation split of :func:`gradlab.demo.data.digits_validation`; the 450 test
#: images were not looked at). The chosen rate has the lowest validation loss. The grid began
#: at three rates about 3x apart and was extended by one rate past any winner at its edge.
#: (Ranking by validation accuracy instead, as first planned, kept picking the largest rate
#: for AdamW and Lion at each extension while Lion's validation loss grew eightfold: 337 images
#: resolve accuracy in steps of 0.3%, and the loss is the smoother criterion.)
#: ``name -> {rate: (validation accuracy, validation loss)}``, rounded to 4 digits.
MODERN_SWEEP: dict[str, dict[float, tuple[float, float]]] = {
    "adamw": {
        1e-3: (0.9496, 0.1737),
        2e-3: (0.9585, 0.1381),
        4e-3: (0.9614, 0.1382),
        8e-3: (0.9614, 0.1370),
        1.6e-2: (0.9703, 0.1427),
    },
    "lion": {
        1e-4: (0.8665, 1.1028),
        3e-4: (0.9258, 0.2298),
        1e-3: (0.9466, 0.3873),
        3e-3: (0.9525, 0.9098),
        1e-2: (0.9585, 1.9847),
    },
    "lamb": {
        1e-3: (0.8961, 0.6459),
        3e-3: (0.9644, 0.1386),
        1e-2: (0.9585, 0.1764),
        3e-2: (0.1068, 2.2970),
    },
    "adafactor": {
        1e-2: (0.9585, 0.1507),
        3e-2: (0.9674, 0.1341),
        1e-1: (0.9703, 0.1584),
        3e-1: (0.2136, 2.2110),
    },
    "muon": {
        2e-3: (0.9139, 0.4724),
        5e-3: (0.9555, 0.1307),
        2e-2: (0.9614, 0.2821),
        5e-2: (0.9644, 0.3739),
        1e-1: (0.9496, 1.2803),
    },
    "soap": {
        1e-3: (0.9436, 0.4545),
        3e-3: (0.9792, 0.0861),
        1e-2: (0.9733, 0.1535),
    },
    "schedule-free-adamw": {
        1e-3: (0.9199, 0.2492),
        3e-3: (0.9585, 0.1506),
        1e-2: (0.9644, 0.1499),
        3e-2: (0.9614, 0.1563),
    },
    "prodigy": {1.0: (0.9792, 0.1711)},
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
    "lion": "b1 0.9, b2 0.99, weight decay 1e-3",
    "lamb": "b1 0.9, b2 0.999, eps 1e-6, layerwise trust ratio",
    "adafactor": "factored second moment (both kernels), relative to the parameter scale",
    "muon": "Newton-Schulz on the kernels (beta 0.95, Nesterov), AdamW 2e-3 on the biases",
    "soap": "Adam in Shampoo's eigenbasis, b1 0.95, b2 0.95, eigenbasis every 10 steps",
    "schedule-free-adamw": "b1 0.9, b2 0.999, warm-up 5% of the steps; evaluated at x_t",
    "prodigy": "learning-rate free (estimated step size), b1 0.9, b2 0.999",
}

#: The classic group's names, in the order the demo runs and reports them (``all``).
NAMES: tuple[str, ...] = tuple(LEARNING_RATES)
#: The modern group's names, in order (``--optimizers modern``).
MODERN_NAMES: tuple[str, ...] = tuple(MODERN_LEARNING_RATES)
#: The groups ``--optimizers`` takes by name.
GROUPS: dict[str, tuple[str, ...]] = {"all": NAMES, "modern": MODERN_NAMES}
#: Every name ``--optimizers`` and ``--lr`` know.
ALL_NAMES: tuple[str, ...] = tuple(dict.fromkeys(NAMES + MODERN_NAMES))
#: The share of the steps over which schedule-free AdamW warms its rate up.
SCHEDULE_FREE_WARMUP = 0.05
#: Adafactor factors a kernel if its second-largest axis has at least this size (optax: 128,
#: which on this small MLP would factor nothing).
ADAFACTOR_MIN_DIM_TO_FACTOR = 8
#: Muon's AdamW rate for the leaves it does not orthogonalize (the biases): AdamW's classic rate.
MUON_ADAM_LEARNING_RATE = 2e-3


def make_optimizer(name: str, learning_rate: float, steps: int) -> GradientTransformation:
    """The gradlab optimizer called ``name`` in :data:`LEARNING_RATES`, at ``learning_rate``.

    Args:
      name: one of :data:`ALL_NAMES`.
      learning_rate: its (initial) learning rate, > 0.
      steps: the length of the run; ``sgd-nesterov`` multiplies its rate by 0.3 after each
        third of it (a step decay), ``schedule-free-adamw`` warms up over
        :data:`SCHEDULE_FREE_WARMUP` of it.

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
    if name == "lion":
        return gradlab.lion(learning_rate)
    if name == "lamb":
        return gradlab.lamb(learning_rate)
    if name == "adafactor":
        return gradlab.adafactor(learning_rate, min_dim_size_to_factor=ADAFACTOR_MIN_DIM_TO_FACTOR)
    if name == "muon":
        return gradlab.muon(learning_rate, adam_learning_rate=MUON_ADAM_LEARNING_RATE)
    if name == "soap":
        return _soap()(learning_rate)
    if name == "schedule-free-adamw":
        warmup = max(1, round(SCHEDULE_FREE_WARMUP * steps))
        return gradlab.schedule_free_adamw(learning_rate, warmup_steps=warmup)
    if name == "prodigy":
        return gradlab.prodigy(learning_rate)
    raise ValueError(unknown_name(name))


def _soap() -> Callable[..., GradientTransformation]:
    """``gradlab.optimizers.soap.soap``, or an ImportError that says what is missing."""
    try:  # not yet re-exported at the top level
        from gradlab.optimizers.soap import soap
    except ImportError as error:
        raise ImportError(
            "the demo's 'soap' needs gradlab.optimizers.soap.soap, which this gradlab lacks "
            f"({error}); run the other optimizers, e.g. --optimizers "
            + ",".join(n for n in MODERN_NAMES if n != "soap")
        ) from error
    return soap


def eval_params_fn(name: str) -> Callable[[Any, Any], Any] | None:
    """``(opt_state, params) -> params to evaluate at``, for the optimizers that need one.

    Schedule-free AdamW steps the gradient points :math:`y_t` but is evaluated at the averaged
    points :math:`x_t` (:func:`gradlab.schedule_free_eval_params`); every other optimizer is
    evaluated at its params (``None``).

    >>> eval_params_fn("adamw") is None, eval_params_fn("schedule-free-adamw") is not None
    (True, True)
    """
    if name == "schedule-free-adamw":
        import gradlab

        return gradlab.schedule_free_eval_params
    return None


def unknown_name(name: str) -> str:
    """The error message for an optimizer name not in :data:`ALL_NAMES`."""
    return (
        f"unknown optimizer {name!r}; choose from {', '.join(ALL_NAMES)} "
        f"(or a group: {', '.join(GROUPS)})"
    )


def group_of(names: Sequence[str]) -> str:
    """``"classic"`` if every name is in the classic table, else ``"modern"``.

    The classic group gets the full demo (digits, SVM, regression); a run with a modern
    optimizer gets the modern report (digits only, with steps to 95% and step times).

    >>> group_of(["adam", "sgd"]), group_of(["adamw", "lion"])
    ('classic', 'modern')
    """
    return "classic" if all(name in LEARNING_RATES for name in names) else "modern"


def parse_optimizers(text: str) -> tuple[str, ...]:
    """``"adam,sgd"`` -> ``("adam", "sgd")``, checked against :data:`ALL_NAMES` (order kept).

    A group's name (:data:`GROUPS`) stands for its optimizers.

    >>> parse_optimizers("adam, sgd-momentum")
    ('adam', 'sgd-momentum')
    >>> parse_optimizers("all") == NAMES, parse_optimizers("modern") == MODERN_NAMES
    (True, True)
    """
    if text.strip() in GROUPS:
        return GROUPS[text.strip()]
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise ValueError("--optimizers needs at least one name, e.g. --optimizers adam,sgd")
    for name in names:
        if name not in ALL_NAMES:
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
        if name not in ALL_NAMES:
            raise ValueError(f"--lr {item}: {unknown_name(name)}")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"--lr {item}: {value.strip()!r} is not a number") from None
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"--lr {item}: the learning rate must be a finite number > 0")
        rates[name] = rate
    return rates


def learning_rates(
    overrides: Mapping[str, float] | None = None, group: str = "classic"
) -> dict[str, float]:
    """The ``group``'s table with ``overrides`` applied (a new dict; the tables are unchanged).

    The classic group's table is :data:`LEARNING_RATES`; the modern group's is
    :data:`MODERN_LEARNING_RATES` over it (a classic name in a modern run keeps its rate,
    AdamW takes the modern rate).

    >>> learning_rates({"adam": 0.01})["adam"], LEARNING_RATES["adam"]
    (0.01, 0.002)
    >>> learning_rates(group="modern")["adamw"] == MODERN_LEARNING_RATES["adamw"]
    True
    """
    table = LEARNING_RATES if group == "classic" else {**LEARNING_RATES, **MODERN_LEARNING_RATES}
    return {**table, **(overrides or {})}


__all__ = [
    "ALL_NAMES",
    "GROUPS",
    "LEARNING_RATES",
    "MODERN_LEARNING_RATES",
    "MODERN_NAMES",
    "MODERN_SWEEP",
    "NAMES",
    "SETTINGS",
    "eval_params_fn",
    "group_of",
    "learning_rates",
    "make_optimizer",
    "parse_learning_rates",
    "parse_optimizers",
]
