"""gradlab: optimizers, learning-rate schedules and losses for JAX, composed from small primitives.

>>> import jax.numpy as jnp, gradlab
>>> tx = gradlab.adam(learning_rate=1e-3)
>>> state = tx.init({"w": jnp.zeros(3)})
"""

from gradlab.base import EmptyState as EmptyState
from gradlab.base import GradientTransformation as GradientTransformation
from gradlab.base import OptState as OptState
from gradlab.base import Params as Params
from gradlab.base import ScalarOrSchedule as ScalarOrSchedule
from gradlab.base import Schedule as Schedule
from gradlab.base import Updates as Updates
from gradlab.base import apply_updates as apply_updates
from gradlab.base import identity as identity
from gradlab.base import stateless as stateless
from gradlab.combine import DivideState as DivideState
from gradlab.combine import MaskedState as MaskedState
from gradlab.combine import chain as chain
from gradlab.combine import divide as divide
from gradlab.combine import masked as masked
from gradlab.combine import named_chain as named_chain
from gradlab.hyperparams import InjectState as InjectState
from gradlab.hyperparams import hyperparams as hyperparams
from gradlab.hyperparams import inject_hyperparams as inject_hyperparams
from gradlab.hyperparams import set_hyperparams as set_hyperparams
from gradlab.optimizers import adadelta as adadelta
from gradlab.optimizers import adagrad as adagrad
from gradlab.optimizers import adam as adam
from gradlab.optimizers import adamax as adamax
from gradlab.optimizers import adamw as adamw
from gradlab.optimizers import amsgrad as amsgrad
from gradlab.optimizers import nadam as nadam
from gradlab.optimizers import rmsprop as rmsprop
from gradlab.optimizers import sgd as sgd
from gradlab.primitives import add_decayed_weights as add_decayed_weights
from gradlab.primitives import amsgrad_max as amsgrad_max
from gradlab.primitives import bias_correction as bias_correction
from gradlab.primitives import ema as ema
from gradlab.primitives import ema_variance as ema_variance
from gradlab.primitives import max_abs as max_abs
from gradlab.primitives import scale as scale
from gradlab.primitives import scale_by_adadelta as scale_by_adadelta
from gradlab.primitives import scale_by_learning_rate as scale_by_learning_rate
from gradlab.primitives import scale_by_max_abs as scale_by_max_abs
from gradlab.primitives import scale_by_momentum as scale_by_momentum
from gradlab.primitives import scale_by_rms as scale_by_rms
from gradlab.primitives import scale_by_schedule as scale_by_schedule
from gradlab.primitives import scale_by_sum_of_squares as scale_by_sum_of_squares
from gradlab.primitives import sum_of_squares as sum_of_squares

__version__ = "0.1.0"

__all__ = [
    "DivideState",
    "EmptyState",
    "GradientTransformation",
    "InjectState",
    "MaskedState",
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "Schedule",
    "Updates",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "add_decayed_weights",
    "amsgrad",
    "amsgrad_max",
    "apply_updates",
    "bias_correction",
    "chain",
    "divide",
    "ema",
    "ema_variance",
    "hyperparams",
    "identity",
    "inject_hyperparams",
    "masked",
    "max_abs",
    "nadam",
    "named_chain",
    "rmsprop",
    "scale",
    "scale_by_adadelta",
    "scale_by_learning_rate",
    "scale_by_max_abs",
    "scale_by_momentum",
    "scale_by_rms",
    "scale_by_schedule",
    "scale_by_sum_of_squares",
    "set_hyperparams",
    "sgd",
    "stateless",
    "sum_of_squares",
]
