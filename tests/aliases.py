"""Every optimizer alias gradlab ships, built with settings that exercise all of its stages.

The suite's property checks (tests/test_properties.py) run ``gradlab.testing`` on each entry;
a new alias is added here, and ``test_every_alias_is_registered`` fails until it is.
"""

import gradlab

# name -> constructor with no arguments
ALIASES = {
    "sgd": lambda: gradlab.sgd(0.05, momentum=0.9),
    "adagrad": lambda: gradlab.adagrad(0.1),
    "rmsprop": lambda: gradlab.rmsprop(0.01, centered=True, momentum=0.5),
    "adadelta": lambda: gradlab.adadelta(1.0, weight_decay=0.01),
    "adam": lambda: gradlab.adam(0.01),
    "adamw": lambda: gradlab.adamw(0.01, weight_decay=0.1),
    "adamax": lambda: gradlab.adamax(0.01),
    "nadam": lambda: gradlab.nadam(0.01),
    "amsgrad": lambda: gradlab.amsgrad(0.01),
    "sign_sgd": lambda: gradlab.sign_sgd(0.01),
    "signum": lambda: gradlab.signum(0.01),
    "lion": lambda: gradlab.lion(0.01, weight_decay=0.1),
    "lars": lambda: gradlab.lars(0.1, weight_decay=0.01),
    "lamb": lambda: gradlab.lamb(0.01, weight_decay=0.01),
    "novograd": lambda: gradlab.novograd(0.01, weight_decay=0.01),
    "nadamw": lambda: gradlab.nadamw(0.01, weight_decay=0.1),
    "adamaxw": lambda: gradlab.adamaxw(0.01, weight_decay=0.1),
    "radam": lambda: gradlab.radam(0.01),
    "adabelief": lambda: gradlab.adabelief(0.01),
    "yogi": lambda: gradlab.yogi(0.01),
    "adopt": lambda: gradlab.adopt(0.01),
    "adan": lambda: gradlab.adan(0.01, weight_decay=0.01),
    "ademamix": lambda: gradlab.ademamix(0.01),
    "adafactor": lambda: gradlab.adafactor(0.01, min_dim_size_to_factor=2, momentum=0.9),
    "muon": lambda: gradlab.muon(0.02, weight_decay=0.01),
    "schedule_free_adamw": lambda: gradlab.schedule_free_adamw(0.01, warmup_steps=2),
    "schedule_free_sgd": lambda: gradlab.schedule_free_sgd(0.1),
    "prodigy": lambda: gradlab.prodigy(),
    "soap": lambda: gradlab.soap(0.01, precondition_frequency=2),
}
