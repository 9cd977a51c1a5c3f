"""gradlab: optimizers, learning-rate schedules and losses for JAX, composed from small primitives.

The whole public API is re-exported here, one name per object; CONTRIBUTING.md maps the
subpackages (``gradlab.core``, ``gradlab.transforms``, ``gradlab.optimizers``,
``gradlab.schedules``, ``gradlab.losses``, ``gradlab.solvers``,
``gradlab.projections``, ``gradlab.diagnostics``, ``gradlab.data``, ``gradlab.testing``).

>>> import jax.numpy as jnp, gradlab
>>> tx = gradlab.adam(learning_rate=1e-3)
>>> state = tx.init({"w": jnp.zeros(3)})
"""

from gradlab import data as data
from gradlab import diagnostics as diagnostics
from gradlab import losses as losses
from gradlab import projections as projections
from gradlab import schedules as schedules
from gradlab import solvers as solvers
from gradlab import testing as testing
from gradlab.core.base import EmptyState as EmptyState
from gradlab.core.base import GradientTransformation as GradientTransformation
from gradlab.core.base import GradientTransformationExtraArgs as GradientTransformationExtraArgs
from gradlab.core.base import OptState as OptState
from gradlab.core.base import Params as Params
from gradlab.core.base import ScalarOrSchedule as ScalarOrSchedule
from gradlab.core.base import Schedule as Schedule
from gradlab.core.base import ScheduleState as ScheduleState
from gradlab.core.base import StatefulSchedule as StatefulSchedule
from gradlab.core.base import Updates as Updates
from gradlab.core.base import apply_updates as apply_updates
from gradlab.core.base import identity as identity
from gradlab.core.base import stateless as stateless
from gradlab.core.base import with_extra_args_support as with_extra_args_support
from gradlab.core.injection import InjectState as InjectState
from gradlab.core.injection import declare_hyperparams as declare_hyperparams
from gradlab.core.injection import hyperparams as hyperparams
from gradlab.core.injection import inject_hyperparams as inject_hyperparams
from gradlab.core.injection import inject_stateful_hyperparams as inject_stateful_hyperparams
from gradlab.core.injection import set_hyperparams as set_hyperparams
from gradlab.data import Epoch as Epoch
from gradlab.data import batch_indices as batch_indices
from gradlab.data import epochs as epochs
from gradlab.data import iterate_batches as iterate_batches
from gradlab.data import num_batches as num_batches
from gradlab.data import take_batch as take_batch
from gradlab.diagnostics import GradCheckReport as GradCheckReport
from gradlab.diagnostics import GradientCheckError as GradientCheckError
from gradlab.diagnostics import LeafCheck as LeafCheck
from gradlab.diagnostics import check_grads as check_grads
from gradlab.losses import absolute_error as absolute_error
from gradlab.losses import binary_cross_entropy as binary_cross_entropy
from gradlab.losses import gaussian_nll as gaussian_nll
from gradlab.losses import hinge_loss as hinge_loss
from gradlab.losses import huber_loss as huber_loss
from gradlab.losses import kl_divergence as kl_divergence
from gradlab.losses import kl_divergence_with_log_targets as kl_divergence_with_log_targets
from gradlab.losses import l1_loss as l1_loss
from gradlab.losses import l2_loss as l2_loss
from gradlab.losses import multiclass_hinge_loss as multiclass_hinge_loss
from gradlab.losses import multiclass_perceptron_loss as multiclass_perceptron_loss
from gradlab.losses import perceptron_loss as perceptron_loss
from gradlab.losses import sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy
from gradlab.losses import softmax_cross_entropy as softmax_cross_entropy
from gradlab.losses import (
    softmax_cross_entropy_with_integer_labels as softmax_cross_entropy_with_integer_labels,
)
from gradlab.losses import squared_error as squared_error
from gradlab.losses import squared_hinge_loss as squared_hinge_loss
from gradlab.optimizers.adafactor import adafactor as adafactor
from gradlab.optimizers.adam_family import adam as adam
from gradlab.optimizers.adam_family import adamax as adamax
from gradlab.optimizers.adam_family import adamw as adamw
from gradlab.optimizers.adam_family import amsgrad as amsgrad
from gradlab.optimizers.adam_family import nadam as nadam
from gradlab.optimizers.adaptive_moments import adabelief as adabelief
from gradlab.optimizers.adaptive_moments import adan as adan
from gradlab.optimizers.adaptive_moments import ademamix as ademamix
from gradlab.optimizers.adaptive_moments import adopt as adopt
from gradlab.optimizers.adaptive_moments import radam as radam
from gradlab.optimizers.adaptive_moments import yogi as yogi
from gradlab.optimizers.adaptive_rates import adadelta as adadelta
from gradlab.optimizers.adaptive_rates import adagrad as adagrad
from gradlab.optimizers.adaptive_rates import rmsprop as rmsprop
from gradlab.optimizers.decoupled import adamaxw as adamaxw
from gradlab.optimizers.decoupled import nadamw as nadamw
from gradlab.optimizers.gradient_descent import sgd as sgd
from gradlab.optimizers.learning_rate_free import prodigy as prodigy
from gradlab.optimizers.learning_rate_free import schedule_free_adamw as schedule_free_adamw
from gradlab.optimizers.learning_rate_free import schedule_free_sgd as schedule_free_sgd
from gradlab.optimizers.matrix_aware import muon as muon
from gradlab.optimizers.sign_family import lamb as lamb
from gradlab.optimizers.sign_family import lars as lars
from gradlab.optimizers.sign_family import lion as lion
from gradlab.optimizers.sign_family import novograd as novograd
from gradlab.optimizers.sign_family import sign_sgd as sign_sgd
from gradlab.optimizers.sign_family import signum as signum
from gradlab.projections import project_params as project_params
from gradlab.projections import projection_box as projection_box
from gradlab.projections import projection_halfspace as projection_halfspace
from gradlab.projections import projection_hypercube as projection_hypercube
from gradlab.projections import projection_hyperplane as projection_hyperplane
from gradlab.projections import projection_l1_ball as projection_l1_ball
from gradlab.projections import projection_l1_sphere as projection_l1_sphere
from gradlab.projections import projection_l2_ball as projection_l2_ball
from gradlab.projections import projection_l2_sphere as projection_l2_sphere
from gradlab.projections import projection_linf_ball as projection_linf_ball
from gradlab.projections import projection_non_negative as projection_non_negative
from gradlab.projections import projection_simplex as projection_simplex
from gradlab.projections import projection_vector as projection_vector
from gradlab.schedules import constant_schedule as constant_schedule
from gradlab.schedules import cosine_decay_schedule as cosine_decay_schedule
from gradlab.schedules import cosine_onecycle_schedule as cosine_onecycle_schedule
from gradlab.schedules import cyclic_schedule as cyclic_schedule
from gradlab.schedules import exponential_decay as exponential_decay
from gradlab.schedules import inverse_time_decay as inverse_time_decay
from gradlab.schedules import join_schedules as join_schedules
from gradlab.schedules import linear_onecycle_schedule as linear_onecycle_schedule
from gradlab.schedules import linear_schedule as linear_schedule
from gradlab.schedules import linear_warmup as linear_warmup
from gradlab.schedules import piecewise_constant_schedule as piecewise_constant_schedule
from gradlab.schedules import piecewise_interpolate_schedule as piecewise_interpolate_schedule
from gradlab.schedules import polynomial_schedule as polynomial_schedule
from gradlab.schedules import sgdr_schedule as sgdr_schedule
from gradlab.schedules import warmup_constant_schedule as warmup_constant_schedule
from gradlab.schedules import warmup_cosine_decay_schedule as warmup_cosine_decay_schedule
from gradlab.schedules import warmup_exponential_decay_schedule as warmup_exponential_decay_schedule
from gradlab.schedules.stateful import WrappedSchedule as WrappedSchedule
from gradlab.schedules.stateful import WrappedScheduleState as WrappedScheduleState
from gradlab.solvers import BacktrackingLinesearchInfo as BacktrackingLinesearchInfo
from gradlab.solvers import MinimizeResult as MinimizeResult
from gradlab.solvers import ScaleByBacktrackingLinesearchState as ScaleByBacktrackingLinesearchState
from gradlab.solvers import ScaleByLBFGSState as ScaleByLBFGSState
from gradlab.solvers import ScaleByZoomLinesearchState as ScaleByZoomLinesearchState
from gradlab.solvers import ZoomLinesearchInfo as ZoomLinesearchInfo
from gradlab.solvers import find_linesearch_state as find_linesearch_state
from gradlab.solvers import lbfgs as lbfgs
from gradlab.solvers import minimize as minimize
from gradlab.solvers import scale_by_backtracking_linesearch as scale_by_backtracking_linesearch
from gradlab.solvers import scale_by_lbfgs as scale_by_lbfgs
from gradlab.solvers import scale_by_zoom_linesearch as scale_by_zoom_linesearch
from gradlab.solvers import value_and_grad_from_state as value_and_grad_from_state
from gradlab.transforms.additive_moment import AdditiveMomentState as AdditiveMomentState
from gradlab.transforms.additive_moment import additive_second_moment as additive_second_moment
from gradlab.transforms.averaging import PolyakState as PolyakState
from gradlab.transforms.averaging import averaged_params as averaged_params
from gradlab.transforms.averaging import ema_params as ema_params
from gradlab.transforms.averaging import polyak_averaging as polyak_averaging
from gradlab.transforms.belief import BeliefState as BeliefState
from gradlab.transforms.belief import belief_moment as belief_moment
from gradlab.transforms.blocks import ApplyEvery as ApplyEvery
from gradlab.transforms.blocks import EmaState as EmaState
from gradlab.transforms.blocks import ScaleByAdamState as ScaleByAdamState
from gradlab.transforms.blocks import ScaleByAmsgradState as ScaleByAmsgradState
from gradlab.transforms.blocks import (
    ScaleByOptimisticGradientState as ScaleByOptimisticGradientState,
)
from gradlab.transforms.blocks import ScaleByRssState as ScaleByRssState
from gradlab.transforms.blocks import ScaleByRStdDevState as ScaleByRStdDevState
from gradlab.transforms.blocks import ScaleByRStdDevWithCountState as ScaleByRStdDevWithCountState
from gradlab.transforms.blocks import apply_every as apply_every
from gradlab.transforms.blocks import ema as ema
from gradlab.transforms.blocks import scale_by_adam as scale_by_adam
from gradlab.transforms.blocks import scale_by_adamax as scale_by_adamax
from gradlab.transforms.blocks import scale_by_amsgrad as scale_by_amsgrad
from gradlab.transforms.blocks import scale_by_optimistic_gradient as scale_by_optimistic_gradient
from gradlab.transforms.blocks import scale_by_rss as scale_by_rss
from gradlab.transforms.blocks import scale_by_stddev as scale_by_stddev
from gradlab.transforms.centralization import centralize as centralize
from gradlab.transforms.centralization import normalize_by_update_norm as normalize_by_update_norm
from gradlab.transforms.centralization import scale_by_param_block_norm as scale_by_param_block_norm
from gradlab.transforms.centralization import scale_by_param_block_rms as scale_by_param_block_rms
from gradlab.transforms.centralization import scale_by_sign as scale_by_sign
from gradlab.transforms.centralization import scale_by_trust_ratio as scale_by_trust_ratio
from gradlab.transforms.clipping import adaptive_grad_clip as adaptive_grad_clip
from gradlab.transforms.clipping import clip as clip
from gradlab.transforms.clipping import clip_by_block_rms as clip_by_block_rms
from gradlab.transforms.clipping import clip_by_global_norm as clip_by_global_norm
from gradlab.transforms.clipping import global_norm as global_norm
from gradlab.transforms.clipping import per_example_global_norm_clip as per_example_global_norm_clip
from gradlab.transforms.combine import FanOutState as FanOutState
from gradlab.transforms.combine import chain as chain
from gradlab.transforms.combine import divide as divide
from gradlab.transforms.combine import fan_out as fan_out
from gradlab.transforms.combine import named_chain as named_chain
from gradlab.transforms.combine import safe_ratio as safe_ratio
from gradlab.transforms.conditionality import ConditionallyMaskState as ConditionallyMaskState
from gradlab.transforms.conditionality import (
    ConditionallyTransformState as ConditionallyTransformState,
)
from gradlab.transforms.conditionality import conditionally_mask as conditionally_mask
from gradlab.transforms.conditionality import conditionally_transform as conditionally_transform
from gradlab.transforms.conditionality import selective_transform as selective_transform
from gradlab.transforms.elementwise import add_eps as add_eps
from gradlab.transforms.elementwise import sqrt as sqrt
from gradlab.transforms.factored import FactoredState as FactoredState
from gradlab.transforms.factored import scale_by_factored_rms as scale_by_factored_rms
from gradlab.transforms.fused import AdadeltaState as AdadeltaState
from gradlab.transforms.fused import MomentumState as MomentumState
from gradlab.transforms.fused import VarianceState as VarianceState
from gradlab.transforms.fused import moving_variance as moving_variance
from gradlab.transforms.fused import scale_by_adadelta as scale_by_adadelta
from gradlab.transforms.fused import scale_by_momentum as scale_by_momentum
from gradlab.transforms.gradient_difference import (
    GradientDifferenceState as GradientDifferenceState,
)
from gradlab.transforms.gradient_difference import gradient_difference as gradient_difference
from gradlab.transforms.groups import PartitionState as PartitionState
from gradlab.transforms.groups import multi_transform as multi_transform
from gradlab.transforms.groups import param_groups as param_groups
from gradlab.transforms.groups import param_paths as param_paths
from gradlab.transforms.groups import partition as partition
from gradlab.transforms.lagged_normalization import LaggedRmsState as LaggedRmsState
from gradlab.transforms.lagged_normalization import adopt_clip_value as adopt_clip_value
from gradlab.transforms.lagged_normalization import (
    normalize_by_previous_rms as normalize_by_previous_rms,
)
from gradlab.transforms.layerwise import BlockSecondMomentState as BlockSecondMomentState
from gradlab.transforms.layerwise import block_second_moment as block_second_moment
from gradlab.transforms.layerwise import (
    scale_by_layerwise_trust_ratio as scale_by_layerwise_trust_ratio,
)
from gradlab.transforms.lookahead import LookaheadParams as LookaheadParams
from gradlab.transforms.lookahead import LookaheadState as LookaheadState
from gradlab.transforms.lookahead import lookahead as lookahead
from gradlab.transforms.masking import MaskedState as MaskedState
from gradlab.transforms.masking import masked as masked
from gradlab.transforms.noise import AddNoiseState as AddNoiseState
from gradlab.transforms.noise import add_noise as add_noise
from gradlab.transforms.orthogonalization import MuonDimensionNumbers as MuonDimensionNumbers
from gradlab.transforms.orthogonalization import MuonState as MuonState
from gradlab.transforms.orthogonalization import (
    orthogonalize_via_newton_schulz as orthogonalize_via_newton_schulz,
)
from gradlab.transforms.orthogonalization import scale_by_muon as scale_by_muon
from gradlab.transforms.orthogonalization import scale_by_newton_schulz as scale_by_newton_schulz
from gradlab.transforms.orthogonalization import scale_by_shape as scale_by_shape
from gradlab.transforms.plateau import ReduceLROnPlateauState as ReduceLROnPlateauState
from gradlab.transforms.plateau import reduce_on_plateau as reduce_on_plateau
from gradlab.transforms.preconditioners import DeltaRmsState as DeltaRmsState
from gradlab.transforms.preconditioners import scale_by_delta_rms as scale_by_delta_rms
from gradlab.transforms.preconditioners import scale_by_max_abs as scale_by_max_abs
from gradlab.transforms.preconditioners import scale_by_rms as scale_by_rms
from gradlab.transforms.preconditioners import scale_by_sum_of_squares as scale_by_sum_of_squares
from gradlab.transforms.rectification import RectifyState as RectifyState
from gradlab.transforms.rectification import rectify as rectify
from gradlab.transforms.sam import SAMState as SAMState
from gradlab.transforms.sam import sam as sam
from gradlab.transforms.scaling import ScaleByScheduleState as ScaleByScheduleState
from gradlab.transforms.scaling import scale as scale
from gradlab.transforms.scaling import scale_by_learning_rate as scale_by_learning_rate
from gradlab.transforms.scaling import scale_by_schedule as scale_by_schedule
from gradlab.transforms.schedule_free import ScheduleFreeState as ScheduleFreeState
from gradlab.transforms.schedule_free import schedule_free as schedule_free
from gradlab.transforms.schedule_free import schedule_free_eval_params as schedule_free_eval_params
from gradlab.transforms.signs import InterpolatedMomentumState as InterpolatedMomentumState
from gradlab.transforms.signs import ScaleByLionState as ScaleByLionState
from gradlab.transforms.signs import interpolate_momentum as interpolate_momentum
from gradlab.transforms.signs import scale_by_lion as scale_by_lion
from gradlab.transforms.signs import soft_sign as soft_sign
from gradlab.transforms.state_layout import with_state_layout as with_state_layout
from gradlab.transforms.statistics import CountState as CountState
from gradlab.transforms.statistics import MaxAbsState as MaxAbsState
from gradlab.transforms.statistics import MaxState as MaxState
from gradlab.transforms.statistics import MovingAverageState as MovingAverageState
from gradlab.transforms.statistics import SumOfSquaresState as SumOfSquaresState
from gradlab.transforms.statistics import TraceState as TraceState
from gradlab.transforms.statistics import amsgrad_max as amsgrad_max
from gradlab.transforms.statistics import bias_correction as bias_correction
from gradlab.transforms.statistics import max_abs as max_abs
from gradlab.transforms.statistics import moving_average as moving_average
from gradlab.transforms.statistics import sum_of_squares as sum_of_squares
from gradlab.transforms.statistics import trace as trace
from gradlab.transforms.step_size_estimation import ProdigyState as ProdigyState
from gradlab.transforms.step_size_estimation import scale_by_prodigy as scale_by_prodigy
from gradlab.transforms.weight_decay import add_decayed_weights as add_decayed_weights
from gradlab.transforms.wrappers import ApplyIfFiniteState as ApplyIfFiniteState
from gradlab.transforms.wrappers import MultiSteps as MultiSteps
from gradlab.transforms.wrappers import MultiStepsState as MultiStepsState
from gradlab.transforms.wrappers import MultiStepsTransformation as MultiStepsTransformation
from gradlab.transforms.wrappers import ShouldSkipUpdateFunction as ShouldSkipUpdateFunction
from gradlab.transforms.wrappers import ZeroNansState as ZeroNansState
from gradlab.transforms.wrappers import apply_if_finite as apply_if_finite
from gradlab.transforms.wrappers import freeze as freeze
from gradlab.transforms.wrappers import multi_steps as multi_steps
from gradlab.transforms.wrappers import set_to_zero as set_to_zero
from gradlab.transforms.wrappers import skip_large_updates as skip_large_updates
from gradlab.transforms.wrappers import skip_not_finite as skip_not_finite
from gradlab.transforms.wrappers import zero_nans as zero_nans

