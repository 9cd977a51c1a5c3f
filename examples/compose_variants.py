"""Optimizers nobody shipped, composed from gradlab primitives, raced on the Rosenbrock function.

Run from the repository root:  python examples/compose_variants.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import gradlab


def amsgrad_nesterov(learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """AMSGrad's non-decreasing denominator with Dozat's Nesterov numerator."""
    return gradlab.chain(
        gradlab.divide(
            gradlab.scale_by_momentum(b1, nesterov=True, form="ema", debias=True),  # Nesterov m̂
            gradlab.chain(  # max over time of v̂
                gradlab.ema(b2, order=2), gradlab.bias_correction(b2), gradlab.amsgrad_max()
            ),
            eps=eps,
        ),
        gradlab.scale_by_learning_rate(learning_rate),
    )


def centered_rmsprop_nesterov(learning_rate: float, decay: float = 0.9, momentum: float = 0.9):
    """Graves' centered RMSProp followed by Nesterov momentum on the scaled step."""
    return gradlab.chain(
        gradlab.scale_by_rms(decay, 1e-8, centered=True),
        gradlab.scale_by_learning_rate(learning_rate),
        gradlab.scale_by_momentum(momentum, nesterov=True),
    )


def rosenbrock(w: jax.Array) -> jax.Array:
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def minimise(tx: gradlab.GradientTransformation, steps: int = 5000) -> jax.Array:
    def step(carry, _):
        w, state = carry
        updates, state = tx.update(jax.grad(rosenbrock)(w), state, w)
        return (gradlab.apply_updates(w, updates), state), rosenbrock(w)

    w0 = jnp.array([-1.2, 1.0])
    (w, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, None, length=steps))((w0, tx.init(w0)))
    return w


if __name__ == "__main__":
    for name, tx in [
        ("adam", gradlab.adam(0.02)),
        ("amsgrad", gradlab.amsgrad(0.5)),
        ("amsgrad + nesterov", amsgrad_nesterov(0.5)),
        ("centered rmsprop + nesterov", centered_rmsprop_nesterov(1e-3)),
    ]:
        w = minimise(tx)
        print(f"{name:28s} w = {w}  f(w) = {float(rosenbrock(w)):.2e}")
