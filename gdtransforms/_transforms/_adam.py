"""The Adam family: Adam (and NAdam), AMSGrad and Adamax."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates
from gdtransforms._core._moments import bias_correction_factor

__all__ = [
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
]


class ScaleByAdamState(NamedTuple):
    """Adam's step count and first and second moments (also Adamax's)."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates
    nu: Updates


class ScaleByAmsgradState(NamedTuple):
    """AMSGrad's moments and the running maximum of the second moment."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates
    nu: Updates
    nu_max: Updates


def _check_adam_args(b1: Any, b2: Any, eps: Any, eps_root: Any) -> None:
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_eps_pair(eps, eps_root)


def _init_moments(params: Any, where: str, mu_dtype: Any, nu_dtype: Any) -> tuple[Any, Any]:
    _checks.check_params(params, where)
    return _tree.zeros_like(params, mu_dtype), _tree.zeros_like(params, nu_dtype)


def scale_by_adam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Adam's scaling by bias-corrected first and second moments.

    .. math::
        V_t = \beta_1 V_{t-1} + (1 - \beta_1) g_t, \quad
        S_t = \beta_2 S_{t-1} + (1 - \beta_2) g_t^2, \\
        \hat V_t = \frac{V_t}{1 - \beta_1^t}, \quad
        \hat S_t = \frac{S_t}{1 - \beta_2^t}, \quad
        u_t = \frac{\hat V_t}{\sqrt{\hat S_t + \epsilon_{root}} + \epsilon}

    This is docs/notes.md §7 (the notes' 004 puts :math:`\epsilon` inside the
    root: use ``eps=0, eps_root=eps`` for that form). With ``nesterov`` the
    first moment looks one step ahead (NAdam):
    :math:`\hat V_t = \beta_1 V_t / (1 - \beta_1^{t+1}) + (1 - \beta_1) g_t / (1 - \beta_1^t)`.

    Args:
      b1: :math:`\beta_1`, in [0, 1).
      b2: :math:`\beta_2`, in [0, 1).
      eps: :math:`\epsilon \ge 0`, added outside the root.
      eps_root: :math:`\epsilon_{root} \ge 0`, added inside the root.
      mu_dtype: optional dtype of the first moment.
      nesterov: use Nesterov momentum (NAdam).
      nu_dtype: optional dtype of the second moment (optax has no such
        option): float32 keeps :math:`g^2` from underflowing in float16, and
        keeps its precision in bfloat16.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByAdamState`.

    References:
      Kingma and Ba, 2014, https://arxiv.org/abs/1412.6980;
      Dozat, 2016, https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ
    """
    _check_adam_args(b1, b2, eps, eps_root)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)
    nu_dtype = _checks.check_float_dtype("nu_dtype", nu_dtype)

    def init_fn(params):
        mu, nu = _init_moments(params, "scale_by_adam", mu_dtype, nu_dtype)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAdamState, "scale_by_adam")
        _checks.check_updates(updates, state.mu, "scale_by_adam")
        count = _tree.safe_increment(state.count)
        correction1, correction2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)
        correction1_next = bias_correction_factor(b1, _tree.safe_increment(count)) if nesterov else None

        def leaf(g, mu, nu):
            new_mu = (1 - b1) * g + b1 * mu
            # Square in the wider of the two dtypes, so a float32 nu_dtype keeps
            # bfloat16 gradients' squares from underflowing.
            g_wide = g.astype(jnp.promote_types(g.dtype, nu.dtype))
            new_nu = (1 - b2) * _tree.abs_sq(g_wide) + b2 * nu
            if nesterov:
                mu_hat = b1 * (new_mu / correction1_next.astype(new_mu.dtype)) + (1 - b1) * (
                    g / correction1.astype(g.dtype)
                )
            else:
                mu_hat = new_mu / correction1.astype(new_mu.dtype)
            nu_hat = new_nu / correction2.astype(new_nu.dtype)
            u = mu_hat / (jnp.sqrt(_tree.widen_f16(nu_hat) + eps_root) + eps)
            new_mu = new_mu if mu_dtype is None else new_mu.astype(mu_dtype)
            u = u.astype(_tree.update_dtype(g.dtype, mu.dtype))  # As optax for float16.
            return u, new_mu, new_nu.astype(nu.dtype)

        updates, mu, nu = _tree.map_unzip(leaf, updates, state.mu, state.nu, num_outputs=3)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def scale_by_amsgrad(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> GradientTransformation:
    r"""AMSGrad: Adam with a non-decreasing second moment.

    .. math::
        \hat S^{max}_t = \max(\hat S^{max}_{t-1}, \hat S_t), \qquad
        u_t = \frac{\hat V_t}{\sqrt{\hat S^{max}_t + \epsilon_{root}} + \epsilon}

    with :math:`\hat V_t, \hat S_t` as in :func:`scale_by_adam` (each
    bias-corrected only if asked).

    Args:
      b1: :math:`\beta_1`, in [0, 1).
      b2: :math:`\beta_2`, in [0, 1).
      eps: :math:`\epsilon \ge 0`.
      eps_root: :math:`\epsilon_{root} \ge 0`.
      mu_dtype: optional dtype of the first moment.
      bias_correction_mu: bias-correct the first moment.
      bias_correction_nu: bias-correct the second moment before the maximum.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByAmsgradState`.

    References:
      Reddi et al., 2018, https://openreview.net/forum?id=ryQu7f-RZ
    """
    _check_adam_args(b1, b2, eps, eps_root)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        mu, nu = _init_moments(params, "scale_by_amsgrad", mu_dtype, None)
        return ScaleByAmsgradState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu, nu_max=_tree.zeros_like(params))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAmsgradState, "scale_by_amsgrad")
        _checks.check_updates(updates, state.mu, "scale_by_amsgrad")
        count = _tree.safe_increment(state.count)
        correction1, correction2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)

        def leaf(g, mu, nu, nu_max):
            out_dtype = _tree.update_dtype(g.dtype, mu.dtype)
            mu = (1 - b1) * g + b1 * mu
            nu = (1 - b2) * _tree.abs_sq(g) + b2 * nu
            mu_hat = mu / correction1.astype(mu.dtype) if bias_correction_mu else mu
            nu_eff = nu / correction2.astype(nu.dtype) if bias_correction_nu else nu
            nu_max = jnp.maximum(nu_max, nu_eff)
            u = mu_hat / (jnp.sqrt(_tree.widen_f16(nu_max) + eps_root) + eps)
            mu = mu if mu_dtype is None else mu.astype(mu_dtype)
            return u.astype(out_dtype), mu, nu, nu_max

        updates, mu, nu, nu_max = _tree.map_unzip(leaf, updates, state.mu, state.nu, state.nu_max, num_outputs=4)
        return updates, ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init_fn, update_fn)


