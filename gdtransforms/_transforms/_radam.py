"""Rectified Adam: Adam with its early, high-variance steps tamed."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation
from gdtransforms._core._moments import bias_correction_factor
from gdtransforms._transforms._adam import ScaleByAdamState

__all__ = ["scale_by_radam"]


def scale_by_radam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""RAdam's scaling: momentum alone until the second moment is trustworthy.

    .. math::
        \rho_\infty = \frac{2}{1 - \beta_2} - 1, \quad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}, \\
        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}, \quad
        u_t = \begin{cases}
          r_t\, \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon) & \rho_t \ge \text{threshold} \\
          \hat m_t & \text{otherwise}
        \end{cases}

    with Adam's bias-corrected moments :math:`\hat m_t, \hat v_t`.
    :math:`\rho_t` is the length of the average that :math:`v_t`
    approximates; while it is short the adaptive rate's variance is large, and
    RAdam takes plain momentum steps instead. ``nesterov`` uses NAdam's
    look-ahead :math:`\hat m_t`. In float16 the denominator is computed in
    float32 (a zero gradient gives 0, not NaN).

    Args:
      b1: :math:`\beta_1`, in [0, 1).
      b2: :math:`\beta_2`, in [0, 1).
      eps: :math:`\epsilon \ge 0`.
      eps_root: :math:`\epsilon_{root} \ge 0`.
      threshold: the :math:`\rho_t` from which the adaptive step is used.
      nesterov: use the look-ahead first moment.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByAdamState`.

    References:
      Liu et al., 2020, https://arxiv.org/abs/1908.03265
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_eps_pair(eps, eps_root)
    _checks.check_in_range("threshold", threshold, -float("inf"), float("inf"))
    rho_inf = 2.0 / (1.0 - b2) - 1.0

    def init_fn(params):
        _checks.check_params(params, "scale_by_radam")
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32), mu=_tree.zeros_like(params), nu=_tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAdamState, "scale_by_radam")
        _checks.check_updates(updates, state.mu, "scale_by_radam")
        count = _tree.safe_increment(state.count)
        correction1, correction2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)
        correction1_next = bias_correction_factor(b1, _tree.safe_increment(count)) if nesterov else None
        b2_t = b2**count
        rho = rho_inf - 2 * count * b2_t / (1 - b2_t)
        rect = jnp.sqrt((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
        adaptive = rho >= threshold

        def leaf(g, mu, nu):
            mu = (1 - b1) * g + b1 * mu
            nu = (1 - b2) * _tree.abs_sq(g) + b2 * nu
            if nesterov:
                mu_hat = b1 * (mu / correction1_next.astype(mu.dtype)) + (1 - b1) * (g / correction1.astype(g.dtype))
            else:
                mu_hat = mu / correction1.astype(mu.dtype)
            nu_hat = nu / correction2.astype(nu.dtype)
            step = rect.astype(mu_hat.dtype) * mu_hat / (jnp.sqrt(_tree.widen_f16(nu_hat) + eps_root) + eps)
            return jnp.where(adaptive, step.astype(g.dtype), mu_hat.astype(g.dtype)), mu, nu

        updates, mu, nu = _tree.map_unzip(leaf, updates, state.mu, state.nu, num_outputs=3)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)
