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
from gdtransforms._alias import (
    adagrad,
    adam,
    adamax,
    adamaxw,
    adamw,
    amsgrad,
    ema_momentum,
    lamb,
    lion,
    nadam,
    nadamw,
    rmsprop,
    sgd,
)

# -- Schedules and live hyperparameters ----------------------------------------

# -- Wrappers -------------------------------------------------------------------

# -- Scale-out and persistence --------------------------------------------------

# -- Flat fused path ------------------------------------------------------------

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

    # -- Wrappers.

    # -- Scale-out and persistence.

    # -- Flat fused path.

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
