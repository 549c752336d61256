"""gdtransforms: composable gradient transformations for JAX.

Swap ``import optax`` for ``import gdtransforms as gdt`` for everything both
cover; transformations of the two libraries mix freely in one ``chain``.
"""

from typing import TYPE_CHECKING

from gdtransforms import (
    assignment,
    contrib,
    experimental,
    losses,
    microbatching,
    perturbations,
    projections,
    schedules,
    second_order,
    transforms,
    tree,
    tree_utils,
)
from gdtransforms._core._annotations import resolve_annotations as _resolve_annotations
from gdtransforms._core._base import (
    EmptyState,
    GradientTransformation,
    GradientTransformationExtraArgs,
    MaskOrFn,
    OptState,
    Params,
    PyTree,
    ScalarOrSchedule,
    Schedule,
    StatefulSchedule,
    TransformInitFn,
    TransformUpdateExtraArgsFn,
    TransformUpdateFn,
    Updates,
    identity,
    init_empty_state,
    set_to_zero,
    stateless,
    stateless_with_tree_map,
    with_extra_args_support,
)
from gdtransforms._core._combine import chain, named_chain
from gdtransforms._core._flat_params import FlatParams, is_flat, leafwise
from gdtransforms._core._linalg import matrix_inverse_pth_root, nnls, power_iteration
from gdtransforms._core._moments import (
    bias_correction,
    update_infinity_moment,
    update_moment,
    update_moment_per_elem_norm,
)
from gdtransforms._core._multi_normal import multi_normal
from gdtransforms._core._numerics import safe_norm, safe_root_mean_squares
from gdtransforms._core._tree import global_norm, safe_increment
from gdtransforms._core._tree import safe_increment as safe_int32_increment
from gdtransforms._core._tree_api import (
    NamedTupleKey,
    tree_get,
    tree_get_all_with_path,
    tree_map_params,
    tree_set,
)
from gdtransforms._core._update import apply_updates, incremental_update, periodic_update
from gdtransforms._flat._flat_step import make_train_step
from gdtransforms._flat._layout import FlatLayout, flat_layout, flatten_params
from gdtransforms._optimizers._alias import adagrad, ema_momentum, rmsprop, sgd
from gdtransforms._optimizers._alias_adam import (
    adam,
    adamax,
    adamaxw,
    adamw,
    amsgrad,
    lamb,
    lion,
    nadam,
    nadamw,
)
from gdtransforms._optimizers._alias_adaptive import adabelief, adadelta, adan, novograd, radam, yogi
from gdtransforms._optimizers._alias_ftrl import ftrl
from gdtransforms._optimizers._alias_kron import kron
from gdtransforms._optimizers._alias_more import (
    noisy_sgd,
    optimistic_adam,
    optimistic_adam_v2,
    optimistic_gradient_descent,
    polyak_sgd,
)
from gdtransforms._optimizers._alias_shampoo import shampoo
from gdtransforms._optimizers._alias_sign import fromage, lars, rprop, sign_sgd, signum
from gdtransforms._optimizers._alias_soap import soap
from gdtransforms._optimizers._alias_structural import adafactor, dpsgd, sm3
from gdtransforms._optimizers._lbfgs_alias import lbfgs
from gdtransforms._optimizers._lbfgs_solve import LbfgsMinimizeResult, lbfgs_minimize

