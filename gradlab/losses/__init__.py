r"""Loss functions: pure functions of arrays that return per-example values.

Every loss returns one value per example (the caller reduces, e.g. with ``.mean()``), as in
``optax.losses``. Where optax 0.2.8 has a loss of the same name, the argument names, order and
defaults are optax's and the values agree with optax to float rounding.

Conventions shared by every function here:

* **dtype.** The output dtype is the floating dtype of the first argument (``predictions``,
  ``logits``, ``scores``...); the other array arguments and the hyperparameters are cast to it
  (bf16 in, bf16 out). An integer first argument is promoted to JAX's default float dtype.
* **Shapes.** The two arrays a loss compares (``predictions``/``targets``, ``logits``/``labels``,
  ``log_predictions``/``targets``...) must have equal shapes, as optax's ``squared_error`` and
  ``perceptron_loss`` check: a ``(N, 1)`` prediction against ``(N,)`` targets would otherwise
  broadcast to an ``(N, N)`` loss. The ``ValueError`` names the function, both arguments, both
  shapes and the fix. Integer ``labels`` must have the scores' shape without the class axis.
  Only hyperparameters broadcast, and only to the first argument's shape without growing it: a
  scalar or per-column ``delta`` (``huber_loss``) or ``precision`` (``gaussian_nll``), and a
  ``where`` mask (the logits' or the examples' shape, as optax documents). Shapes are static, so
  the checks also hold under ``jit`` and ``vmap``.
* **Stability.** Logits only enter through ``log_softmax``/``logsumexp``/``log_sigmoid``, so
  :math:`|z| = 10^4` gives finite losses and gradients.
* **Kinks.** Every non-differentiable loss states in its docstring which subgradient
  ``jax.grad`` returns at the kink.
* **Validation.** A concrete bad hyperparameter raises ``ValueError`` naming the argument and a
  fix; traced hyperparameters (under ``jit``/``vmap``) are not checked.

Deliberate differences from optax 0.2.8 (values are identical for valid inputs unless listed):

* ``huber_loss``, ``sigmoid_binary_cross_entropy``, ``softmax_cross_entropy``, the two
  ``kl_divergence`` losses and ``hinge_loss`` require equal shapes of their two arrays; optax
  checks nothing there and broadcasts (its regression docstrings say "broadcastable").
  Integer-label losses require labels of exactly the batch shape (optax lets ``take_along_axis``
  broadcast them).
* Integer ``predictions``/``logits`` are promoted to float (optax raises ``TypeError``, or for
  ``hinge_loss``/``perceptron_loss`` computes in integers); ``targets``/``labels`` are cast to the
  first argument's dtype instead of type-promoted (bf16 logits with f32 labels give bf16).
* ``hinge_loss`` at margin 1 and ``perceptron_loss`` at margin 0 return the gradient of the
  active (linear) piece, ``-targets``; optax's ``jnp.maximum`` returns half of it.
* ``kl_divergence`` and ``kl_divergence_with_log_targets`` give 0 (and zero gradients) for
  entries whose target is exactly 0, also when the prediction is ``-inf``; optax gives ``nan``
  values there or ``nan`` gradients with respect to ``targets``.
* ``softmax_cross_entropy`` with ``where`` has finite gradients with respect to ``labels`` at
  masked entries (optax: ``nan``).
* ``multiclass_hinge_loss``/``multiclass_perceptron_loss`` require integer labels (optax
  accepts any dtype), read negative labels from the end and give ``nan`` for labels out of range
  (optax silently uses an all-zero one-hot row for both); ``multiclass_hinge_loss`` has the extra
  keyword-only ``form``.
* Each loss runs as one jitted kernel (optax's run op by op when called eagerly), so an eager
  call compiles once per input signature; values are unchanged.

``absolute_error``, ``l1_loss``, ``gaussian_nll``, ``binary_cross_entropy`` and
``squared_hinge_loss`` have no optax counterpart.
"""

from __future__ import annotations

from gradlab.losses.cross_entropy import (
    binary_cross_entropy,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)
from gradlab.losses.divergences import (
    kl_divergence,
    kl_divergence_with_log_targets,
)
from gradlab.losses.margins import (
    hinge_loss,
    multiclass_hinge_loss,
    multiclass_perceptron_loss,
    perceptron_loss,
    squared_hinge_loss,
)
from gradlab.losses.regression import (
    absolute_error,
    gaussian_nll,
    huber_loss,
    l1_loss,
    l2_loss,
    squared_error,
)

__all__ = [
    "absolute_error",
    "binary_cross_entropy",
    "gaussian_nll",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "l1_loss",
    "l2_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "perceptron_loss",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "squared_error",
    "squared_hinge_loss",
]
