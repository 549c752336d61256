"""MoMo and MoMo-Adam: momentum steps capped by a model of the loss (Polyak-type)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule, Updates, require_params
from gdtransforms.contrib._common import tree_sq_norm, tree_vdot, wider_scalar_dtype

__all__ = ["MomoAdamState", "MomoState", "momo", "momo_adam"]

_TINY = float(np.finfo(np.float64).eps)  # a squared norm at or below this counts as zero


class MomoState(NamedTuple):
    """The gradients' EMA, the loss model's averages (``barf``, ``gamma``), the lower bound."""

    exp_avg: Updates
    barf: jax.Array  # scalar, float32 or wider (stable across steps)
    gamma: jax.Array  # scalar
    lb: jax.Array  # scalar
    count: jax.Array  # type: ignore[assignment]  # int32 scalar


class MomoAdamState(NamedTuple):
    """Adam's moments, the loss model's averages (``barf``, ``gamma``), the lower bound."""

    exp_avg: Updates
    exp_avg_sq: Updates
    barf: jax.Array  # scalar, float32 or wider (stable across steps)
    gamma: jax.Array  # scalar
    lb: jax.Array  # scalar
    count: jax.Array  # type: ignore[assignment]  # int32 scalar


def _loss(value: Any, where: str) -> Any:
    if value is None:
        raise ValueError(f"{where}.update needs the loss: call update(grads, state, params, value=loss)")
    return value


def _check_momo_args(learning_rate: Any, weight_decay: Any) -> None:
    _checks.check_rate("learning_rate", learning_rate)
    _checks.check_non_negative("weight_decay", weight_decay)


def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: jax.typing.ArrayLike = 0.9,
    lower_bound: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    r"""MoMo: SGD with momentum whose step is capped by a Polyak step on a model of the loss.

    With :math:`\rho_t = 0` on the first step and :math:`\beta` after, the
    loss :math:`f_t` (``value=``) and :math:`w` the weight decay:

    .. math::
        \bar f_t = \rho_t \bar f_{t-1} + (1 - \rho_t) f_t, \quad
        d_t = \rho_t d_{t-1} + (1 - \rho_t) g_t, \quad
        \gamma_t = \rho_t \gamma_{t-1} + (1 - \rho_t) \langle g_t, \theta_t \rangle, \\
        \tau_t = \min\!\left(\alpha_t, \frac{\left[(1 + \alpha_t w)(\bar f_t - f^* - \gamma_t)
                 + \langle d_t, \theta_t \rangle\right]_+}{\|d_t\|^2}\right), \quad
        u_t = -\frac{\alpha_t w}{1 + \alpha_t w} \theta_t - \tau_t d_t

    with :math:`f^*` the lower bound of the loss (re-estimated each step
    when ``adapt_lower_bound``). :math:`\tau_t = 0` when :math:`\|d_t\|^2` is 0.

    Args:
      learning_rate: :math:`\alpha`, the largest step, a number >= 0 or a schedule.
      beta: :math:`\beta` in [0, 1).
      lower_bound: :math:`f^*`, a lower bound of the loss.
      weight_decay: :math:`w \ge 0`.
      adapt_lower_bound: re-estimate :math:`f^*` as training goes.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`MomoState`;
      ``update`` needs ``params`` and ``value=loss``.

    References:
      Schaipp et al., 2023, MoMo: Momentum Models for Adaptive Learning
      Rates, https://arxiv.org/abs/2305.07583

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.momo(learning_rate=10.0)
      >>> params = jnp.array([1.0, 2.0])  # the loss |theta|^2 / 2 = 2.5, gradient theta
      >>> updates, _ = opt.update(params, opt.init(params), params, value=2.5)
      >>> updates  # the Polyak step f / |g|^2 = 0.5, below the rate
      Array([-0.5, -1. ], dtype=float32)
    """
    _check_momo_args(learning_rate, weight_decay)
    _checks.check_decay("beta", beta)

    def init_fn(params):
        _checks.check_params(params, "momo")
        dtype = wider_scalar_dtype(params)
        zero = jnp.zeros([], dtype)
        return MomoState(
            exp_avg=_tree.zeros_like(params),
            barf=zero,
            gamma=zero,
            lb=jnp.array(lower_bound, dtype),
            count=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        params = require_params(params)
        value = _loss(value, "momo")
        _checks.check_state(state, MomoState, "momo")
        _checks.check_updates(updates, state.exp_avg, "momo")
        rho = jnp.where(state.count == 0, 0.0, beta)
        barf = rho * state.barf + (1 - rho) * jnp.asarray(value, state.barf.dtype)
        exp_avg = jax.tree.map(lambda d, g: rho * d + (1 - rho) * g, state.exp_avg, updates)
        gamma = rho * state.gamma + (1 - rho) * tree_vdot(updates, params)
        sq_norm = tree_sq_norm(exp_avg)
        inner = tree_vdot(exp_avg, params)
        alpha = learning_rate(state.count) if callable(learning_rate) else learning_rate
        shrink = 1 + alpha * weight_decay
        if adapt_lower_bound:
            cap = shrink * (barf - gamma) + inner
            lb = jnp.where(cap < shrink * state.lb, jnp.maximum(cap / (2 * shrink), lower_bound), state.lb)
        else:
            lb = state.lb
        polyak = jnp.maximum(shrink * (barf - lb - gamma) + inner, 0.0) / sq_norm
        tau = jnp.minimum(alpha, jnp.where(sq_norm <= _TINY, 0.0, polyak))
        new_updates = jax.tree.map(
            lambda d, p: -(alpha * weight_decay) / (1 + alpha * weight_decay) * p - tau * d, exp_avg, params
        )
        new_updates = _tree.cast_like(new_updates, updates)  # a float32 tau must not promote a bfloat16 update
        if adapt_lower_bound:
            lb = jnp.maximum((barf + inner - gamma) - 0.5 * tau * sq_norm, lower_bound)
        return new_updates, MomoState(
            exp_avg=exp_avg, barf=barf, gamma=gamma, lb=lb, count=_tree.safe_increment(state.count)
        )

    return GradientTransformation(init_fn, update_fn)


def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    lower_bound: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    r"""MoMo-Adam: Adam whose step is capped by a Polyak step on a model of the loss.

    With Adam's moments :math:`d_t, v_t` (not bias-corrected),
    :math:`c_k = 1 - \beta_k^t`, :math:`D_t = \epsilon + \sqrt{v_t / c_2}`
    and the loss :math:`f_t` (``value=``):

    .. math::
        \bar f_t = \beta_1 \bar f_{t-1} + (1 - \beta_1) f_t, \quad
        \gamma_t = \beta_1 \gamma_{t-1} + (1 - \beta_1) \langle g_t, \theta_t \rangle, \\
        \tau_t = \min\!\left(\frac{\alpha_t}{c_1}, \frac{\left[(1 + \alpha_t w)(\bar f_t - c_1 f^*
                 - \gamma_t) + \langle d_t, \theta_t \rangle\right]_+}{\langle d_t, d_t / D_t \rangle}\right),
        \quad u_t = -\frac{\alpha_t w}{1 + \alpha_t w} \theta_t - \tau_t \frac{d_t}{D_t}

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon > 0`.
      lower_bound: :math:`f^*`, a lower bound of the loss.
      weight_decay: :math:`w \ge 0`.
      adapt_lower_bound: re-estimate :math:`f^*` as training goes.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`MomoAdamState`;
      ``update`` needs ``params`` and ``value=loss``.

    References:
      Schaipp et al., 2023, https://arxiv.org/abs/2305.07583

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.momo_adam(learning_rate=0.1)
      >>> params = jnp.array([1.0, 2.0])
      >>> updates, _ = opt.update(params, opt.init(params), params, value=2.5)
      >>> updates  # tau = alpha / c1 = 1 (the cap), times d / D = 0.1 sign(g)
      Array([-0.09999934, -0.09999934], dtype=float32)
    """
    _check_momo_args(learning_rate, weight_decay)
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_positive("eps", eps)

    def init_fn(params):
        _checks.check_params(params, "momo_adam")
        dtype = wider_scalar_dtype(params)
        zero = jnp.zeros([], dtype)
        return MomoAdamState(
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
            barf=zero,
            gamma=zero,
            lb=jnp.array(lower_bound, dtype),
            count=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        params = require_params(params)
        value = _loss(value, "momo_adam")
        _checks.check_state(state, MomoAdamState, "momo_adam")
        _checks.check_updates(updates, state.exp_avg, "momo_adam")
        count = _tree.safe_increment(state.count)
        barf = b1 * state.barf + (1 - b1) * jnp.asarray(value, state.barf.dtype)
        dtype = barf.dtype
        c2 = jnp.asarray(1 - b2**count, dtype)

        def leaf(g, d, v):
            d = b1 * d + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            return d, v, eps + jnp.sqrt(v / c2)

        exp_avg, exp_avg_sq, precond = _tree.map_unzip(leaf, updates, state.exp_avg, state.exp_avg_sq, num_outputs=3)
        sq_norm = tree_vdot(exp_avg, jax.tree.map(lambda d, D: d / D, exp_avg, precond))
        gamma = b1 * state.gamma + (1 - b1) * tree_vdot(updates, params)
        inner = tree_vdot(exp_avg, params)
        alpha = learning_rate(state.count) if callable(learning_rate) else learning_rate
        c1 = jnp.asarray(1 - b1**count, dtype)
        shrink = 1 + alpha * weight_decay
        if adapt_lower_bound:
            cap = shrink * (barf - gamma) + inner
            lb = jnp.where(cap < shrink * c1 * state.lb, jnp.maximum(cap / (2 * c1 * shrink), lower_bound), state.lb)
        else:
            lb = state.lb
        polyak = jnp.maximum(shrink * (barf - c1 * lb - gamma) + inner, 0.0) / sq_norm
        tau = jnp.minimum(alpha / c1, jnp.where(sq_norm <= _TINY, 0.0, polyak))
        new_updates = jax.tree.map(
            lambda d, D, p: -(alpha * weight_decay) / (1 + alpha * weight_decay) * p - tau * d / D,
            exp_avg,
            precond,
            params,
        )
        new_updates = _tree.cast_like(new_updates, updates)  # a float32 tau must not promote a bfloat16 update
        if adapt_lower_bound:
            lb = jnp.maximum(((barf + inner - gamma) - 0.5 * tau * sq_norm) / c1, lower_bound)
        return new_updates, MomoAdamState(
            exp_avg=exp_avg, exp_avg_sq=exp_avg_sq, barf=barf, gamma=gamma, lb=lb, count=count
        )

    return GradientTransformation(init_fn, update_fn)
