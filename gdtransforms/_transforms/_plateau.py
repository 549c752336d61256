"""Reduce the learning rate when the monitored loss stops improving."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation

__all__ = ["ReduceLROnPlateauState", "reduce_on_plateau"]

_MISSING_VALUE_MSG = (
    "reduce_on_plateau reads the monitored loss: call "
    "`update(updates, state, params, value=loss)` (got no `value`). Inside "
    "gdt.chain or inject_hyperparams the keyword reaches it through update's "
    "extra arguments. If you did pass `value=`, this transformation probably "
    "sits inside optax.chain (or another optax combinator), which drops the "
    "extra arguments of every transformation that is not optax's own "
    "GradientTransformationExtraArgs: build the chain with gdt.chain instead "
    "(it forwards extra arguments and accepts optax transformations too)."
)


class ReduceLROnPlateauState(NamedTuple):
    """The state of :func:`reduce_on_plateau` (optax's fields)."""

    scale: jax.Array  # the factor applied to the updates
    best_value: jax.Array  # the best averaged value so far
    plateau_count: jax.Array  # int32: averaged values without improvement
    cooldown_count: jax.Array  # int32: averaged values left in the cooldown
    count: jax.Array  # type: ignore[assignment]  # int32: values in the current average
    avg_value: jax.Array  # the running average of the current window


def reduce_on_plateau(
    factor: float = 0.1,
    patience: jax.typing.ArrayLike = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: jax.typing.ArrayLike = 0,
    accumulation_size: jax.typing.ArrayLike = 1,
    min_scale: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Scales updates down by ``factor`` when the loss stops improving.

    ``update`` must get the monitored loss as ``value=loss``. Every
    ``accumulation_size`` values are averaged into :math:`\bar v`; the average
    improves on the best :math:`v^*` when

    .. math:: \bar v < v^* - \text{rtol}\,|v^*| - \text{atol}

    (relative and absolute thresholds). After ``patience`` averages in a row
    without improvement the scale is multiplied by ``factor`` (not below
    ``min_scale``), and the next ``cooldown`` averages do not count.

    Unlike optax's ``contrib.reduce_on_plateau`` (its issue #1767) and
    torch's ``threshold_mode="rel"``, the relative margin uses
    :math:`|v^*|`, so negative losses (log-likelihoods, ELBOs, rewards) are
    handled: a loss that stays at -1 is a plateau, not an improvement. For
    non-negative losses the numbers are optax's. ``best_value`` and
    ``avg_value`` are kept in at least float32 even for bfloat16 params, and
    the scale is cast to each update's dtype.

    Args:
      factor: the multiplier at each reduction, in (0, 1).
      patience: averages without improvement before a reduction, >= 1.
      rtol: the relative threshold, in [0, 1].
      atol: the absolute threshold, >= 0 (``rtol`` or ``atol`` > 0).
      cooldown: averages ignored after a reduction, >= 0.
      accumulation_size: values averaged per comparison, >= 1 (1 for a
        validation loss; more for noisy mini-batch losses).
      min_scale: the smallest scale, >= 0.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ReduceLROnPlateauState`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.chain(gdt.scale(-0.1), gdt.reduce_on_plateau(patience=2))
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> for loss in [-1.0, -1.0, -1.0]:  # a flat (negative) loss
      ...     updates, state = opt.update(params, state, params, value=loss)
      >>> print(f"{float(state[1].scale):.2f}")
      0.10
    """
    _checks.check_in_range("factor", factor, 0.0, 1.0, low_closed=False, high_closed=False)
    _checks.check_in_range("rtol", rtol, 0.0, 1.0)
    _checks.check_non_negative("atol", atol)
    if not _checks.is_deferred(rtol) and not _checks.is_deferred(atol):
        if not (np.asarray(rtol) > 0 or np.asarray(atol) > 0):
            raise ValueError(
                f"`rtol` or `atol` must be > 0 (else any tiny change counts as an "
                f"improvement), got rtol={rtol!r}, atol={atol!r}"
            )
    _checks.check_int("patience", patience, 1)
    _checks.check_int("cooldown", cooldown, 0)
    _checks.check_int("accumulation_size", accumulation_size, 1)
    _checks.check_non_negative("min_scale", min_scale)

    def init_fn(params):
        leaves = [x for x in jax.tree.leaves(params) if hasattr(x, "dtype")]
        dtype = jnp.float32
        for leaf in leaves:
            if jnp.issubdtype(leaf.dtype, jnp.floating):
                dtype = jnp.promote_types(dtype, leaf.dtype)
        return ReduceLROnPlateauState(
            scale=jnp.asarray(1.0, dtype),
            best_value=jnp.asarray(jnp.inf, dtype),
            plateau_count=jnp.asarray(0, jnp.int32),
            cooldown_count=jnp.asarray(0, jnp.int32),
            count=jnp.asarray(0, jnp.int32),
            avg_value=jnp.asarray(0.0, dtype),
        )

    def update_scale(state: ReduceLROnPlateauState) -> ReduceLROnPlateauState:
        avg, best = state.avg_value, state.best_value
        # best - rtol*|best| - atol, written so that best = +inf gives +inf and
        # so that, for best >= 0, it is optax's (1 - rtol) * best - atol.
        threshold = jnp.where(best >= 0, 1 - rtol, 1 + rtol) * best - atol
        threshold = jnp.where(best == jnp.inf, best, threshold)  # also for rtol = 1
        improved = avg < threshold
        new_best = jnp.where(improved, avg, best)
        plateau = jnp.where(improved, 0, _tree.safe_increment(state.plateau_count))
        in_cooldown = state.cooldown_count > 0
        reduce = jnp.logical_and(~in_cooldown, plateau == patience)
        reduced = jnp.maximum(jnp.where(reduce, state.scale * factor, state.scale), min_scale)
        new_scale = jnp.where(in_cooldown, state.scale, reduced)
        return ReduceLROnPlateauState(
            scale=new_scale.astype(state.scale.dtype),
            best_value=new_best.astype(best.dtype),
            plateau_count=jnp.where(in_cooldown | reduce, 0, plateau).astype(jnp.int32),
            cooldown_count=jnp.where(in_cooldown, state.cooldown_count - 1, jnp.where(reduce, cooldown, 0)).astype(
                jnp.int32
            ),
            count=jnp.asarray(0, jnp.int32),
            avg_value=jnp.zeros_like(avg),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        if value is None:
            raise ValueError(_MISSING_VALUE_MSG)
        if jnp.ndim(value) != 0:
            raise ValueError(f"reduce_on_plateau: `value` must be a scalar loss, got shape {jnp.shape(value)}")
        state = _checks.adopt_state(state, ReduceLROnPlateauState, "reduce_on_plateau")
        count = _tree.safe_increment(state.count)
        value = jnp.asarray(value).astype(state.avg_value.dtype)
        avg = (state.count * state.avg_value + value) / count
        state = state._replace(avg_value=avg.astype(state.avg_value.dtype), count=count)
        state = jax.lax.cond(count == accumulation_size, update_scale, lambda s: s, state)
        updates = jax.tree.map(lambda g: state.scale.astype(g.dtype) * g, updates)
        return updates, state

    return GradientTransformation(init_fn, update_fn)
