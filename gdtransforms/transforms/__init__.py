"""Gradient transformations: primitives and wrappers (optax.transforms' twin)."""

from gdtransforms._core._base import MaskedNode
from gdtransforms._core._combine import chain, named_chain
from gdtransforms._transforms._accumulation import EmaState, TraceState, ema, trace
from gdtransforms._transforms._block_clip import adaptive_grad_clip, clip_by_block_rms, unitwise_clip, unitwise_norm
from gdtransforms._transforms._clip import clip, clip_by_global_norm
from gdtransforms._transforms._constrain import NonNegativeParamsState, keep_params_nonnegative
from gdtransforms._transforms._layouts import flatten
from gdtransforms._transforms._masking import MaskedState, masked
from gdtransforms._transforms._noise import AddNoiseState, add_noise
from gdtransforms._transforms._privacy import per_example_global_norm_clip, per_example_layer_norm_clip
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._wrappers._conditionality import (
    ConditionallyMaskState,
    ConditionallyTransformState,
    ConditionFn,
    conditionally_mask,
    conditionally_transform,
)
from gdtransforms._wrappers._finite import ApplyIfFiniteState, ZeroNansState, apply_if_finite, zero_nans
from gdtransforms._wrappers._monitor import MonitorState, SnapshotState, measure_with_ema, monitor, snapshot
from gdtransforms._wrappers._multistep import (
    MultiSteps,
    MultiStepsState,
    ShouldSkipUpdateFunction,
    skip_large_updates,
    skip_not_finite,
)
from gdtransforms._wrappers._partition import PartitionState, freeze, partition, selective_transform

__all__ = [
    "AddNoiseState",
    "ApplyIfFiniteState",
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "MaskedNode",
    "MaskedState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "NonNegativeParamsState",
    "PartitionState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "TraceState",
    "ZeroNansState",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_noise",
    "apply_if_finite",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "ema",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "masked",
    "measure_with_ema",
    "monitor",
    "named_chain",
    "partition",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "trace",
    "unitwise_clip",
    "unitwise_norm",
    "zero_nans",
]
