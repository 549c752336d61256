"""DoG and DoWG: step sizes from the distance travelled since the start."""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import (
    GradientTransformation,
    MaskOrFn,
    ScalarOrSchedule,
    Updates,
    identity,
    require_params,
)
from gdtransforms._core._combine import chain
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate
from gdtransforms.contrib._common import tree_sq_norm, wider_scalar_dtype

__all__ = ["DoGState", "DoWGState", "dog", "dowg", "scale_by_dog", "scale_by_dowg"]

InitStep = tuple[Literal["distance", "learning_rate", "heuristic"], jax.typing.ArrayLike]
_INIT_STEP_KINDS = ("distance", "learning_rate", "heuristic")


class DoGState(NamedTuple):
    """Whether the next step is the first, the start point and DoG's two running scalars."""

    is_init_step: jax.Array  # bool scalar
    init_params: Updates
    max_dist: jax.Array  # scalar, float32 or wider (stable across steps)
    sum_sq_norm_grads: jax.Array  # scalar, float32 or wider (stable across steps)


class DoWGState(NamedTuple):
    """The start point and DoWG's two running scalars."""

    init_params: Updates
    weighted_sq_norm_grads: jax.Array  # scalar, float32 or wider (stable across steps)
    estim_sq_dist: jax.Array  # scalar, float32 or wider (stable across steps)


def _distance_sq(a: Updates, b: Updates) -> jax.Array:
    return tree_sq_norm(jax.tree.map(lambda x, y: x - y, a, b))


def _scaled(rate: jax.Array, updates: Updates) -> Updates:
    # Each update keeps its dtype: the float32 rate must not promote a bfloat16 leaf.
    return jax.tree.map(lambda u: (rate * u).astype(u.dtype), updates)


