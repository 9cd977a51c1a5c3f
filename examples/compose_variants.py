"""Optimizers nobody shipped, composed from gradlab primitives, raced on the Rosenbrock function.

Run from the repository root:  python examples/compose_variants.py  (--quick: 500 steps)
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

import gradlab


def amsgrad_nesterov(learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """AMSGrad's non-decreasing denominator with Dozat's Nesterov numerator."""
    nesterov_m_hat = gradlab.fan_out(  # b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)
        gradlab.chain(gradlab.moving_average(b1), gradlab.bias_correction(b1, offset=1)),
        gradlab.bias_correction(b1),
        combine=lambda m_hat, g_hat, g: b1 * m_hat + (1 - b1) * g_hat,
    )
    return gradlab.chain(
        gradlab.divide(
            nesterov_m_hat,
            gradlab.chain(  # sqrt(max over time of v̂) + eps
                gradlab.moving_average(b2, order=2),
                gradlab.bias_correction(b2),
                gradlab.amsgrad_max(),
                gradlab.sqrt(),
                gradlab.add_eps(eps),
            ),
        ),
        gradlab.scale_by_learning_rate(learning_rate),
    )


def centered_rmsprop_nesterov(learning_rate: float, decay: float = 0.9, momentum: float = 0.9):
    """Graves' centered RMSProp followed by Nesterov momentum on the scaled step."""
    return gradlab.chain(
        gradlab.scale_by_rms(decay, 1e-8, centered=True),
        gradlab.scale_by_learning_rate(learning_rate),
        gradlab.trace(momentum, nesterov=True),
    )


def rosenbrock(w: jax.Array) -> jax.Array:
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def minimise(tx: gradlab.GradientTransformation, steps: int = 5000) -> jax.Array:
    def step(carry, _):
        w, state = carry
        updates, state = tx.update(jax.grad(rosenbrock)(w), state, w)
        return (gradlab.apply_updates(w, updates), state), rosenbrock(w)

    w0 = jnp.array([-1.2, 1.0])
    run = jax.jit(lambda c: jax.lax.scan(step, c, None, length=steps), donate_argnums=0)
    (w, _), _ = run((w0, tx.init(w0)))  # params and state donated: w0 is not used again
    return w


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 steps instead of 5000")
    parser.add_argument("--steps", type=int, default=None, help="default 5000")
    args = parser.parse_args(argv)
    steps = args.steps or (500 if args.quick else 5000)
    finals = {}
    for name, tx in [
        ("adam", gradlab.adam(0.02)),
        ("amsgrad", gradlab.amsgrad(0.5)),
        ("amsgrad + nesterov", amsgrad_nesterov(0.5)),
        ("centered rmsprop + nesterov", centered_rmsprop_nesterov(1e-3)),
    ]:
        w = minimise(tx, steps)
        finals[name] = float(rosenbrock(w))
        print(f"{name:28s} w = {w}  f(w) = {finals[name]:.2e}")
    return finals


if __name__ == "__main__":
    main()
