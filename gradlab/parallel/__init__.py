"""Beyond one device: data parallelism, ZeRO-1 state sharding, model averaging and delays.

``gradient_averaging`` holds the all-reduce of synchronous data parallelism
(``average_gradients``, ``synchronous_sgd``); ``sharding`` where the optimizer state lives on a
mesh (``state_shardings``, ``zero1_shardings``, ``bytes_per_device``); ``model_averaging`` local
SGD and elastic averaging (``periodic_averaging``, ``local_sgd``, ``easgd``); ``delays`` and
``delay_tolerant`` stale gradients and the optimizer built for them (``delayed_gradients``,
``delay_tolerant_adagrad``). docs/scaling_out.md shows them at work on one device, many devices
and many hosts.
"""

from gradlab.parallel.delay_tolerant import DelayTolerantAdagradState as DelayTolerantAdagradState
from gradlab.parallel.delay_tolerant import delay_tolerant_adagrad as delay_tolerant_adagrad
from gradlab.parallel.delays import DelayedGradientsState as DelayedGradientsState
from gradlab.parallel.delays import delayed_gradients as delayed_gradients
from gradlab.parallel.gradient_averaging import average_gradients as average_gradients
from gradlab.parallel.gradient_averaging import synchronous_sgd as synchronous_sgd
from gradlab.parallel.model_averaging import EasgdState as EasgdState
from gradlab.parallel.model_averaging import PeriodicAveragingState as PeriodicAveragingState
from gradlab.parallel.model_averaging import easgd as easgd
from gradlab.parallel.model_averaging import local_sgd as local_sgd
from gradlab.parallel.model_averaging import periodic_averaging as periodic_averaging
from gradlab.parallel.sharding import bytes_per_device as bytes_per_device
from gradlab.parallel.sharding import state_shardings as state_shardings
from gradlab.parallel.sharding import zero1_shardings as zero1_shardings

__all__ = [
    "DelayTolerantAdagradState",
    "DelayedGradientsState",
    "EasgdState",
    "PeriodicAveragingState",
    "average_gradients",
    "bytes_per_device",
    "delay_tolerant_adagrad",
    "delayed_gradients",
    "easgd",
    "local_sgd",
    "periodic_averaging",
    "state_shardings",
    "synchronous_sgd",
    "zero1_shardings",
]