def scale_by_dog(init_step: InitStep, eps: jax.typing.ArrayLike = 1e-8) -> GradientTransformation:
    r"""Scales updates by DoG's step: the largest distance so far over the gradients' root sum.

    .. math::
        \bar r_t = \max(\bar r_{t-1}, \|\theta_t - \theta_0\|), \qquad
        G_t = G_{t-1} + \|g_t\|^2, \qquad
        u_t = \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t

    Norms are over all leaves together. ``init_step`` sets
    :math:`\bar r_0`: ``("distance", r)`` gives :math:`r`;
    ``("heuristic", c)`` gives :math:`c (1 + \|\theta_0\|)`;
    ``("learning_rate", \eta)`` gives 0 and uses :math:`\eta` as the first
    step's scale.

    Args:
      init_step: a pair (kind, value), kind one of ``"distance"``,
        ``"heuristic"``, ``"learning_rate"``.
      eps: :math:`\epsilon \ge 0`, inside the root.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`DoGState`;
      it needs ``params``.

    References:
      Ivgi et al., 2023, DoG is SGD's Best Friend: A Parameter-Free Dynamic
      Step Size Schedule, https://arxiv.org/abs/2302.12022
    """
    try:
        kind, value = init_step
    except (TypeError, ValueError):
        raise TypeError(f"`init_step` must be a pair (kind, value), got {init_step!r}") from None
    if kind not in _INIT_STEP_KINDS:
        raise ValueError(f"`init_step`'s kind must be one of {_INIT_STEP_KINDS}, got {kind!r}")
    _checks.check_non_negative("init_step[1]", value)
    _checks.check_non_negative("eps", eps)

    def init_fn(params):
        _checks.check_params(params, "scale_by_dog")
        dtype = wider_scalar_dtype(params)
        if kind == "distance":
            r0 = value
        elif kind == "heuristic":
            r0 = value * (1 + jnp.sqrt(tree_sq_norm(params)))
        else:
            r0 = 0.0
        return DoGState(
            is_init_step=jnp.asarray(True),
            init_params=params,
            max_dist=jnp.asarray(r0, dtype=dtype),
            sum_sq_norm_grads=jnp.asarray(0.0, dtype=dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, DoGState, "scale_by_dog")
        _checks.check_updates(updates, state.init_params, "scale_by_dog")
        max_dist = jnp.maximum(state.max_dist, jnp.sqrt(_distance_sq(state.init_params, params)))
        sum_sq = state.sum_sq_norm_grads + tree_sq_norm(updates)
        rate = max_dist / jnp.sqrt(sum_sq + eps)
        if kind == "learning_rate":
            rate = jnp.where(state.is_init_step, value, rate)
        return _scaled(rate, updates), DoGState(
            is_init_step=jnp.asarray(False),
            init_params=state.init_params,
            max_dist=max_dist,
            sum_sq_norm_grads=sum_sq,
        )

    return GradientTransformation(init_fn, update_fn)


def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    init_step: InitStep = ("heuristic", 1e-6),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike | None = None,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""DoG (Distance over Gradients): optional weight decay, :func:`scale_by_dog`, the learning rate.

    .. math:: \theta_{t+1} = \theta_t - \gamma_t \frac{\bar r_t}{\sqrt{G_t + \epsilon}} (g_t + \lambda \theta_t)

    Args:
      learning_rate: :math:`\gamma`, a multiplier of DoG's step (keep it 1), or a schedule.
      init_step: how to set the initial distance, see :func:`scale_by_dog`.
      eps: :math:`\epsilon \ge 0`.
      weight_decay: :math:`\lambda`, or ``None`` for none.
      mask: a tree of bools (or a function of params) choosing the leaves to decay.

    Returns:
      A :class:`GradientTransformation`; it needs ``params``.

    References:
      Ivgi et al., 2023, https://arxiv.org/abs/2302.12022

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.dog(init_step=("distance", 0.5))
      >>> params = jnp.zeros(2)
      >>> updates, _ = opt.update(jnp.array([3.0, 4.0]), opt.init(params), params)
      >>> updates  # -r0 g / |g|
      Array([-0.3, -0.4], dtype=float32)
    """
    return chain(
        identity() if weight_decay is None else add_decayed_weights(weight_decay, mask),
        scale_by_dog(init_step, eps),
        scale_by_learning_rate(learning_rate),
    )


def scale_by_dowg(
    init_estim_sq_dist: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-4,
) -> GradientTransformation:
    r"""Scales updates by DoWG's step: distance-weighted gradient sums.

    .. math::
        \bar r^2_t = \max(\bar r^2_{t-1}, \|\theta_t - \theta_0\|^2), \qquad
        v_t = v_{t-1} + \bar r^2_t \|g_t\|^2, \qquad
        u_t = \frac{\bar r^2_t}{\sqrt{v_t} + \epsilon}\, g_t

    Norms are over all leaves together; :math:`\bar r^2_0` is
    ``init_estim_sq_dist``, or :math:`\epsilon` when ``None``.

    Args:
      init_estim_sq_dist: :math:`\bar r^2_0 \ge 0`, or ``None``.
      eps: :math:`\epsilon > 0`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`DoWGState`;
      it needs ``params``.

    References:
      Khaled et al., 2023, DoWG Unleashed: An Efficient Universal
      Parameter-Free Gradient Descent Method, https://arxiv.org/abs/2305.16284
    """
    if init_estim_sq_dist is not None:
        _checks.check_non_negative("init_estim_sq_dist", init_estim_sq_dist)
    _checks.check_positive("eps", eps)

    def init_fn(params):
        _checks.check_params(params, "scale_by_dowg")
        dtype = wider_scalar_dtype(params)
        r0_sq = eps if init_estim_sq_dist is None else init_estim_sq_dist
        return DoWGState(
            init_params=params,
            weighted_sq_norm_grads=jnp.asarray(0.0, dtype=dtype),
            estim_sq_dist=jnp.asarray(r0_sq, dtype=dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, DoWGState, "scale_by_dowg")
        _checks.check_updates(updates, state.init_params, "scale_by_dowg")
        sq_dist = jnp.maximum(state.estim_sq_dist, _distance_sq(state.init_params, params))
        weighted = sq_dist * tree_sq_norm(updates) + state.weighted_sq_norm_grads
        rate = sq_dist / (jnp.sqrt(weighted) + eps)
        return _scaled(rate, updates), DoWGState(
            init_params=state.init_params, weighted_sq_norm_grads=weighted, estim_sq_dist=sq_dist
        )

    return GradientTransformation(init_fn, update_fn)


def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    init_estim_sq_dist: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-4,
    weight_decay: jax.typing.ArrayLike | None = None,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""DoWG (Distance over Weighted Gradients): optional weight decay, :func:`scale_by_dowg`, the rate.

    .. math:: \theta_{t+1} = \theta_t - \gamma_t \frac{\bar r^2_t}{\sqrt{v_t} + \epsilon} (g_t + \lambda \theta_t)

    Args:
      learning_rate: :math:`\gamma`, a multiplier of DoWG's step (keep it 1), or a schedule.
      init_estim_sq_dist: :math:`\bar r^2_0`, or ``None`` for :math:`\epsilon`.
      eps: :math:`\epsilon > 0`.
      weight_decay: :math:`\lambda`, or ``None`` for none.
      mask: a tree of bools (or a function of params) choosing the leaves to decay.

    Returns:
      A :class:`GradientTransformation`; it needs ``params``.

    References:
      Khaled et al., 2023, https://arxiv.org/abs/2305.16284

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.dowg(init_estim_sq_dist=1.0, eps=1e-4)
      >>> params = jnp.zeros(2)
      >>> updates, _ = opt.update(jnp.array([3.0, 4.0]), opt.init(params), params)
      >>> [round(float(u), 4) for u in updates]  # -r0^2 g / (r0 |g| + eps)
      [-0.6, -0.8]
    """
    return chain(
        identity() if weight_decay is None else add_decayed_weights(weight_decay, mask),
        scale_by_dowg(init_estim_sq_dist, eps),
        scale_by_learning_rate(learning_rate),
    )
