"""Solvers: line searches, L-BFGS and a compiled ``minimize`` loop.

``linesearch`` holds the backtracking (Armijo) and zoom (strong Wolfe) line searches; ``lbfgs``
the L-BFGS direction and optimizer; ``minimize`` the loops that reuse a line search's
evaluations: ``value_and_grad_from_state`` (optax's pattern, for a Python loop) and ``minimize``
(the whole optimization in one ``jax.lax.while_loop``).

>>> import jax.numpy as jnp
>>> from gradlab.solvers import minimize
>>> float(minimize(lambda w: jnp.sum((w - 2.0) ** 2), jnp.zeros(3)).value)
0.0
"""

from gradlab.solvers.lbfgs import ScaleByLBFGSState as ScaleByLBFGSState
from gradlab.solvers.lbfgs import lbfgs as lbfgs
from gradlab.solvers.lbfgs import scale_by_lbfgs as scale_by_lbfgs
from gradlab.solvers.linesearch import BacktrackingLinesearchInfo as BacktrackingLinesearchInfo
from gradlab.solvers.linesearch import (
    ScaleByBacktrackingLinesearchState as ScaleByBacktrackingLinesearchState,
)
from gradlab.solvers.linesearch import ScaleByZoomLinesearchState as ScaleByZoomLinesearchState
from gradlab.solvers.linesearch import ZoomLinesearchInfo as ZoomLinesearchInfo
from gradlab.solvers.linesearch import (
    scale_by_backtracking_linesearch as scale_by_backtracking_linesearch,
)
from gradlab.solvers.linesearch import scale_by_zoom_linesearch as scale_by_zoom_linesearch
from gradlab.solvers.minimize import MinimizeResult as MinimizeResult
from gradlab.solvers.minimize import find_linesearch_state as find_linesearch_state
from gradlab.solvers.minimize import minimize as minimize
from gradlab.solvers.minimize import value_and_grad_from_state as value_and_grad_from_state

__all__ = [
    "BacktrackingLinesearchInfo",
    "MinimizeResult",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByLBFGSState",
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "find_linesearch_state",
    "lbfgs",
    "minimize",
    "scale_by_backtracking_linesearch",
    "scale_by_lbfgs",
    "scale_by_zoom_linesearch",
    "value_and_grad_from_state",
]
