"""``python -m gradlab.demo``: every classic gradlab optimizer training real models, compared.

The command (also installed as ``gradlab-demo``) trains one Flax MLP on scikit-learn's bundled
handwritten digits with each of the 11 optimizers of :data:`gradlab.demo.optimizers.NAMES`, at
the learning rates of :data:`gradlab.demo.optimizers.LEARNING_RATES`; fits a linear SVM with
the hinge and squared hinge losses on the breast-cancer set (against scikit-learn's
``LinearSVC``); and fits linear regressions with the L2, Huber and L1 losses on the diabetes
set with gross outliers in its training targets. It prints a table, and writes it
(``results.md``, ``results.json``) and PNG plots to an output folder.

``python -m gradlab.demo --optimizers modern`` trains the same MLP with the modern group of
:data:`gradlab.demo.optimizers.MODERN_LEARNING_RATES` (Lion, LAMB, Adafactor, Muon, SOAP,
schedule-free AdamW, Prodigy, beside AdamW) and reports each one's test accuracy, steps to 95%
test accuracy and median step time; :mod:`gradlab.demo.sweep` is how its learning rates were
chosen, on a validation split of the training images.

Its extras (flax, scikit-learn, matplotlib, tqdm: ``pip install -e ".[demo]"`` in a checkout)
are imported only when it runs, so every module here imports without them.

Modules: :mod:`~gradlab.demo.cli` (the command), :mod:`~gradlab.demo.optimizers` (the
learning-rate table), :mod:`~gradlab.demo.data` (the data sets),
:mod:`~gradlab.demo.training` (the one training loop), :mod:`~gradlab.demo.classification`
(the digits MLP), :mod:`~gradlab.demo.losses_demo` (SVM and regression),
:mod:`~gradlab.demo.report` (tables, JSON), :mod:`~gradlab.demo.plots` (PNGs) and
:mod:`~gradlab.demo.sweep` (the modern group's learning-rate sweep).
"""
