"""gdtransforms: composable gradient transformations for JAX.

Swap ``import optax`` for ``import gdtransforms as gdt`` for everything both
cover; transformations of the two libraries mix freely in one ``chain``.
"""

# Base types and trivial transformations.
from gdtransforms._base import (
    EmptyState,
    GradientTransformation,
    GradientTransformationExtraArgs,
    MaskOrFn,
    OptState,
    Params,
    PyTree,
    Schedule,
    ScalarOrSchedule,
    TransformInitFn,
    TransformUpdateFn,
    Updates,
    identity,
    init_empty_state,
    set_to_zero,
    stateless,
    stateless_with_tree_map,
    with_extra_args_support,
)
from gdtransforms._combine import chain, named_chain
from gdtransforms._masking import MaskedNode, MaskedState, masked
from gdtransforms._moments import (
    bias_correction,
    update_infinity_moment,
    update_moment,
    update_moment_per_elem_norm,
)
from gdtransforms._scale import (
    ScaleByScheduleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from gdtransforms._tree import global_norm, safe_increment
from gdtransforms._update import apply_updates, incremental_update, periodic_update

# -- Primitives (core) ---------------------------------------------------------
from gdtransforms._accumulation import EmaState, TraceState, ema, trace
from gdtransforms._adam import (
    ScaleByAdamState,
    ScaleByAmsgradState,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
)
from gdtransforms._adaptive import (
    ScaleByRmsState,
    ScaleByRmsWithCountState,
    ScaleByRssState,
    ScaleByRStdDevState,
    ScaleByRStdDevWithCountState,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
)
from gdtransforms._clip import clip, clip_by_global_norm
from gdtransforms._regularize import WeightDecaySchedule, add_decayed_weights, add_l1_penalty
from gdtransforms._sign import ScaleByLionState, scale_by_lion, scale_by_trust_ratio

# -- Aliases (core) ------------------------------------------------------------
from gdtransforms._alias import adagrad, ema_momentum, rmsprop, sgd
from gdtransforms._alias_adam import (
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

# -- Schedules and live hyperparameters ----------------------------------------
from gdtransforms._inject import (
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    WrappedSchedule,
    WrappedScheduleState,
    inject_hyperparams,
)
from gdtransforms._plateau import ReduceLROnPlateauState, reduce_on_plateau
from gdtransforms._schedules import (
    constant_schedule,
    cosine_decay_schedule,
    exponential_decay,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
)
from gdtransforms._schedules_joined import (
    cosine_onecycle_schedule,
    join_schedules,
    linear_onecycle_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from gdtransforms._schedules_extra import (
    cosine_warm_restarts_schedule,
    cyclic_schedule,
    epoch_schedule,
    inverse_sqrt_decay,
    inverse_time_decay,
)

# -- Wrappers -------------------------------------------------------------------
from gdtransforms._averaging import (
    EmaParamsState,
    PolyakParamsState,
    averaged_params,
    ema_params,
    polyak_params,
)
from gdtransforms._conditionality import (
    ConditionFn,
    ConditionallyMaskState,
    ConditionallyTransformState,
    conditionally_mask,
    conditionally_transform,
)
from gdtransforms._finite import ApplyIfFiniteState, ZeroNansState, apply_if_finite, zero_nans
from gdtransforms._lookahead import LookaheadParams, LookaheadState, lookahead
from gdtransforms._monitor import (
    MonitorState,
    SnapshotState,
    measure_with_ema,
    monitor,
    snapshot,
)
from gdtransforms._multistep import (
    MultiSteps,
    MultiStepsState,
    ShouldSkipUpdateFunction,
    skip_large_updates,
    skip_not_finite,
)
from gdtransforms._partition import (
    MultiTransformState,
    PartitionState,
    freeze,
    multi_transform,
    partition,
    selective_transform,
)
from gdtransforms._tree_api import (
    NamedTupleKey,
    tree_get,
    tree_get_all_with_path,
    tree_map_params,
    tree_set,
)

# -- Scale-out and persistence --------------------------------------------------
from gdtransforms._checkpoint import restore_state, save_state
from gdtransforms._sharding import state_shardings, zero_state_shardings

# -- Flat fused path ------------------------------------------------------------
from gdtransforms._flat import FlatLayout, flat_layout, flatten_params
from gdtransforms._flat_params import FlatParams, is_flat
from gdtransforms._flat_step import leafwise, make_train_step

# -- Training toolkit -----------------------------------------------------------
from gdtransforms._checklist import (
    CheckResult,
    check_initial_loss,
    check_regularization,
    overfit_tiny_subset,
)
from gdtransforms._data import (
    BatchSizeAdvice,
    EpochIndices,
    batch_size_advice,
    epoch_indices,
    gather_batches,
    minibatches,
    num_examples,
    scan_epoch,
)
from gdtransforms._doctor import READINGS, Diagnosis, Finding, diagnose, smooth_curve
from gdtransforms._plot import (
    daily_temperatures,
    ema_curve,
    plot_ema,
    plot_loss_curves,
    plot_paths,
    plot_schedules,
)
from gdtransforms._surfaces import (
    SURFACES,
    Path,
    Surface,
    beale,
    elongated_bowl,
    himmelblau,
    plateau,
    rosenbrock,
    run_path,
    saddle,
)

__version__ = "0.1.0"

__all__ = [
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

    # -- Scale-out and persistence.
    "restore_state",
    "save_state",
    "state_shardings",
    "zero_state_shardings",

    # -- Flat fused path.
    "FlatLayout",
    "FlatParams",
    "flat_layout",
    "flatten_params",
    "is_flat",
    "leafwise",
    "make_train_step",

    # -- Training toolkit.
    "READINGS",
    "SURFACES",
    "BatchSizeAdvice",
    "CheckResult",
    "Diagnosis",
    "EpochIndices",
    "Finding",
    "Path",
    "Surface",
    "batch_size_advice",
    "beale",
    "check_initial_loss",
    "check_regularization",
    "daily_temperatures",
    "diagnose",
    "elongated_bowl",
    "ema_curve",
    "epoch_indices",
    "gather_batches",
    "himmelblau",
    "minibatches",
    "num_examples",
    "overfit_tiny_subset",
    "plateau",
    "plot_ema",
    "plot_loss_curves",
    "plot_paths",
    "plot_schedules",
    "rosenbrock",
    "run_path",
    "saddle",
    "scan_epoch",
    "smooth_curve",

]
