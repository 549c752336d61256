"""Per-parameter adaptive scaling: AdaGrad's sum and RMSprop's averages."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates
from gdtransforms._core._moments import bias_correction_factor

__all__ = [
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRssState",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
]


class ScaleByRssState(NamedTuple):
    """AdaGrad's running sum of squared gradients."""

    sum_of_squares: Updates


class ScaleByRmsState(NamedTuple):
    """RMSprop's moving average of squared gradients."""

    nu: Updates


class ScaleByRmsWithCountState(NamedTuple):
    """RMSprop's average with a step count for bias correction."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    nu: Updates


class ScaleByRStdDevState(NamedTuple):
    """Centered RMSprop's averages of gradients and squared gradients."""

    mu: Updates
    nu: Updates


class ScaleByRStdDevWithCountState(NamedTuple):
    """Centered RMSprop's averages with a step count for bias correction."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates
    nu: Updates


def _inverse_root(x: jax.Array, eps: jax.typing.ArrayLike, eps_in_sqrt: bool) -> jax.Array:
    """``1 / sqrt(x + eps)`` or ``1 / (sqrt(x) + eps)``."""
    return jax.lax.rsqrt(x + eps) if eps_in_sqrt else 1 / (jnp.sqrt(x) + eps)


def scale_by_rss(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> GradientTransformation:
    r"""AdaGrad's scaling by the root of the sum of all squared gradients.

    .. math:: h_t = h_{t-1} + g_t^2, \qquad u_t = \frac{g_t}{\sqrt{h_t + \epsilon}}

    (0 where :math:`h_t = 0`). Each parameter's rate only shrinks, which is
    why learning can stall (docs/notes.md §5) and why RMSprop exists.

    Args:
      initial_accumulator_value: :math:`h_0 \ge 0`.
      eps: :math:`\epsilon \ge 0`, added inside the root.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByRssState`.

    References:
      Duchi et al., 2011, https://jmlr.org/papers/v12/duchi11a.html
    """
    _checks.check_non_negative("initial_accumulator_value", initial_accumulator_value)
    _checks.check_non_negative("eps", eps)

    def init_fn(params):
        _checks.check_params(params, "scale_by_rss")
        return ScaleByRssState(sum_of_squares=_tree.full_like(params, initial_accumulator_value))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByRssState, "scale_by_rss")
        _checks.check_updates(updates, state.sum_of_squares, "scale_by_rss")

        def leaf(g, h):
            h = _tree.abs_sq(g) + h
            u = jnp.where(h > 0, jax.lax.rsqrt(h + eps), 0.0) * g
            return u.astype(g.dtype), h

        updates, sums = _tree.map_unzip(leaf, updates, state.sum_of_squares, num_outputs=2)
        return updates, ScaleByRssState(sum_of_squares=sums)

    return GradientTransformation(init_fn, update_fn)


def _check_rms_args(decay, eps, initial_scale) -> None:
    _checks.check_decay("decay", decay)
    _checks.check_positive("eps", eps)
    _checks.check_non_negative("initial_scale", initial_scale)


def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""RMSprop's scaling by the root of a moving average of squared gradients.

    .. math::
        S_t = \beta S_{t-1} + (1 - \beta) g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{\hat S_t + \epsilon}}
        \ \text{or}\ \frac{g_t}{\sqrt{\hat S_t} + \epsilon}

    with :math:`\hat S_t = S_t / (1 - \beta^t)` when ``bias_correction``,
    else :math:`S_t`. docs/notes.md §6 puts :math:`\epsilon = 10^{-8}` inside
    the root (``eps_in_sqrt=True``, the default).

    Args:
      decay: :math:`\beta`, in [0, 1).
      eps: :math:`\epsilon > 0`.
      initial_scale: :math:`S_0 \ge 0`.
      eps_in_sqrt: add :math:`\epsilon` inside the square root (else outside).
      bias_correction: divide :math:`S_t` by :math:`1 - \beta^t`.

    Returns:
      A :class:`GradientTransformation`; its state is :class:`ScaleByRmsState`,
      or :class:`ScaleByRmsWithCountState` with bias correction.

    References:
      Hinton, Lecture 6.5 of "Neural Networks for Machine Learning", 2012.
    """
    _check_rms_args(decay, eps, initial_scale)

    def init_fn(params):
        _checks.check_params(params, "scale_by_rms")
        nu = _tree.full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRmsWithCountState(count=jnp.zeros([], jnp.int32), nu=nu)
        return ScaleByRmsState(nu=nu)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByRmsWithCountState if bias_correction else ScaleByRmsState, "scale_by_rms")
        _checks.check_updates(updates, state.nu, "scale_by_rms")
        count = _tree.safe_increment(state.count) if bias_correction else None
        correction = bias_correction_factor(decay, count) if bias_correction else None

        def leaf(g, nu):
            nu = (1 - decay) * _tree.abs_sq(g) + decay * nu
            nu_hat = nu / correction.astype(nu.dtype) if bias_correction else nu
            u = _inverse_root(_tree.widen_f16(nu_hat), eps, eps_in_sqrt) * g
            return u.astype(g.dtype), nu

        updates, nu = _tree.map_unzip(leaf, updates, state.nu, num_outputs=2)
        if bias_correction:
            return updates, ScaleByRmsWithCountState(count=count, nu=nu)
        return updates, ScaleByRmsState(nu=nu)

    return GradientTransformation(init_fn, update_fn)


def scale_by_stddev(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""Centered RMSprop: scales by a running estimate of the standard deviation.

    .. math::
        m_t = \beta m_{t-1} + (1 - \beta) g_t, \quad
        S_t = \beta S_{t-1} + (1 - \beta) g_t^2, \quad
        u_t = \frac{g_t}{\sqrt{\hat S_t - \hat m_t^2 + \epsilon}}

    (or with :math:`\epsilon` outside the root), where the hats are the
    bias-corrected averages when ``bias_correction`` is set. The variance is
    clamped at 0, so rounding never makes the root NaN.

    Args:
      decay: :math:`\beta`, in [0, 1).
      eps: :math:`\epsilon > 0`.
      initial_scale: :math:`S_0 \ge 0`.
      eps_in_sqrt: add :math:`\epsilon` inside the square root (else outside).
      bias_correction: correct both averages by :math:`1 - \beta^t`.

    Returns:
      A :class:`GradientTransformation`; its state is
      :class:`ScaleByRStdDevState` (or the ``WithCount`` variant).

    References:
      Graves, 2013, https://arxiv.org/abs/1308.0850
    """
    _check_rms_args(decay, eps, initial_scale)

    def init_fn(params):
        _checks.check_params(params, "scale_by_stddev")
        mu, nu = _tree.zeros_like(params), _tree.full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRStdDevWithCountState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)
        return ScaleByRStdDevState(mu=mu, nu=nu)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(
            state,
            ScaleByRStdDevWithCountState if bias_correction else ScaleByRStdDevState,
            "scale_by_stddev",
        )
        _checks.check_updates(updates, state.nu, "scale_by_stddev")
        count = _tree.safe_increment(state.count) if bias_correction else None
        correction = bias_correction_factor(decay, count) if bias_correction else None

        def leaf(g, mu, nu):
            mu = (1 - decay) * g + decay * mu
            nu = (1 - decay) * _tree.abs_sq(g) + decay * nu
            mu_hat, nu_hat = mu, nu
            if bias_correction:
                mu_hat, nu_hat = mu / correction.astype(mu.dtype), nu / correction.astype(nu.dtype)
            # Clamped: rounding can make the difference slightly negative, and
            # sqrt would then give NaN (optax lets it through).
            variance = jnp.maximum(_tree.widen_f16(nu_hat - _tree.abs_sq(mu_hat)), 0)
            u = _inverse_root(variance, eps, eps_in_sqrt) * g
            return u.astype(g.dtype), mu, nu

        updates, mu, nu = _tree.map_unzip(leaf, updates, state.mu, state.nu, num_outputs=3)
        if bias_correction:
            return updates, ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
        return updates, ScaleByRStdDevState(mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)