__version__ = "0.2.0"
from gradlab import flat as flat
from gradlab import parallel as parallel
from gradlab.core.quantization import Blockwise8bit as Blockwise8bit
from gradlab.core.quantization import Quantized as Quantized
from gradlab.core.quantization import UnsignedQuantized as UnsignedQuantized
from gradlab.core.quantization import dequantize_blockwise as dequantize_blockwise
from gradlab.core.quantization import dynamic_map as dynamic_map
from gradlab.core.quantization import quantize_blockwise as quantize_blockwise
from gradlab.flat import FlatBuffers as FlatBuffers
from gradlab.flat import FlatLayout as FlatLayout
from gradlab.flat import FlatState as FlatState
from gradlab.flat import NotElementwiseError as NotElementwiseError
from gradlab.flat import on_flat_buffers as on_flat_buffers
from gradlab.optimizers.soap import soap as soap
from gradlab.parallel import DelayedGradientsState as DelayedGradientsState
from gradlab.parallel import DelayTolerantAdagradState as DelayTolerantAdagradState
from gradlab.parallel import EasgdState as EasgdState
from gradlab.parallel import PeriodicAveragingState as PeriodicAveragingState
from gradlab.parallel import average_gradients as average_gradients
from gradlab.parallel import bytes_per_device as bytes_per_device
from gradlab.parallel import delay_tolerant_adagrad as delay_tolerant_adagrad
from gradlab.parallel import delayed_gradients as delayed_gradients
from gradlab.parallel import easgd as easgd
from gradlab.parallel import local_sgd as local_sgd
from gradlab.parallel import periodic_averaging as periodic_averaging
from gradlab.parallel import state_shardings as state_shardings
from gradlab.parallel import synchronous_sgd as synchronous_sgd
from gradlab.parallel import zero1_shardings as zero1_shardings
from gradlab.transforms.eigenbasis import SoapState as SoapState
from gradlab.transforms.eigenbasis import eigenbasis as eigenbasis
from gradlab.transforms.eigenbasis import kronecker_factor as kronecker_factor
from gradlab.transforms.eigenbasis import refresh_eigenbasis as refresh_eigenbasis
from gradlab.transforms.eigenbasis import rotate_to_eigenbasis as rotate_to_eigenbasis
from gradlab.transforms.eigenbasis import scale_by_soap as scale_by_soap
from gradlab.transforms.eigenbasis import soap_preconditioned_axes as soap_preconditioned_axes

