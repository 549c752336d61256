"""AdaBelief: Adam with the variance of the gradient around its prediction."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates
from gdtransforms._core._moments import bias_correction_factor

__all__ = ["ScaleByBeliefState", "scale_by_belief"]


class ScaleByBeliefState(NamedTuple):
    """AdaBelief's step count, first moment and belief (centred second moment)."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates
    nu: Updates


def scale_by_belief(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdaBelief's scaling: the step shrinks where the gradient is surprising.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        s_t = \beta_2 s_{t-1} + (1 - \beta_2) (g_t - m_t)^2 + \epsilon_{root}, \\
        u_t = \frac{m_t / (1 - \beta_1^t)}{\sqrt{s_t / (1 - \beta_2^t)} + \epsilon}

    Adam's second moment :math:`E[g^2]` is replaced by the spread of
    :math:`g` around its running mean :math:`m`: a gradient the mean predicted
    well gets a large step. With ``nesterov`` the first moment looks one step
    ahead, :math:`\hat m_t = \beta_1 m_t / (1 - \beta_1^{t+1}) + (1 - \beta_1) g_t / (1 - \beta_1^t)`.

    In float16 the denominator is computed in float32, so a zero gradient
    gives a zero update, not NaN (``eps = 1e-16`` is 0 in float16).

    Args:
      b1: :math:`\beta_1`, in [0, 1).
      b2: :math:`\beta_2`, in [0, 1).
      eps: :math:`\epsilon \ge 0`, added outside the root.
      eps_root: :math:`\epsilon_{root} \ge 0`, added to :math:`s_t` (at least
        one of the two must be > 0).
      nesterov: use the look-ahead first moment.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByBeliefState`.

    References:
      Zhuang et al., 2020, https://arxiv.org/abs/2010.07468
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_eps_pair(eps, eps_root)

    def init_fn(params):
        _checks.check_params(params, "scale_by_belief")
        return ScaleByBeliefState(
            count=jnp.zeros([], jnp.int32), mu=_tree.zeros_like(params), nu=_tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByBeliefState, "scale_by_belief")
        _checks.check_updates(updates, state.mu, "scale_by_belief")
        count = _tree.safe_increment(state.count)
        correction1, correction2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)
        correction1_next = bias_correction_factor(b1, _tree.safe_increment(count)) if nesterov else None

        def leaf(g, mu, nu):
            mu = (1 - b1) * g + b1 * mu
            surprise = g - mu
            nu = (1 - b2) * _tree.abs_sq(surprise) + b2 * nu
            nu = nu + eps_root
            if nesterov:
                mu_hat = b1 * (mu / correction1_next.astype(mu.dtype)) + (1 - b1) * (g / correction1.astype(g.dtype))
            else:
                mu_hat = mu / correction1.astype(mu.dtype)
            nu_hat = nu / correction2.astype(nu.dtype)
            u = mu_hat / (jnp.sqrt(_tree.widen_f16(nu_hat)) + eps)
            return u.astype(g.dtype), mu, nu

        updates, mu, nu = _tree.map_unzip(leaf, updates, state.mu, state.nu, num_outputs=3)
        return updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)
