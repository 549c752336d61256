"""Aggregators: transformations fed per-example gradients, and the pipeline around them.

optax.experimental.aggregating's twin, part one: the :class:`Aggregator` type,
:func:`process` (pre-process per example, aggregate, post-process) and the
averaging/accumulating aggregators. The mean and variance statistics are in
``_aggregating_stats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    identity,
    init_empty_state,
    with_extra_args_support,
)
from gdtransforms._core._combine import chain
from gdtransforms._core._tree_api import tree_get

__all__ = [
    "AccumulateAvgUpdatesState",
    "AggregatedUpdates",
    "Aggregator",
    "AggregatorUpdateFn",
    "MaybeAxis",
    "PerElementUpdates",
    "accumulate_avg_updates",
    "average_incrementally_updates",
    "average_per_element_updates",
    "process",
]

# Updates with leading per-example axes, ``[*batch_shape, *param_shape]``.
PerElementUpdates = Updates
# Updates with the parameters' shapes, after aggregation.
AggregatedUpdates = Updates
MaybeAxis = int | Sequence[int] | None


class AggregatorUpdateFn(Protocol):
    """Maps per-example updates (and the state) to one aggregated update."""

    def __call__(
        self,
        per_elt_updates: PerElementUpdates,
        state: OptState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[AggregatedUpdates, OptState]: ...


class Aggregator(GradientTransformationExtraArgs):
    """A transformation whose ``update`` takes one gradient per example.

    An ordinary transformation maps updates shaped like the parameters to
    updates shaped like the parameters. An aggregator receives per-example
    updates, each leaf shaped ``[*batch_shape, *param_shape]`` (for example
    from ``jax.vmap(jax.grad(loss), in_axes=(None, 0))``), and returns one
    update shaped like the parameters. The pair ``(init, update)`` has the
    same call signatures as a :class:`GradientTransformation`; the class marks
    which kind of gradients the caller must supply.

    Attributes:
      init: ``init(params) -> state``.
      update: ``update(per_elt_updates, state, params=None, **extra_args) ->
        (updates, state)``, an :class:`AggregatorUpdateFn`.
    """


def _check_transformation(name: str, value: Any) -> None:
    if not (callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))):
        raise TypeError(
            f"process: `{name}` must be a gradient transformation (with `init` and `update`), "
            f"got {type(value).__name__}"
        )


def process(
    preprocessor: GradientTransformation,
    aggregator: GradientTransformation | Aggregator,
    postprocessor: GradientTransformation,
    aggregator_has_aux: bool = False,
) -> GradientTransformation | Aggregator:
    r"""Chains a per-example stage, an aggregation and an ordinary optimizer.

    With per-example gradients :math:`g_1, \dots, g_B`, one step computes

    .. math::
        v_i = P(g_i), \qquad \bar v = A(v_1, \dots, v_B), \qquad u = Q(\bar v)

    where :math:`P` is ``preprocessor`` (for example per-example clipping, as in
    DP-SGD), :math:`A` is ``aggregator`` and :math:`Q` is ``postprocessor``.
    When the aggregator's state has a ``ready`` field (an accumulating
    aggregator), :math:`Q` runs only on steps where it is true; on the other
    steps the update is zero and :math:`Q`'s state is left as it was.

    Args:
      preprocessor: transformation applied to the per-example gradients.
      aggregator: transformation (typically an :class:`Aggregator`) that turns
        the per-example updates into one update.
      postprocessor: transformation applied to the aggregated update (the
        optimizer).
      aggregator_has_aux: whether the aggregator returns ``(updates, aux)``
        with ``aux`` a dict; its entries are passed to ``postprocessor`` as
        extra keyword arguments.

    Returns:
      An :class:`Aggregator` when ``aggregator`` is one, otherwise a
      :class:`GradientTransformationExtraArgs`. Its state is the tuple of the
      three states.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> from gdtransforms.experimental import aggregating
      >>> opt = aggregating.process(
      ...     gdt.identity(), aggregating.average_per_element_updates(), gdt.sgd(0.5)
      ... )
      >>> params = jnp.array([1.0, 2.0])
      >>> per_example = jnp.array([[1.0, 0.0], [3.0, 2.0]])  # two examples
      >>> updates, state = opt.update(per_example, opt.init(params))
      >>> updates
      Array([-1. , -0.5], dtype=float32)

    References:
      Abadi et al., `Deep Learning with Differential Privacy
      <https://arxiv.org/abs/1607.00133>`_, 2016 (per-example processing).
    """
    _check_transformation("preprocessor", preprocessor)
    _check_transformation("aggregator", aggregator)
    _check_transformation("postprocessor", postprocessor)
    pre = with_extra_args_support(preprocessor)
    agg = with_extra_args_support(aggregator)
    post = with_extra_args_support(postprocessor)

    def init_fn(params):
        return pre.init(params), agg.init(params), post.init(params)

    # The branches are built once, so that eager calls reuse lax.cond's trace.
    def run(u, s, p, kwargs):
        return post.update(u, s, p, **kwargs)

    def skip(u, s, p, kwargs):
        del p, kwargs
        return jax.tree.map(jnp.zeros_like, u), s

    def update_fn(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple) or len(state) != 3:
            raise ValueError("process: `state` must be the 3-tuple (pre, aggregator, post) that init built")
        pre_state, agg_state, post_state = state
        per_elt_updates, pre_state = pre.update(updates, pre_state, params, **extra_args)
        aggregated, agg_state = agg.update(per_elt_updates, agg_state, params, **extra_args)
        if aggregator_has_aux:
            aggregated, aux = aggregated
            extra_args = {**extra_args, **aux}
        ready = tree_get(agg_state, "ready", True)
        updates, post_state = jax.lax.cond(ready, run, skip, aggregated, post_state, params, extra_args)
        return updates, (pre_state, agg_state, post_state)

    # optax's Aggregator (a class of the same name) counts as one too.
    if isinstance(aggregator, Aggregator) or type(aggregator).__name__ == "Aggregator":
        return Aggregator(init_fn, update_fn)
    return GradientTransformationExtraArgs(init_fn, update_fn)


def average_per_element_updates(per_elt_axis: int | Sequence[int] = 0) -> Aggregator:
    r"""Averages the per-example updates: :math:`\bar u = \frac{1}{B}\sum_{i=1}^B u_i`.

    Args:
      per_elt_axis: the per-example axis (or axes) of every leaf.

    Returns:
      A stateless :class:`Aggregator`.
    """
    axis = _checks.check_axis("per_elt_axis", per_elt_axis, where="average_per_element_updates")
    assert axis is not None

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_axis_fits(updates, axis, where="average_per_element_updates")
        return jax.tree.map(lambda u: jnp.mean(u, axis=axis), updates), state

    return Aggregator(init_empty_state, update_fn)


class AccumulateAvgUpdatesState(NamedTuple):
    """The state of :func:`accumulate_avg_updates`.

    Attributes:
      micro_step: int32, micro-batches averaged since the last full step.
      ready: bool, whether the last call completed a full step.
      avg_grad: the running mean of this step's micro-batch updates.
    """

    micro_step: jax.Array
    ready: jax.Array
    avg_grad: Updates


def accumulate_avg_updates(accumulation_steps: int) -> GradientTransformation:
    r"""Averages the updates of ``accumulation_steps`` consecutive micro-batches.

    With :math:`k` the micro-step (1-based) and :math:`g_k` its update, the
    running mean is kept incrementally,

    .. math:: m_k = m_{k-1} + \frac{g_k - m_{k-1}}{k},

    and returned when :math:`k` reaches ``accumulation_steps`` (``ready`` is
    then true and the state restarts); earlier calls return zeros. Inside
    :func:`process`, the post-processor only runs on the ready steps, so the
    effective batch is ``accumulation_steps`` micro-batches.

    Args:
      accumulation_steps: micro-batches per step, >= 1. With 1 nothing is
        accumulated and :func:`identity` is returned.

    Returns:
      A :class:`GradientTransformation` with state
      :class:`AccumulateAvgUpdatesState`.

    Example:
      >>> import jax.numpy as jnp
      >>> from gdtransforms.experimental import aggregating
      >>> acc = aggregating.accumulate_avg_updates(2)
      >>> state = acc.init(jnp.zeros(1))
      >>> u1, state = acc.update(jnp.array([1.0]), state)
      >>> u2, state = acc.update(jnp.array([3.0]), state)
      >>> u1, u2, bool(state.ready)
      (Array([0.], dtype=float32), Array([2.], dtype=float32), True)

    References:
      Welford, `Note on a method for calculating corrected sums of squares
      and products <https://doi.org/10.1080/00401706.1962.10490022>`_, 1962
      (the running mean).
    """
    _checks.check_int_at_least("accumulation_steps", accumulation_steps, 1, where="accumulate_avg_updates")
    if accumulation_steps == 1:
        return identity()

    def init_fn(params):
        return AccumulateAvgUpdatesState(
            micro_step=jnp.zeros([], jnp.int32),
            ready=jnp.asarray(False),
            avg_grad=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, AccumulateAvgUpdatesState, "accumulate_avg_updates")
        step = state.micro_step + 1
        mean = jax.tree.map(lambda u, m: (m + (u - m) / step).astype(m.dtype), updates, state.avg_grad)
        done = step == accumulation_steps
        out = jax.tree.map(lambda m: jnp.where(done, m, jnp.zeros_like(m)), mean)
        new_state = AccumulateAvgUpdatesState(
            micro_step=jnp.where(done, 0, step).astype(jnp.int32),
            ready=done,
            avg_grad=jax.tree.map(lambda m: jnp.where(done, jnp.zeros_like(m), m), mean),
        )
        return out, new_state

    return GradientTransformation(init_fn, update_fn)


def average_incrementally_updates(
    per_elt_axis: MaybeAxis, accumulation_steps: int
) -> Aggregator | GradientTransformation:
    r"""Averages over the examples of each micro-batch, then over micro-batches.

    :func:`average_per_element_updates` followed by
    :func:`accumulate_avg_updates`: with equal micro-batches, the result is the
    mean over all ``accumulation_steps`` micro-batches' examples.

    Args:
      per_elt_axis: the per-example axis (or axes), or ``None`` when the
        updates are already averaged per micro-batch (then only accumulation
        happens).
      accumulation_steps: micro-batches per step, >= 1.

    Returns:
      An :class:`Aggregator`, or, when ``per_elt_axis`` is ``None``, the plain
      transformation of :func:`accumulate_avg_updates`.
    """
    _checks.check_axis("per_elt_axis", per_elt_axis, where="average_incrementally_updates", allow_none=True)
    _checks.check_int_at_least("accumulation_steps", accumulation_steps, 1, where="average_incrementally_updates")
    if per_elt_axis is None:
        return accumulate_avg_updates(accumulation_steps)
    both = chain(average_per_element_updates(per_elt_axis), accumulate_avg_updates(accumulation_steps))
    return Aggregator(both.init, both.update)
