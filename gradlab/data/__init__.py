r"""Data for gradient descent: shuffled index batches per epoch, from a PRNG key.

Batch (:math:`B = N`), mini-batch and online (:math:`B = 1`) gradient descent differ only in
the batch size given to :func:`batch_indices` (jittable, static shapes), :func:`iterate_batches`
(a Python generator of data batches) and :func:`epochs` (one permutation per epoch).
"""

from gradlab.data.batching import Epoch as Epoch
from gradlab.data.batching import batch_indices as batch_indices
from gradlab.data.batching import epochs as epochs
from gradlab.data.batching import iterate_batches as iterate_batches
from gradlab.data.batching import num_batches as num_batches
from gradlab.data.batching import take_batch as take_batch

__all__ = ["Epoch", "batch_indices", "epochs", "iterate_batches", "num_batches", "take_batch"]
