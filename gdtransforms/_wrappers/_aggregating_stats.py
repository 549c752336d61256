"""Per-example gradient statistics: mean and variance, merged over micro-batches and tracked by an EMA.

optax.experimental.aggregating's twin, part two. See ``_aggregating`` for the
:class:`Aggregator` type and :func:`process`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Updates,
    identity,
    init_empty_state,
)
from gdtransforms._core._combine import chain
from gdtransforms._core._tree import safe_increment
from gdtransforms._core._tree_api import tree_get
from gdtransforms._wrappers._aggregating import Aggregator, process

__all__ = [
    "PerElementMeanAndSumSqDiffGradsState",
    "PerElementMeanAndVarianceEMAState",
    "add_mean_variance_to_opt",
    "get_batch_size_from_per_elt_updates",
    "get_per_element_mean_and_sum_sq_diff_grads",
    "get_unbiased_mean_and_variance_ema",
    "track_per_element_mean_and_variance_with_ema",
]


def get_batch_size_from_per_elt_updates(per_elt_updates: Updates, per_elt_axis: int | list[int]) -> int:
    """The number of examples: the size of the per-example axes, which every leaf must share.

    Args:
      per_elt_updates: per-example updates.
      per_elt_axis: the per-example axis, or a list of them (their sizes
        multiply).

    Returns:
      The batch size, a Python int.

    Raises:
      ValueError: the leaves disagree on the batch size, a leaf lacks an axis,
        or the tree is empty.
    """
    where = "get_batch_size_from_per_elt_updates"
    axis = _checks.check_axis("per_elt_axis", per_elt_axis, where=where)
    assert axis is not None
    _checks.check_axis_fits(per_elt_updates, axis, where=where)
    axes = (axis,) if isinstance(axis, int) else axis
    sizes = [math.prod(jnp.shape(x)[a] for a in axes) for x in jax.tree.leaves(per_elt_updates)]
    if any(s != sizes[0] for s in sizes):
        raise ValueError(f"{where}: every leaf of `per_elt_updates` must have the same batch size, got {sizes}")
    return sizes[0]


def _batch_mean_and_sum_sq(x: jax.Array, axis: Any) -> tuple[jax.Array, jax.Array]:
    """The mean over ``axis`` and the sum of squared deviations from it (two-pass)."""
    centre = jnp.mean(x, axis=axis, keepdims=True)
    sum_sq = jnp.sum(jnp.square(x - centre), axis=axis)
    return jnp.squeeze(centre, axis=axis), sum_sq


class PerElementMeanAndSumSqDiffGradsState(NamedTuple):
    """The state of :func:`get_per_element_mean_and_sum_sq_diff_grads` (with accumulation).

    Attributes:
      micro_step: int32, micro-batches merged since the last full step.
      ready: bool, whether the last call completed a full step.
      mean_grads: the mean of the examples merged so far.
      sum_sq_diff_grads: their sum of squared deviations from that mean.
    """

    micro_step: jax.Array
    ready: jax.Array
    mean_grads: Updates
    sum_sq_diff_grads: Updates


def get_per_element_mean_and_sum_sq_diff_grads(
    per_elt_axis: int | Sequence[int] = 0,
    accumulation_steps: int = 1,
) -> Aggregator:
    r"""Mean and sum of squared deviations of the per-example gradients, over micro-batches.

    For one micro-batch of :math:`b` examples :math:`g_1, \dots, g_b`:
    :math:`\mu = \frac1b \sum_i g_i` and :math:`M = \sum_i (g_i - \mu)^2`.
    Micro-batches merge with the parallel update of Chan et al.: with
    :math:`k` micro-batches merged (:math:`n_a = kb` examples, mean
    :math:`\mu_a`, sum :math:`M_a`) and a new one (:math:`\mu_b, M_b`),
    :math:`\delta = \mu_b - \mu_a`,

    .. math::
        \mu = \mu_a + \frac{\delta}{k + 1}, \qquad
        M = M_a + M_b + \delta^2 \frac{k b}{k + 1}.

    The update returned is ``(mean, {"sum_sq_diff_grads": M, "sample_size": n})``
    once ``accumulation_steps`` micro-batches are merged (zeros before), so
    :func:`process` with ``aggregator_has_aux=True`` hands ``M`` and ``n`` to the
    post-processor; :math:`M / (n - 1)` is the unbiased variance.

    Args:
      per_elt_axis: the per-example axis (or axes) of every leaf.
      accumulation_steps: micro-batches per step, >= 1.

    Returns:
      An :class:`Aggregator`; stateless when ``accumulation_steps`` is 1,
      otherwise with state :class:`PerElementMeanAndSumSqDiffGradsState`.

    References:
      Chan, Golub and LeVeque, `Updating formulae and a pairwise algorithm for
      computing sample variances
      <http://i.stanford.edu/pub/cstr/reports/cs/tr/79/773/CS-TR-79-773.pdf>`_,
      1979; Welford, `Note on a method for calculating corrected sums of
      squares and products <https://doi.org/10.1080/00401706.1962.10490022>`_,
      1962.
    """
    where = "get_per_element_mean_and_sum_sq_diff_grads"
    axis = _checks.check_axis("per_elt_axis", per_elt_axis, where=where)
    _checks.check_int_at_least("accumulation_steps", accumulation_steps, 1, where=where)

    def batch_stats(per_elt_updates):
        size = get_batch_size_from_per_elt_updates(per_elt_updates, axis)
        stats = jax.tree.map(lambda x: _batch_mean_and_sum_sq(x, axis), per_elt_updates)
        outer = jax.tree.structure(per_elt_updates)
        mean, sum_sq = jax.tree.transpose(outer, jax.tree.structure((0, 0)), stats)
        return size, mean, sum_sq

    if accumulation_steps == 1:

        def stateless_update(updates, state, params=None, **extra_args):
            del params, extra_args
            size, mean, sum_sq = batch_stats(updates)
            return (mean, {"sum_sq_diff_grads": sum_sq, "sample_size": size}), state

        return Aggregator(init_empty_state, stateless_update)

    def init_fn(params):
        # Two calls: one shared buffer in two fields could not be donated to a jitted step.
        return PerElementMeanAndSumSqDiffGradsState(
            micro_step=jnp.zeros([], jnp.int32),
            ready=jnp.asarray(False),
            mean_grads=jax.tree.map(jnp.zeros_like, params),
            sum_sq_diff_grads=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, PerElementMeanAndSumSqDiffGradsState, where)
        size, batch_mean, batch_sum_sq = batch_stats(updates)
        k = state.micro_step
        step = k + 1
        delta = jax.tree.map(lambda b, a: b - a, batch_mean, state.mean_grads)
        mean = jax.tree.map(lambda a, d: (a + d / step).astype(a.dtype), state.mean_grads, delta)
        weight = k * size / step  # k b / (k + 1)
        # Cast back to the state's dtype: the weight is float32 and would widen a bfloat16 leaf.
        sum_sq = jax.tree.map(
            lambda a, s, d: (a + s + jnp.square(d) * weight).astype(a.dtype),
            state.sum_sq_diff_grads,
            batch_sum_sq,
            delta,
        )
        done = step == accumulation_steps

        def keep_if_done(tree):
            return jax.tree.map(lambda x: jnp.where(done, x, jnp.zeros_like(x)), tree)

        def reset_if_done(tree):
            return jax.tree.map(lambda x: jnp.where(done, jnp.zeros_like(x), x), tree)

        aux = {"sum_sq_diff_grads": keep_if_done(sum_sq), "sample_size": keep_if_done(size * step)}
        out = (keep_if_done(mean), aux)
        new_state = PerElementMeanAndSumSqDiffGradsState(
            micro_step=jnp.where(done, 0, step).astype(jnp.int32),
            ready=done,
            mean_grads=reset_if_done(mean),
            sum_sq_diff_grads=reset_if_done(sum_sq),
        )
        return out, new_state

    return Aggregator(init_fn, update_fn)


class PerElementMeanAndVarianceEMAState(NamedTuple):
    """The state of :func:`track_per_element_mean_and_variance_with_ema`.

    Attributes:
      count: int32, steps tracked.
      ema_decay: the decay, kept for :func:`get_unbiased_mean_and_variance_ema`.
      mean_grads_ema: EMA of the gradient mean (biased towards 0).
      variance_grads_ema: EMA of the gradient variance (biased towards 0).
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    ema_decay: jax.Array
    mean_grads_ema: Updates
    variance_grads_ema: Updates


