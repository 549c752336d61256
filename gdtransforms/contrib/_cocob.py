"""COCOB-Backprop: coin betting, a step size found from the gradients alone."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, MaskOrFn, ScalarOrSchedule, Updates, require_params
from gdtransforms._core._combine import chain
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate

__all__ = ["COCOBState", "cocob", "scale_by_cocob"]


class COCOBState(NamedTuple):
    """The starting point, the gradients' running sums, scale and the bettor's reward."""

    init_particles: Updates
    cumulative_gradients: Updates
    scale: Updates
    subgradients: Updates
    reward: Updates


def scale_by_cocob(alpha: jax.typing.ArrayLike = 100.0, eps: jax.typing.ArrayLike = 1e-8) -> GradientTransformation:
    r"""COCOB-Backprop's bet, returned as the step from the current params.

    Per coordinate, with :math:`\theta_0` the starting point:

    .. math::
        L_t = \max(L_{t-1}, |g_t|), \quad G_t = G_{t-1} + |g_t|, \quad
        R_t = \max\!\left(R_{t-1} - g_t (\theta_t - \theta_0), 0\right), \quad
        C_t = C_{t-1} - g_t, \\
        u_t = \theta_0 + \frac{C_t}{L_t \max(G_t + L_t, \alpha L_t)} (L_t + R_t) - \theta_t

    with :math:`L_0 = \epsilon` and :math:`G_0 = R_0 = C_0 = 0`.

    Args:
      alpha: :math:`\alpha > 0`, which caps the bet while :math:`G` is small.
      eps: :math:`\epsilon > 0`, the initial scale :math:`L_0`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`COCOBState`; it needs ``params``.

    References:
      Orabona and Tommasi, 2017, Training Deep Networks without Learning
      Rates Through Coin Betting, https://arxiv.org/abs/1705.07795
    """
    _checks.check_positive("alpha", alpha)
    _checks.check_positive("eps", eps)

    def init_fn(params):
        _checks.check_params(params, "scale_by_cocob")
        return COCOBState(
            init_particles=params,
            cumulative_gradients=_tree.zeros_like(params),
            scale=jax.tree.map(lambda p: eps * jnp.ones_like(p), params),
            subgradients=_tree.zeros_like(params),
            reward=_tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, COCOBState, "scale_by_cocob")
        _checks.check_updates(updates, state.scale, "scale_by_cocob")

        def leaf(g, p, p0, c, scale, g_abs_sum, reward):
            scale = jnp.maximum(scale, jnp.abs(g))
            g_abs_sum = g_abs_sum + jnp.abs(g)
            reward = jnp.maximum(reward - g * (p - p0), 0)
            c = c - g
            bet = c / (scale * jnp.maximum(g_abs_sum + scale, alpha * scale)) * (scale + reward)
            return -p + (p0 + bet), c, scale, g_abs_sum, reward

        new_updates, c, scale, g_abs_sum, reward = _tree.map_unzip(
            leaf,
            updates,
            params,
            state.init_particles,
            state.cumulative_gradients,
            state.scale,
            state.subgradients,
            state.reward,
            num_outputs=5,
        )
        return new_updates, COCOBState(
            init_particles=state.init_particles,
            cumulative_gradients=c,
            scale=scale,
            subgradients=g_abs_sum,
            reward=reward,
        )

    return GradientTransformation(init_fn, update_fn)


def cocob(
    learning_rate: ScalarOrSchedule = 1.0,
    alpha: jax.typing.ArrayLike = 100.0,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""COCOB: weight decay, a gradient scale, then :func:`scale_by_cocob`.

    .. math:: \tilde g_t = \eta_t (g_t + \lambda \theta_t), \qquad \theta_{t+1} = \theta_t + u_t(\tilde g)

    No learning rate to tune: ``learning_rate`` only rescales the gradients
    the bettor sees (keep it 1).

    Args:
      learning_rate: :math:`\eta`, a gradient scale (not negated), or a schedule.
      alpha: :math:`\alpha > 0`.
      eps: :math:`\epsilon > 0`.
      weight_decay: :math:`\lambda \ge 0`.
      mask: a tree of bools (or a function of params) choosing the leaves to decay.

    Returns:
      A :class:`GradientTransformation`; it needs ``params``.

    References:
      Orabona and Tommasi, 2017, https://arxiv.org/abs/1705.07795

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.cocob()
      >>> params = jnp.zeros(1)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(params), params)
      >>> updates  # -g / (alpha |g|) = -1 / alpha
      Array([-0.01], dtype=float32)
    """
    return chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha, eps),
    )
