"""Step sizes without a learning rate: Polyak's and distance over gradients (DoG)."""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, OptState, init_empty_state, require_params
from gdtransforms._core._flat_params import leafwise

__all__ = [
    "ScaleByDistanceOverGradientsState",
    "scale_by_distance_over_gradients",
    "scale_by_polyak",
]

_VARIANTS = ("sps", "sps+")


def scale_by_polyak(
    f_min: jax.typing.ArrayLike = 0.0,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""Scales the updates by Polyak's step size, from the loss ``value``.

    .. math::
        \gamma = \min\left(\frac{f(x) - f^\star}{\|u\|^2 + \epsilon},\ \gamma_{max}\right), \qquad
        u \leftarrow \gamma\, u

    (:math:`\gamma = 0` where :math:`\|u\|^2 + \epsilon` is below float64's
    machine epsilon). ``variant="sps+"`` clamps the gap
    :math:`f(x) - f^\star` at 0. :math:`\|u\|` is the norm of the whole tree.

    Args:
      f_min: :math:`f^\star`, a lower bound on the loss.
      max_learning_rate: :math:`\gamma_{max} \ge 0`.
      eps: :math:`\epsilon \ge 0`.
      variant: ``"sps"`` or ``"sps+"``.

    Returns:
      A stateless :class:`GradientTransformation`; its ``update`` takes the
      loss as the keyword argument ``value``.

    References:
      Loizou et al., 2021, https://arxiv.org/abs/2002.10542;
      Polyak, 1987, Introduction to Optimization
    """
    _checks.check_in_range("f_min", f_min, -np.inf, np.inf)
    _checks.check_rate("max_learning_rate", max_learning_rate)
    _checks.check_non_negative("eps", eps)
    if variant not in _VARIANTS:
        raise ValueError(f"`variant` must be one of {list(_VARIANTS)}, got {variant!r}")

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        if value is None:
            raise TypeError("scale_by_polyak.update needs the loss: call update(..., value=loss)")
        # Summed per leaf in the leaf's dtype, then across leaves, as optax does.
        sums = jax.tree.map(lambda u: jnp.sum(_tree.abs_sq(u)), updates)
        sq_norm = jnp.asarray(jax.tree.reduce(operator.add, sums, initializer=0))
        gap = jnp.asarray(value - f_min).astype(sq_norm.dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0)
        denominator = sq_norm + eps
        rate = jnp.minimum(gap / denominator, _as_scalar(max_learning_rate, denominator))
        step = jnp.where(denominator <= np.finfo(float).eps, jnp.array(0.0), rate)
        return jax.tree.map(lambda u: (step * u).astype(u.dtype), updates), state

    return GradientTransformation(init_empty_state, update_fn)


def _as_scalar(value: Any, like: jax.Array) -> jax.Array:
    """``value`` as a scalar of ``like``'s dtype (multiplying by one is exact)."""
    return (value * jnp.ones([], like.dtype)).astype(like.dtype)


class ScaleByDistanceOverGradientsState(NamedTuple):
    """DoG's largest distance from the start and sum of squared gradient norms, per leaf."""

    max_dist: OptState
    grad_sum_of_squares: OptState
    init_params: OptState


def _l2(x: jax.Array, y: Any = 0.0) -> jax.Array:
    return jnp.sqrt(jnp.square(x - y).sum())


def scale_by_distance_over_gradients(
    reps_rel: jax.typing.ArrayLike = 1e-6,
    eps: jax.typing.ArrayLike = 1e-8,
    param_dtype: Any = jnp.float32,
    global_scale: jax.typing.ArrayLike = 1.0,
) -> GradientTransformation:
    r"""Layer-wise DoG: the step is the distance travelled over the gradients seen.

    For each leaf (layer) with parameters :math:`x_t`:

    .. math::
        \bar r_t = \max\big(\bar r_{t-1}, \|x_t - x_0\|\big), \
        \bar r_0 = r_\epsilon (1 + \|x_0\|), \quad
        G_t = G_{t-1} + \|g_t\|^2, \quad
        u_t = s\, \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t

    No learning rate: the step grows with the distance from the start. The
    update is ascent-signed; use ``global_scale=-1`` (or a negative learning
    rate after it) to descend. On flat buffers the norms are taken leaf by
    leaf. The state keeps optax's layout (:math:`G` as a shape-(1,) float32
    array); the update keeps each leaf's shape and dtype, and
    :math:`\bar r` is kept in at least ``param_dtype``.

    Args:
      reps_rel: :math:`r_\epsilon > 0`, the relative size of the first step.
      eps: :math:`\epsilon \ge 0`.
      param_dtype: the floating dtype of the stored :math:`x_0`.
      global_scale: :math:`s`, typically 1 or -1.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ScaleByDistanceOverGradientsState`; its ``update`` needs ``params``.

    References:
      Ivgi et al., 2023, https://arxiv.org/abs/2302.12022
    """
    _checks.check_positive("reps_rel", reps_rel)
    _checks.check_non_negative("eps", eps)
    _checks.check_in_range("global_scale", global_scale, -np.inf, np.inf, low_closed=False, high_closed=False)
    param_dtype = _checks.check_float_dtype("param_dtype", param_dtype)

    def init_fn(params):
        _checks.check_params(params, "scale_by_distance_over_gradients")

        def first_dist(x):
            x = jnp.asarray(x)
            return (reps_rel * (1 + _l2(x))).astype(jnp.promote_types(x.dtype, param_dtype))

        return ScaleByDistanceOverGradientsState(
            max_dist=jax.tree.map(first_dist, params),
            grad_sum_of_squares=jax.tree.map(lambda _: jnp.zeros(1), params),
            init_params=_tree.cast(params, param_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, ScaleByDistanceOverGradientsState, "scale_by_distance_over_gradients")
        _checks.check_updates(updates, state.init_params, "scale_by_distance_over_gradients")

        def leaf(g, x, x0, dist, g_sos):
            dist = jnp.maximum(dist, _l2(x, x0)).astype(dist.dtype)
            g_sos = g_sos + jnp.square(g).sum()
            eta = global_scale * (dist / jnp.sqrt(g_sos + eps))
            return (eta.reshape(()) * g).astype(g.dtype), dist, g_sos

        new_updates, dist, g_sos = _tree.map_unzip(
            leaf, updates, params, state.init_params, state.max_dist, state.grad_sum_of_squares, num_outputs=3
        )
        return new_updates, ScaleByDistanceOverGradientsState(dist, g_sos, state.init_params)

    # Per-leaf norms: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))