def track_per_element_mean_and_variance_with_ema(
    ema_decay: jax.typing.ArrayLike = 0.9,
) -> GradientTransformation:
    r"""Tracks EMAs of the gradient mean and variance; passes the updates through unchanged.

    Needs the extra arguments ``sum_sq_diff_grads`` (:math:`M_t`) and
    ``sample_size`` (:math:`n_t`) that :func:`get_per_element_mean_and_sum_sq_diff_grads`
    provides through :func:`process`. With :math:`\mu_t` the incoming
    (aggregated) update and :math:`\beta` = ``ema_decay``,

    .. math::
        m_t = (1 - \beta)\,\mu_t + \beta\, m_{t-1}, \qquad
        v_t = (1 - \beta)\,\frac{M_t}{n_t - 1} + \beta\, v_{t-1},

    from :math:`m_0 = v_0 = 0`; :func:`get_unbiased_mean_and_variance_ema`
    removes the bias towards 0.

    Args:
      ema_decay: :math:`\beta` in [0, 1).

    Returns:
      A :class:`GradientTransformationExtraArgs` with state
      :class:`PerElementMeanAndVarianceEMAState`.

    References:
      Kingma and Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, 2015 (the EMA and its bias
      correction).
    """
    _checks.check_decay("ema_decay", ema_decay, where="track_per_element_mean_and_variance_with_ema")

    def init_fn(params):
        return PerElementMeanAndVarianceEMAState(
            count=jnp.zeros([], jnp.int32),
            ema_decay=jnp.asarray(ema_decay),
            mean_grads_ema=jax.tree.map(jnp.zeros_like, params),
            variance_grads_ema=jax.tree.map(jnp.zeros_like, params),
        )

    def ema(new, old):
        return ((1.0 - ema_decay) * new + ema_decay * old).astype(old.dtype)

    def update_fn(updates, state, params=None, *, sum_sq_diff_grads=None, sample_size=None, **extra_args):
        del params, extra_args
        where = "track_per_element_mean_and_variance_with_ema"
        _checks.check_state(state, PerElementMeanAndVarianceEMAState, where)
        if sum_sq_diff_grads is None or sample_size is None:
            raise ValueError(
                f"{where}.update needs the extra arguments `sum_sq_diff_grads` and `sample_size`; use it as the "
                "postprocessor of process(..., get_per_element_mean_and_sum_sq_diff_grads(), ..., "
                "aggregator_has_aux=True), as add_mean_variance_to_opt does"
            )
        inv_dof = 1 / (sample_size - 1)
        variance = jax.tree.map(lambda s: inv_dof * s, sum_sq_diff_grads)
        new_state = PerElementMeanAndVarianceEMAState(
            count=safe_increment(state.count),
            ema_decay=state.ema_decay,
            mean_grads_ema=jax.tree.map(ema, updates, state.mean_grads_ema),
            variance_grads_ema=jax.tree.map(ema, variance, state.variance_grads_ema),
        )
        return updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)


