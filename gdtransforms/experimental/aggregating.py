"""Per-example gradient aggregators (optax.experimental.aggregating's twin).

Feed per-example gradients (``jax.vmap(jax.grad(loss), in_axes=(None, 0))``) to
an :class:`Aggregator`; :func:`process` chains per-example processing, the
aggregation (averaging, micro-batch accumulation, mean and variance) and an
ordinary optimizer.
"""

from gdtransforms._wrappers._aggregating import (
    AccumulateAvgUpdatesState,
    AggregatedUpdates,
    Aggregator,
    AggregatorUpdateFn,
    MaybeAxis,
    PerElementUpdates,
    accumulate_avg_updates,
    average_incrementally_updates,
    average_per_element_updates,
    process,
)
from gdtransforms._wrappers._aggregating_stats import (
    PerElementMeanAndSumSqDiffGradsState,
    PerElementMeanAndVarianceEMAState,
    add_mean_variance_to_opt,
    get_batch_size_from_per_elt_updates,
    get_per_element_mean_and_sum_sq_diff_grads,
    get_unbiased_mean_and_variance_ema,
    track_per_element_mean_and_variance_with_ema,
)

__all__ = [
    "AccumulateAvgUpdatesState",
    "AggregatedUpdates",
    "Aggregator",
    "AggregatorUpdateFn",
    "MaybeAxis",
    "PerElementMeanAndSumSqDiffGradsState",
    "PerElementMeanAndVarianceEMAState",
    "PerElementUpdates",
    "accumulate_avg_updates",
    "add_mean_variance_to_opt",
    "average_incrementally_updates",
    "average_per_element_updates",
    "get_batch_size_from_per_elt_updates",
    "get_per_element_mean_and_sum_sq_diff_grads",
    "get_unbiased_mean_and_variance_ema",
    "process",
    "track_per_element_mean_and_variance_with_ema",
]
