"""Yogi: Adam whose second moment moves additively, by the sign of the change."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation
from gdtransforms._core._moments import bias_correction_factor
from gdtransforms._transforms._adam import ScaleByAdamState

__all__ = ["scale_by_yogi"]


def scale_by_yogi(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
    eps_root: jax.typing.ArrayLike = 0.0,
    initial_accumulator_value: jax.typing.ArrayLike = 1e-6,
) -> GradientTransformation:
    r"""Yogi's scaling: an additive, sign-controlled second moment.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        v_t = v_{t-1} - (1 - \beta_2)\, \operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2, \\
        u_t = \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{root}} + \epsilon}

    Adam's :math:`v` moves a fraction :math:`1 - \beta_2` of the way to
    :math:`g^2`, so a burst of large gradients is forgotten fast; Yogi's moves
    by :math:`(1 - \beta_2) g^2` towards it, which changes the effective rate
    more slowly. Both moments start at ``initial_accumulator_value``.

    In float16 the denominator is computed in float32, so a zero moment
    gives a finite update, not NaN, whatever ``eps``.

    Args:
      b1: :math:`\beta_1`, in [0, 1).
      b2: :math:`\beta_2`, in [0, 1).
      eps: :math:`\epsilon \ge 0`, added outside the root.
      eps_root: :math:`\epsilon_{root} \ge 0`, added inside the root.
      initial_accumulator_value: :math:`m_0 = v_0 \ge 0`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByAdamState`.

    References:
      Zaheer et al., 2018, https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_eps_pair(eps, eps_root)
    _checks.check_non_negative("initial_accumulator_value", initial_accumulator_value)

    def init_fn(params):
        _checks.check_params(params, "scale_by_yogi")
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=_tree.full_like(params, initial_accumulator_value),
            nu=_tree.full_like(params, initial_accumulator_value),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAdamState, "scale_by_yogi")
        _checks.check_updates(updates, state.mu, "scale_by_yogi")
        count = _tree.safe_increment(state.count)
        correction1, correction2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)

        def leaf(g, mu, nu):
            mu = (1 - b1) * g + b1 * mu
            g_sq = _tree.abs_sq(g)
            nu = nu - (1 - b2) * jnp.sign(nu - g_sq) * g_sq
            mu_hat = mu / correction1.astype(mu.dtype)
            nu_hat = nu / correction2.astype(nu.dtype)
            u = mu_hat / (jnp.sqrt(_tree.widen_f16(nu_hat) + eps_root) + eps)
            return u.astype(g.dtype), mu, nu

        updates, mu, nu = _tree.map_unzip(leaf, updates, state.mu, state.nu, num_outputs=3)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)
