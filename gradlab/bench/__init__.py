"""``python -m gradlab.bench``: gradlab's optimizer steps against optax's, on the device present.

:mod:`~gradlab.bench.trees` makes the parameter trees, :mod:`~gradlab.bench.measure` compiles
and times steps (interleaved, donated) and reads XLA's cost analysis,
:mod:`~gradlab.bench.suites` builds the comparisons (optimizers, wrappers, the flat path),
:mod:`~gradlab.bench.report` writes the table and :mod:`~gradlab.bench.cli` is the command.
Needs optax (and flax for the MLP rows); not re-exported at the top level.
"""