def get_unbiased_mean_and_variance_ema(state: OptState) -> tuple[Updates, Updates]:
    r"""The bias-corrected mean and variance EMAs held anywhere in ``state``.

    With :math:`t` = ``count`` and :math:`\beta` = ``ema_decay``, returns
    :math:`m_t / (1 - \beta^t)` and :math:`v_t / (1 - \beta^t)` (NaN before the
    first step).

    Args:
      state: an optimizer state holding one
        :class:`PerElementMeanAndVarianceEMAState`.

    Returns:
      ``(mean, variance)``, trees shaped like the parameters.

    Raises:
      ValueError: ``state`` holds no :class:`PerElementMeanAndVarianceEMAState`.
    """
    found = tree_get(state, "PerElementMeanAndVarianceEMAState", None)
    if found is None:
        raise ValueError(
            "get_unbiased_mean_and_variance_ema: `state` holds no PerElementMeanAndVarianceEMAState; "
            "build the optimizer with add_mean_variance_to_opt or track_per_element_mean_and_variance_with_ema"
        )
    correction = 1 - found.ema_decay**found.count

    def unbias(x):
        return (x / correction).astype(x.dtype)

    return jax.tree.map(unbias, found.mean_grads_ema), jax.tree.map(unbias, found.variance_grads_ema)


def add_mean_variance_to_opt(
    opt: GradientTransformation,
    ema_decay: jax.typing.ArrayLike = 0.9,
    per_elt_axis: int | list[int] = 0,
    accumulation_steps: int = 1,
) -> GradientTransformation | Aggregator:
    r"""Wraps ``opt`` to train on per-example gradients while tracking their mean and variance.

    The per-example gradients are reduced to their mean (merged over
    ``accumulation_steps`` micro-batches) by
    :func:`get_per_element_mean_and_sum_sq_diff_grads`; ``opt`` steps on that
    mean, and :func:`track_per_element_mean_and_variance_with_ema` keeps EMAs
    of the mean and of the unbiased variance, read back with
    :func:`get_unbiased_mean_and_variance_ema`.

    Args:
      opt: the optimizer.
      ema_decay: decay of the statistics' EMAs, in [0, 1).
      per_elt_axis: the per-example axis (or axes).
      accumulation_steps: micro-batches per step, >= 1.

    Returns:
      An :class:`Aggregator` (feed it per-example gradients).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> from gdtransforms.experimental import aggregating
      >>> opt = aggregating.add_mean_variance_to_opt(gdt.sgd(0.1), ema_decay=0.5)
      >>> state = opt.init(jnp.zeros(1))
      >>> _, state = opt.update(jnp.array([[1.0], [3.0]]), state)  # two examples
      >>> aggregating.get_unbiased_mean_and_variance_ema(state)
      (Array([2.], dtype=float32), Array([2.], dtype=float32))
    """
    return process(
        preprocessor=identity(),
        aggregator=get_per_element_mean_and_sum_sq_diff_grads(per_elt_axis, accumulation_steps),
        postprocessor=chain(track_per_element_mean_and_variance_with_ema(ema_decay), opt),
        aggregator_has_aux=True,
    )