def scale_by_adamax(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
) -> GradientTransformation:
    r"""Adamax: Adam with the infinity norm in place of the second moment.

    .. math::
        V_t = \beta_1 V_{t-1} + (1 - \beta_1) g_t, \quad
        U_t = \max(|g_t| + \epsilon,\ \beta_2 U_{t-1}), \quad
        u_t = \frac{V_t}{(1 - \beta_1^t)\, U_t}

    Args:
      b1: :math:`\beta_1`, in [0, 1).
      b2: :math:`\beta_2`, in [0, 1).
      eps: :math:`\epsilon > 0`, keeps :math:`U_t` away from zero.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByAdamState`.

    References:
      Kingma and Ba, 2014, section 7, https://arxiv.org/abs/1412.6980
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_positive("eps", eps)

    def init_fn(params):
        mu, nu = _init_moments(params, "scale_by_adamax", None, None)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAdamState, "scale_by_adamax")
        _checks.check_updates(updates, state.mu, "scale_by_adamax")
        count = _tree.safe_increment(state.count)
        correction1 = bias_correction_factor(b1, count)

        def leaf(g, mu, nu):
            mu = (1 - b1) * g + b1 * mu
            # The maximum in float32 for float16: eps = 1e-8 is 0 in float16.
            wide_nu = jnp.maximum(_tree.widen_f16(jnp.abs(g)) + eps, b2 * _tree.widen_f16(nu))
            u = (mu / correction1.astype(mu.dtype)) / wide_nu
            return u.astype(g.dtype), mu, wide_nu.astype(nu.dtype)

        updates, mu, nu = _tree.map_unzip(leaf, updates, state.mu, state.nu, num_outputs=3)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)
