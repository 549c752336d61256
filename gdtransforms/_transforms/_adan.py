"""Adan: adaptive Nesterov momentum from gradients and their differences."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates
from gdtransforms._core._moments import bias_correction_factor

__all__ = ["ScaleByAdanState", "scale_by_adan"]


class ScaleByAdanState(NamedTuple):
    """Adan's moments, the previous gradient and the step count ``t``."""

    m: Updates
    v: Updates
    n: Updates
    g: Updates
    t: jax.Array  # int32 scalar


def scale_by_adan(
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Adan's scaling (algorithm 1 of the paper, without its weight decay).

    .. math::
        \Delta_t = g_t - g_{t-1}\ (0 \text{ at } t = 1), \quad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) \Delta_t, \\
        n_t = \beta_3 n_{t-1} + (1 - \beta_3) \big(g_t + (1 - \beta_2) \Delta_t\big)^2, \quad
        u_t = \frac{\hat m_t + (1 - \beta_2) \hat v_t}{\sqrt{\hat n_t + \epsilon_{root}} + \epsilon}

    where the hats divide by :math:`1 - \beta_i^t`. The gradient difference
    :math:`\Delta_t` is a cheap stand-in for Nesterov's look-ahead gradient.
    In float16 the denominator is computed in float32 (``eps = 1e-8`` is 0 in
    float16, so a zero gradient would give NaN).

    Args:
      b1: :math:`\beta_1`, the decay of the gradient average, in [0, 1).
      b2: :math:`\beta_2`, the decay of the difference average, in [0, 1).
      b3: :math:`\beta_3`, the decay of the squared term, in [0, 1).
      eps: :math:`\epsilon \ge 0`, added outside the root.
      eps_root: :math:`\epsilon_{root} \ge 0`, added inside the root.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByAdanState`.

    References:
      Xie et al., 2022, https://arxiv.org/abs/2208.06677
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_decay("b3", b3)
    _checks.check_eps_pair(eps, eps_root)

    def init_fn(params):
        _checks.check_params(params, "scale_by_adan")
        zeros = lambda: _tree.zeros_like(params)  # noqa: E731
        return ScaleByAdanState(m=zeros(), v=zeros(), n=zeros(), g=zeros(), t=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAdanState, "scale_by_adan")
        _checks.check_updates(updates, state.m, "scale_by_adan")
        first = state.t == 0
        t = _tree.safe_increment(state.t)
        c1, c2, c3 = (bias_correction_factor(b, t) for b in (b1, b2, b3))

        def leaf(g, m, v, n, g_prev):
            diff = jnp.where(first, jnp.zeros_like(g), g - g_prev)
            m = (1 - b1) * g + b1 * m
            v = (1 - b2) * diff + b2 * v
            look_ahead = g + (1 - b2) * diff
            n = (1 - b3) * _tree.abs_sq(look_ahead) + b3 * n
            m_hat, v_hat, n_hat = m / c1.astype(m.dtype), v / c2.astype(v.dtype), n / c3.astype(n.dtype)
            u = (m_hat + (1 - b2) * v_hat) / (jnp.sqrt(_tree.widen_f16(n_hat) + eps_root) + eps)
            return u.astype(g.dtype), m, v, n

        new_updates, m, v, n = _tree.map_unzip(leaf, updates, state.m, state.v, state.n, state.g, num_outputs=4)
        return new_updates, ScaleByAdanState(m=m, v=v, n=n, g=updates, t=t)

    return GradientTransformation(init_fn, update_fn)