# -- Scale-out and persistence --------------------------------------------------
from gdtransforms._scaleout._checkpoint import restore_state, save_state
from gdtransforms._scaleout._sharding import state_shardings, zero_state_shardings
from gdtransforms._schedules._decay import (
    constant_schedule,
    cosine_decay_schedule,
    exponential_decay,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
)
from gdtransforms._schedules._inject import (
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    WrappedSchedule,
    WrappedScheduleState,
    inject_hyperparams,
    inject_stateful_hyperparams,
)
from gdtransforms._schedules._schedules_extra import (
    cosine_warm_restarts_schedule,
    cyclic_schedule,
    epoch_schedule,
    inverse_sqrt_decay,
    inverse_time_decay,
)
from gdtransforms._schedules._schedules_joined import (
    cosine_onecycle_schedule,
    join_schedules,
    linear_onecycle_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from gdtransforms._transforms._accumulate_every import ApplyEvery, apply_every
from gdtransforms._transforms._accumulation import EmaState, TraceState, ema, trace
from gdtransforms._transforms._adadelta import ScaleByAdaDeltaState, scale_by_adadelta
from gdtransforms._transforms._adam import (
    ScaleByAdamState,
    ScaleByAmsgradState,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
)
from gdtransforms._transforms._adan import ScaleByAdanState, scale_by_adan
from gdtransforms._transforms._adaptive import (
    ScaleByRmsState,
    ScaleByRmsWithCountState,
    ScaleByRssState,
    ScaleByRStdDevState,
    ScaleByRStdDevWithCountState,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
)
from gdtransforms._transforms._backward import scale_gradient
from gdtransforms._transforms._belief import ScaleByBeliefState, scale_by_belief
from gdtransforms._transforms._block_clip import (
    AdaptiveGradClipState,
    adaptive_grad_clip,
    clip_by_block_rms,
    unitwise_clip,
    unitwise_norm,
)
from gdtransforms._transforms._block_scale import (
    centralize,
    normalize_by_update_norm,
    scale_by_param_block_norm,
    scale_by_param_block_rms,
)
from gdtransforms._transforms._clip import clip, clip_by_global_norm
from gdtransforms._transforms._constrain import NonNegativeParamsState, keep_params_nonnegative
from gdtransforms._transforms._empty_states import (
    AddDecayedWeightsState,
    ClipByGlobalNormState,
    ClipState,
    ScaleByTrustRatioState,
    ScaleState,
)
from gdtransforms._transforms._factored import FactoredState, scale_by_factored_rms
from gdtransforms._transforms._ftrl import FtrlState, scale_by_ftrl
from gdtransforms._transforms._kron import ScaleByKronState, scale_by_kron
from gdtransforms._transforms._layouts import flatten
from gdtransforms._transforms._lbfgs import ScaleByLBFGSState, scale_by_lbfgs
from gdtransforms._transforms._linesearch_backtracking import (
    ScaleByBacktrackingLinesearchState,
    scale_by_backtracking_linesearch,
)
from gdtransforms._transforms._linesearch_common import value_and_grad_from_state
from gdtransforms._transforms._linesearch_zoom import (
    ScaleByZoomLinesearchState,
    ZoomLinesearchInfo,
    scale_by_zoom_linesearch,
)
from gdtransforms._transforms._masking import MaskedNode, MaskedState, masked
from gdtransforms._transforms._noise import AddNoiseState, add_noise
from gdtransforms._transforms._novograd import ScaleByNovogradState, scale_by_novograd
from gdtransforms._transforms._optimistic import ScaleByOptimisticGradientState, scale_by_optimistic_gradient
from gdtransforms._transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau
from gdtransforms._transforms._privacy import (
    DifferentiallyPrivateAggregateState,
    differentially_private_aggregate,
    per_example_global_norm_clip,
    per_example_layer_norm_clip,
)
from gdtransforms._transforms._radam import scale_by_radam
from gdtransforms._transforms._regularize import WeightDecaySchedule, add_decayed_weights, add_l1_penalty
from gdtransforms._transforms._scale import (
    ScaleByScheduleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from gdtransforms._transforms._shampoo import ScaleByShampooState, scale_by_shampoo
from gdtransforms._transforms._sign import ScaleByLionState, scale_by_lion, scale_by_trust_ratio
from gdtransforms._transforms._sign_based import ScaleByRpropState, scale_by_rprop, scale_by_sign
from gdtransforms._transforms._sm3 import ScaleBySM3State, scale_by_sm3
from gdtransforms._transforms._soap import ScaleBySoapState, scale_by_soap
from gdtransforms._transforms._step_size import (
    ScaleByDistanceOverGradientsState,
    scale_by_distance_over_gradients,
    scale_by_polyak,
)
from gdtransforms._transforms._yogi import scale_by_yogi

# -- Wrappers -------------------------------------------------------------------
from gdtransforms._wrappers._averaging import (
    EmaParamsState,
    PolyakParamsState,
    averaged_params,
    ema_params,
    polyak_params,
)
from gdtransforms._wrappers._conditionality import (
    ConditionallyMaskState,
    ConditionallyTransformState,
    ConditionFn,
    conditionally_mask,
    conditionally_transform,
)
from gdtransforms._wrappers._finite import ApplyIfFiniteState, ZeroNansState, apply_if_finite, zero_nans
from gdtransforms._wrappers._lookahead import LookaheadParams, LookaheadState, lookahead
from gdtransforms._wrappers._loss_scale import (
    DynamicLossScalingState,
    current_loss_scale,
    dynamic_loss_scaling,
    scale_loss,
)
from gdtransforms._wrappers._microbatching import microbatch
from gdtransforms._wrappers._monitor import (
    MonitorState,
    SnapshotState,
    measure_with_ema,
    monitor,
    snapshot,
)
from gdtransforms._wrappers._multistep import (
    MultiSteps,
    MultiStepsState,
    ShouldSkipUpdateFunction,
    skip_large_updates,
    skip_not_finite,
)
from gdtransforms._wrappers._partition import (
    MultiTransformState,
    PartitionState,
    freeze,
    multi_transform,
    partition,
    selective_transform,
)
from gdtransforms.losses import (
    convex_kl_divergence,
    cosine_distance,
    cosine_similarity,
    ctc_loss,
    ctc_loss_with_forward_probs,
    generalized_kl_divergence,
    hinge_loss,
    huber_loss,
    kl_divergence,
    l2_loss,
    log_cosh,
    ntxent,
    safe_softmax_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    smooth_labels,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
    squared_error,
)

__version__ = "0.1.0"

# Evaluate `from __future__ import annotations` strings, so inspect.signature shows real types.
_resolve_annotations()

if TYPE_CHECKING:
    from gdtransforms import toolkit as toolkit


def __getattr__(name: str) -> object:
    # The toolkit sits above the library and imports its public API, so it is
    # loaded on first use: ``gdt.toolkit.diagnose``.
    if name == "toolkit":
        import importlib

        return importlib.import_module("gdtransforms.toolkit")
    raise AttributeError(f"module 'gdtransforms' has no attribute {name!r}")


__all__ = [
    "StatefulSchedule",
    "TransformUpdateExtraArgsFn",
    "inject_stateful_hyperparams",
    # -- optax's namespaces, and the toolkit (loaded on first use).
    "assignment",
    "contrib",
    "experimental",
    "losses",
    "microbatching",
    "perturbations",
    "projections",
    "schedules",
    "second_order",
    "toolkit",
    "transforms",
    "tree",
    "tree_utils",
    # Base.
    "EmptyState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "MaskOrFn",
    "MaskedNode",
    "MaskedState",
    "OptState",
    "Params",
    "PyTree",
    "ScalarOrSchedule",
    "Schedule",
    "ScaleByScheduleState",
    "TransformInitFn",
    "TransformUpdateFn",
    "Updates",
    "apply_updates",
    "bias_correction",
    "chain",
    "global_norm",
    "identity",
    "incremental_update",
    "init_empty_state",
    "masked",
    "named_chain",
    "periodic_update",
    "safe_increment",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "set_to_zero",
    "stateless",
    "stateless_with_tree_map",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "with_extra_args_support",
    # -- Primitives (core).
    "EmaState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByLionState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRssState",
    "TraceState",
    "WeightDecaySchedule",
    "add_decayed_weights",
    "add_l1_penalty",
    "clip",
    "clip_by_global_norm",
    "ema",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_lion",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "trace",
    # -- Aliases (core).
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "amsgrad",
    "ema_momentum",
    "lamb",
    "lion",
    "nadam",
    "nadamw",
    "rmsprop",
    "sgd",
    # -- Schedules and live hyperparameters.
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "ReduceLROnPlateauState",
    "WrappedSchedule",
    "WrappedScheduleState",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "cosine_warm_restarts_schedule",
    "cyclic_schedule",
    "epoch_schedule",
    "exponential_decay",
    "inject_hyperparams",
    "inverse_sqrt_decay",
    "inverse_time_decay",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "reduce_on_plateau",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    # -- Wrappers.
    "ApplyIfFiniteState",
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaParamsState",
    "LookaheadParams",
    "LookaheadState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "MultiTransformState",
    "NamedTupleKey",
    "PartitionState",
    "PolyakParamsState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "ZeroNansState",
    "apply_if_finite",
    "averaged_params",
    "conditionally_mask",
    "conditionally_transform",
    "ema_params",
    "freeze",
    "lookahead",
    "measure_with_ema",
    "monitor",
    "multi_transform",
    "partition",
    "polyak_params",
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "tree_get",
    "tree_get_all_with_path",
    "tree_map_params",
    "tree_set",
    "zero_nans",
    # -- L-BFGS, line searches and linear algebra.
    "LbfgsMinimizeResult",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByLBFGSState",
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "lbfgs",
    "lbfgs_minimize",
    "matrix_inverse_pth_root",
    "multi_normal",
    "nnls",
    "power_iteration",
    "scale_by_backtracking_linesearch",
    "scale_by_lbfgs",
    "scale_by_zoom_linesearch",
    "value_and_grad_from_state",
    # -- Scale-out and persistence.
    "restore_state",
    "save_state",
    "state_shardings",
    "zero_state_shardings",
    # -- Losses (also at gdtransforms.losses).
    "convex_kl_divergence",
    "cosine_distance",
    "cosine_similarity",
    "ctc_loss",
    "ctc_loss_with_forward_probs",
    "generalized_kl_divergence",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "l2_loss",
    "log_cosh",
    "ntxent",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "squared_error",
    # -- Flat fused path.
    "FlatLayout",
    "FlatParams",
    "flat_layout",
    "flatten_params",
    "is_flat",
    "leafwise",
    "make_train_step",
    # -- Structural transforms and optimizers (issue 14).
    "AdaptiveGradClipState",
    "AddDecayedWeightsState",
    "ApplyEvery",
    "ClipByGlobalNormState",
    "ClipState",
    "DifferentiallyPrivateAggregateState",
    "FactoredState",
    "NonNegativeParamsState",
    "ScaleBySM3State",
    "ScaleByTrustRatioState",
    "ScaleState",
    "adafactor",
    "adaptive_grad_clip",
    "apply_every",
    "centralize",
    "clip_by_block_rms",
    "differentially_private_aggregate",
    "dpsgd",
    "flatten",
    "keep_params_nonnegative",
    "microbatch",
    "normalize_by_update_norm",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "safe_int32_increment",
    "safe_norm",
    "safe_root_mean_squares",
    "scale_by_factored_rms",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_sm3",
    "scale_gradient",
    "sm3",
    "unitwise_clip",
    "unitwise_norm",
    # -- Adaptive, sign-based and step-size optimizers (issue 14).
    "AddNoiseState",
    "ScaleByAdaDeltaState",
    "ScaleByAdanState",
    "ScaleByBeliefState",
    "ScaleByDistanceOverGradientsState",
    "ScaleByNovogradState",
    "ScaleByOptimisticGradientState",
    "ScaleByRpropState",
    "adabelief",
    "adadelta",
    "adan",
    "add_noise",
    "fromage",
    "lars",
    "noisy_sgd",
    "novograd",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "polyak_sgd",
    "radam",
    "rprop",
    "scale_by_adadelta",
    "scale_by_adan",
    "scale_by_belief",
    "scale_by_distance_over_gradients",
    "scale_by_novograd",
    "scale_by_optimistic_gradient",
    "scale_by_polyak",
    "scale_by_radam",
    "scale_by_rprop",
    "scale_by_sign",
    "scale_by_yogi",
    "sign_sgd",
    "signum",
    "yogi",
    # -- Beyond optax: SOAP (issue 18).
    "ScaleBySoapState",
    "scale_by_soap",
    "soap",
    # -- Ftrl and dynamic loss scaling (issue 18).
    "DynamicLossScalingState",
    "FtrlState",
    "current_loss_scale",
    "dynamic_loss_scaling",
    "ftrl",
    "scale_by_ftrl",
    "scale_loss",
    # -- Shampoo (issue 18).
    "ScaleByShampooState",
    "scale_by_shampoo",
    "shampoo",
    # -- PSGD Kron.
    "ScaleByKronState",
    "kron",
    "scale_by_kron",
]