__all__ = [
    "AdadeltaState",
    "AddNoiseState",
    "AdditiveMomentState",
    "ApplyEvery",
    "ApplyIfFiniteState",
    "BacktrackingLinesearchInfo",
    "BeliefState",
    "BlockSecondMomentState",
    "Blockwise8bit",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "CountState",
    "DelayTolerantAdagradState",
    "DelayedGradientsState",
    "DeltaRmsState",
    "EasgdState",
    "EmaState",
    "EmptyState",
    "Epoch",
    "FactoredState",
    "FanOutState",
    "FlatBuffers",
    "FlatLayout",
    "FlatState",
    "GradCheckReport",
    "GradientCheckError",
    "GradientDifferenceState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "InjectState",
    "InterpolatedMomentumState",
    "LaggedRmsState",
    "LeafCheck",
    "LookaheadParams",
    "LookaheadState",
    "MaskedState",
    "MaxAbsState",
    "MaxState",
    "MinimizeResult",
    "MomentumState",
    "MovingAverageState",
    "MultiSteps",
    "MultiStepsState",
    "MultiStepsTransformation",
    "MuonDimensionNumbers",
    "MuonState",
    "NotElementwiseError",
    "OptState",
    "Params",
    "PartitionState",
    "PeriodicAveragingState",
    "PolyakState",
    "ProdigyState",
    "Quantized",
    "RectifyState",
    "ReduceLROnPlateauState",
    "SAMState",
    "ScalarOrSchedule",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByLBFGSState",
    "ScaleByLionState",
    "ScaleByOptimisticGradientState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "ScaleByZoomLinesearchState",
    "Schedule",
    "ScheduleFreeState",
    "ScheduleState",
    "ShouldSkipUpdateFunction",
    "SoapState",
    "StatefulSchedule",
    "SumOfSquaresState",
    "TraceState",
    "UnsignedQuantized",
    "Updates",
    "VarianceState",
    "WrappedSchedule",
    "WrappedScheduleState",
    "ZeroNansState",
    "ZoomLinesearchInfo",
    "absolute_error",
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_eps",
    "add_noise",
    "additive_second_moment",
    "ademamix",
    "adopt",
    "adopt_clip_value",
    "amsgrad",
    "amsgrad_max",
    "apply_every",
    "apply_if_finite",
    "apply_updates",
    "average_gradients",
    "averaged_params",
    "batch_indices",
    "belief_moment",
    "bias_correction",
    "binary_cross_entropy",
    "block_second_moment",
    "bytes_per_device",
    "centralize",
    "chain",
    "check_grads",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "cyclic_schedule",
    "data",
    "declare_hyperparams",
    "delay_tolerant_adagrad",
    "delayed_gradients",
    "dequantize_blockwise",
    "diagnostics",
    "divide",
    "dynamic_map",
    "easgd",
    "eigenbasis",
    "ema",
    "ema_params",
    "epochs",
    "exponential_decay",
    "fan_out",
    "find_linesearch_state",
    "flat",
    "freeze",
    "gaussian_nll",
    "global_norm",
    "gradient_difference",
    "hinge_loss",
    "huber_loss",
    "hyperparams",
    "identity",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "interpolate_momentum",
    "inverse_time_decay",
    "iterate_batches",
    "join_schedules",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "kronecker_factor",
    "l1_loss",
    "l2_loss",
    "lamb",
    "lars",
    "lbfgs",
    "linear_onecycle_schedule",
    "linear_schedule",
    "linear_warmup",
    "lion",
    "local_sgd",
    "lookahead",
    "losses",
    "masked",
    "max_abs",
    "minimize",
    "moving_average",
    "moving_variance",
    "multi_steps",
    "multi_transform",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "muon",
    "nadam",
    "nadamw",
    "named_chain",
    "normalize_by_previous_rms",
    "normalize_by_update_norm",
    "novograd",
    "num_batches",
    "on_flat_buffers",
    "orthogonalize_via_newton_schulz",
    "parallel",
    "param_groups",
    "param_paths",
    "partition",
    "per_example_global_norm_clip",
    "perceptron_loss",
    "periodic_averaging",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polyak_averaging",
    "polynomial_schedule",
    "prodigy",
    "project_params",
    "projection_box",
    "projection_halfspace",
    "projection_hypercube",
    "projection_hyperplane",
    "projection_l1_ball",
    "projection_l1_sphere",
    "projection_l2_ball",
    "projection_l2_sphere",
    "projection_linf_ball",
    "projection_non_negative",
    "projection_simplex",
    "projection_vector",
    "projections",
    "quantize_blockwise",
    "radam",
    "rectify",
    "reduce_on_plateau",
    "refresh_eigenbasis",
    "rmsprop",
    "rotate_to_eigenbasis",
    "safe_ratio",
    "sam",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_backtracking_linesearch",
    "scale_by_delta_rms",
    "scale_by_factored_rms",
    "scale_by_layerwise_trust_ratio",
    "scale_by_lbfgs",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_max_abs",
    "scale_by_momentum",
    "scale_by_muon",
    "scale_by_newton_schulz",
    "scale_by_optimistic_gradient",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_prodigy",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_shape",
    "scale_by_sign",
    "scale_by_soap",
    "scale_by_stddev",
    "scale_by_sum_of_squares",
    "scale_by_trust_ratio",
    "scale_by_zoom_linesearch",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "schedules",
    "selective_transform",
    "set_hyperparams",
    "set_to_zero",
    "sgd",
    "sgdr_schedule",
    "sigmoid_binary_cross_entropy",
    "sign_sgd",
    "signum",
    "skip_large_updates",
    "skip_not_finite",
    "soap",
    "soap_preconditioned_axes",
    "soft_sign",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "solvers",
    "sqrt",
    "squared_error",
    "squared_hinge_loss",
    "state_shardings",
    "stateless",
    "sum_of_squares",
    "synchronous_sgd",
    "take_batch",
    "testing",
    "trace",
    "value_and_grad_from_state",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    "with_extra_args_support",
    "with_state_layout",
    "yogi",
    "zero1_shardings",
    "zero_nans",
]
