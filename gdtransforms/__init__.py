"""gdtransforms: composable gradient transformations for JAX.

Swap ``import optax`` for ``import gdtransforms as gdt`` for everything both
cover; transformations of the two libraries mix freely in one ``chain``.
"""

from typing import TYPE_CHECKING

# Base types and trivial transformations.
# -- optax's namespaces -----------------------------------------------------------
from gdtransforms import (
    assignment,
    contrib,
    losses,
    perturbations,
    projections,
    schedules,
    second_order,
    transforms,
    tree,
    tree_utils,
)
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
from gdtransforms._core._combine import chain, named_chain
from gdtransforms._core._flat_params import FlatParams, is_flat, leafwise
from gdtransforms._core._moments import (
    bias_correction,
    update_infinity_moment,
    update_moment,
    update_moment_per_elem_norm,
)
from gdtransforms._core._tree import global_norm, safe_increment
from gdtransforms._core._tree_api import (
    NamedTupleKey,
    tree_get,
    tree_get_all_with_path,
    tree_map_params,
    tree_set,
)
from gdtransforms._core._update import apply_updates, incremental_update, periodic_update
from gdtransforms._flat._flat_step import make_train_step

# -- Flat fused path ------------------------------------------------------------
from gdtransforms._flat._layout import FlatLayout, flat_layout, flatten_params

# -- Aliases (core) ------------------------------------------------------------
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

# -- Schedules and live hyperparameters ----------------------------------------
from gdtransforms._schedules._inject import (
    InjectHyperparamsState,
    InjectStatefulHyperparamsState,
    WrappedSchedule,
    WrappedScheduleState,
    inject_hyperparams,
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

# -- Primitives (core) ---------------------------------------------------------
from gdtransforms._transforms._accumulation import EmaState, TraceState, ema, trace
from gdtransforms._transforms._adam import (
    ScaleByAdamState,
    ScaleByAmsgradState,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
)
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
from gdtransforms._transforms._clip import clip, clip_by_global_norm
from gdtransforms._transforms._masking import MaskedNode, MaskedState, masked
from gdtransforms._transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau
from gdtransforms._transforms._regularize import WeightDecaySchedule, add_decayed_weights, add_l1_penalty
from gdtransforms._transforms._scale import (
    ScaleByScheduleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from gdtransforms._transforms._sign import ScaleByLionState, scale_by_lion, scale_by_trust_ratio

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

__version__ = "0.1.0"

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
    # -- optax's namespaces, and the toolkit (loaded on first use).
    "assignment",
    "contrib",
    "losses",
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
]
