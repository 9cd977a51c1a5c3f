"""Times gradlab.solvers.minimize against other L-BFGS drivers on the same problems.

Methods (each stops at ||grad||_2 <= tol or after maxiter iterations, memory 10, float64):

* ``gradlab.minimize``: the whole run in one compiled ``jax.lax.while_loop`` (timed after an
  ahead-of-time compilation);
* ``scipy L-BFGS-B``: ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` driving a jitted
  ``jax.value_and_grad`` (a host round trip per evaluation; its ``gtol`` is on the largest
  gradient entry, so it gets tol / sqrt(n), which implies the 2-norm test, and may stop later);
* ``optax.lbfgs loop``: optax's documented pattern, a Python loop over a jitted step that uses
  ``optax.value_and_grad_from_state`` (one dispatch per iteration);
* ``jaxopt.LBFGS`` and ``optimistix`` (BFGS, LBFGS), compiled loops too, when they are
  importable (``pip install -e ".[bench]"``; skipped with a note otherwise). optimistix stops on
  its own Cauchy test (changes in x and f below ``atol = tol``), not on the gradient norm.

Problems: the extended Rosenbrock function (n/2 independent 2-D Rosenbrock pairs; Moré, Garbow &
Hillstrom 1981) from (-1.2, 1, -1.2, 1, ...), and a least-squares
problem with a tridiagonal Hessian (f(x) = 1/2 sum d_i (x_i - c_i)^2 + 5 sum (x_{i+1} - x_i)^2,
d_i from 1 to 100, condition number about 140 at every size), at 10, 1e3, 1e5 and 1e6 variables.

Usage::

    python benchmarks/minimize_bench.py --quick            # sizes 10 and 1e3
    python benchmarks/minimize_bench.py --json results.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

# scipy's L-BFGS-B calls OpenBLAS on tiny vectors; with OpenBLAS's threads competing with XLA's
# for a few cores each call took ~3 ms at n = 10 (100x slower). One BLAS thread is fair to it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gradlab.solvers import minimize  # noqa: E402

MEMORY = 10
STOPS: list[str] = []  # why a method stopped before the tolerance, where it says


# ---------------------------------------------------------------------------------------------
# Problems


def rosenbrock(x: jax.Array) -> jax.Array:
    """Extended Rosenbrock: sum over pairs of 100 (x_2i - x_2i-1^2)^2 + (1 - x_2i-1)^2. (The
    chained form needs O(n) iterations from this start: 2000 were not enough at n = 1e3.)"""
    odd, even = x[0::2], x[1::2]
    return jnp.sum(100.0 * (even - odd**2) ** 2 + (1.0 - odd) ** 2)


def rosenbrock_problem(n: int) -> tuple[Callable[[jax.Array], jax.Array], jax.Array]:
    return rosenbrock, jnp.asarray(np.resize([-1.2, 1.0], n))


def least_squares_problem(n: int) -> tuple[Callable[[jax.Array], jax.Array], jax.Array]:
    d = jnp.asarray(np.logspace(0.0, 2.0, n))
    c = jnp.asarray(np.sin(np.arange(n)))

    def fun(x: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum(d * (x - c) ** 2) + 5.0 * jnp.sum((x[1:] - x[:-1]) ** 2)

    return fun, jnp.zeros(n)


PROBLEMS = {"rosenbrock": rosenbrock_problem, "least_squares": least_squares_problem}


# ---------------------------------------------------------------------------------------------
# Methods: each returns (iterations, function evaluations or None, final grad norm, seconds)

Result = tuple[int, Any, float, float]


def _best_time(run: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    best, out = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return out, best


def run_gradlab(fun: Callable, x0: jax.Array, tol: float, maxiter: int, repeats: int) -> Result:
    solve = jax.jit(lambda x: minimize(fun, x, tol=tol, maxiter=maxiter))
    compiled = solve.lower(x0).compile()

    def run() -> Any:
        return jax.block_until_ready(compiled(x0))

    result, seconds = _best_time(run, repeats)
    return (
        int(result.num_iterations),
        int(result.num_fun_evals),
        float(result.grad_norm),
        seconds,
    )


def run_scipy(fun: Callable, x0: jax.Array, tol: float, maxiter: int, repeats: int) -> Result:
    from scipy.optimize import minimize as scipy_minimize

    value_and_grad = jax.jit(jax.value_and_grad(fun))
    jax.block_until_ready(value_and_grad(x0))  # compile

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = value_and_grad(x)
        return float(value), np.asarray(grad, np.float64)

    gtol = tol / math.sqrt(x0.size)  # its test is on max |g_i|: this one implies ||g||_2 <= tol
    options = {
        "maxcor": MEMORY,
        "gtol": gtol,
        "ftol": 0.0,
        "maxiter": maxiter,
        "maxfun": 20 * maxiter,
    }

    def run() -> Any:
        return scipy_minimize(
            objective, np.asarray(x0), jac=True, method="L-BFGS-B", options=options
        )

    result, seconds = _best_time(run, repeats)
    grad_norm = float(np.linalg.norm(np.asarray(value_and_grad(result.x)[1])))
    if grad_norm > tol:
        STOPS.append(f"scipy L-BFGS-B, n={x0.size}: stopped with {result.message!r}")
    return int(result.nit), int(result.nfev), grad_norm, seconds


def run_optax(fun: Callable, x0: jax.Array, tol: float, maxiter: int, repeats: int) -> Result:
    import optax

    solver = optax.lbfgs(memory_size=MEMORY)
    value_and_grad = optax.value_and_grad_from_state(fun)

    def step(x: jax.Array, state: Any) -> tuple[jax.Array, Any, jax.Array, jax.Array]:
        value, grad = value_and_grad(x, state=state)
        updates, state = solver.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        # the stopping test reads the gradient at the new point, which the line search stored
        new_grad = optax.tree.get(state, "grad")
        steps = optax.tree.get(state, "num_linesearch_steps")
        return optax.apply_updates(x, updates), state, optax.tree.norm(new_grad), steps

    state0 = solver.init(x0)
    # x and the state are donated: the memory buffers are updated in place, as inside a loop
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(x0, state0).compile()
    first_grad_norm = float(optax.tree.norm(jax.grad(fun)(x0)))

    def run() -> tuple[int, int, float]:
        x, state = jnp.copy(x0), jax.tree.map(jnp.copy, state0)  # fresh buffers to donate
        grad_norm, evals, k = first_grad_norm, 1, 0
        while k < maxiter and grad_norm > tol:
            x, state, norm, steps = compiled(x, state)
            grad_norm, evals, k = float(norm), evals + int(steps), k + 1  # syncs every step
        return k, evals, grad_norm

    (k, evals, grad_norm), seconds = _best_time(run, repeats)
    return k, evals, grad_norm, seconds


def run_jaxopt(fun: Callable, x0: jax.Array, tol: float, maxiter: int, repeats: int) -> Result:
    jaxopt = importlib.import_module("jaxopt")
    solver = jaxopt.LBFGS(fun=fun, maxiter=maxiter, tol=tol, history_size=MEMORY)
    compiled = jax.jit(solver.run).lower(x0).compile()
    (params, state), seconds = _best_time(lambda: jax.block_until_ready(compiled(x0)), repeats)
    grad_norm = float(jnp.linalg.norm(jax.grad(fun)(params)))
    return int(state.iter_num), int(state.num_fun_eval), grad_norm, seconds


def _optimistix(solver_name: str) -> Callable[..., Result]:
    def run_optimistix(
        fun: Callable, x0: jax.Array, tol: float, maxiter: int, repeats: int
    ) -> Result:
        optx = importlib.import_module("optimistix")
        solver = getattr(optx, solver_name)(rtol=0.0, atol=tol)  # optimistix's own gradient test

        def solve(x: jax.Array) -> tuple[jax.Array, jax.Array]:
            sol = optx.minimise(lambda y, args: fun(y), solver, x, max_steps=maxiter, throw=False)
            return sol.value, sol.stats["num_steps"]  # the solution's state holds non-arrays

        compiled = jax.jit(solve).lower(x0).compile()
        (value, steps), seconds = _best_time(lambda: jax.block_until_ready(compiled(x0)), repeats)
        grad_norm = float(jnp.linalg.norm(jax.grad(fun)(value)))
        return int(steps), None, grad_norm, seconds

    return run_optimistix


METHODS: dict[str, tuple[Callable[..., Result], str | None, int]] = {
    # name: (runner, module it needs, largest size it is run at)
    "gradlab.minimize": (run_gradlab, None, 10**6),
    "scipy L-BFGS-B": (run_scipy, "scipy", 10**6),
    "optax.lbfgs loop": (run_optax, "optax", 10**6),
    "jaxopt.LBFGS": (run_jaxopt, "jaxopt", 10**6),
    "optimistix.LBFGS": (_optimistix("LBFGS"), "optimistix", 10**6),
    "optimistix.BFGS": (_optimistix("BFGS"), "optimistix", 10**3),  # a dense n x n matrix
}


def _available(module: str | None) -> bool:
    if module is None:
        return True
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10 and 1e3 only")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the sizes")
    parser.add_argument("--tol", type=float, default=1e-5, help="gradient-norm tolerance")
    parser.add_argument("--maxiter", type=int, default=2000)
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10, 1000] if args.quick else [10, 1000, 10**5, 10**6])

    notes = [f"{name}: skipped, {module} is not installed" for name, (_, module, _) in
             METHODS.items() if not _available(module)]  # fmt: skip
    rows = []
    for problem, build in PROBLEMS.items():
        for n in sizes:
            fun, x0 = build(n)
            repeats = 3 if n <= 1000 else 1
            for name, (runner, module, largest) in METHODS.items():
                if not _available(module) or n > largest:
                    continue
                try:
                    iterations, evals, grad_norm, seconds = runner(
                        fun, x0, args.tol, args.maxiter, repeats
                    )
                except Exception as error:  # noqa: BLE001 - a failing method is a row, not a crash
                    notes.append(f"{name} on {problem} n={n}: {type(error).__name__}: {error}")
                    continue
                row = {
                    "problem": problem,
                    "n": n,
                    "method": name,
                    "iterations": iterations,
                    "fun_evals": evals,
                    "grad_norm": grad_norm,
                    "converged": grad_norm <= args.tol,
                    "seconds": seconds,
                }
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)

    print(
        f"\ntol = {args.tol:g} on ||grad||_2, maxiter = {args.maxiter}, memory {MEMORY}, float64,"
    )
    print(f"{jax.devices()[0].platform} ({jax.device_count()} device), jax {jax.__version__}\n")
    print(
        "| problem | n | method | iterations | f evals | final ‖∇f‖ | converged | wall time (s) |"
    )
    print("|---|---:|---|---:|---:|---:|:-:|---:|")
    for r in rows:
        evals = "n/a" if r["fun_evals"] is None else r["fun_evals"]
        print(
            f"| {r['problem']} | {r['n']:.0e} | {r['method']} | {r['iterations']} | {evals} "
            f"| {r['grad_norm']:.1e} | {'yes' if r['converged'] else 'no'} | {r['seconds']:.4f} |"
        )
    notes += STOPS
    for note in notes:
        print(f"\nNote: {note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tol": args.tol, "maxiter": args.maxiter, "rows": rows, "notes": notes}, f,
                      indent=2)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
