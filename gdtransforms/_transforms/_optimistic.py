"""Optimistic gradients: extrapolate with the last gradient (games, min-max)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates

__all__ = ["ScaleByOptimisticGradientState", "scale_by_optimistic_gradient"]


class ScaleByOptimisticGradientState(NamedTuple):
    """Whether no update has been made yet, and the previous gradient."""

    is_initial_step: jax.Array  # bool scalar
    previous_gradient: Updates


def scale_by_optimistic_gradient(
    alpha: jax.typing.ArrayLike = 1.0,
    beta: jax.typing.ArrayLike = 1.0,
) -> GradientTransformation:
    r"""The generalised optimistic gradient.

    .. math:: u_t = (\alpha + \beta)\, g_t - \beta\, g_{t-1}

    with :math:`g_0 = g_1`, so the first update is :math:`\alpha g_1`. With
    :math:`\alpha = \beta = 1` this is optimistic gradient descent,
    :math:`2 g_t - g_{t-1}`: a step along the current gradient plus a
    correction for how it changed, which damps the cycling of plain gradient
    descent on saddle-point (min-max) problems.

    Args:
      alpha: :math:`\alpha \ge 0`, the weight of the current gradient.
      beta: :math:`\beta \ge 0`, the weight of the change (negative momentum).

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ScaleByOptimisticGradientState`.

    References:
      Mokhtari et al., 2019, https://arxiv.org/abs/1901.08511
    """
    _checks.check_non_negative("alpha", alpha)
    _checks.check_non_negative("beta", beta)

    def init_fn(params):
        _checks.check_params(params, "scale_by_optimistic_gradient")
        return ScaleByOptimisticGradientState(
            is_initial_step=jnp.array(True), previous_gradient=_tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByOptimisticGradientState, "scale_by_optimistic_gradient")
        _checks.check_updates(updates, state.previous_gradient, "scale_by_optimistic_gradient")

        def leaf(g, g_prev):
            g_prev = jnp.where(state.is_initial_step, g, g_prev)
            return ((alpha + beta) * g - beta * g_prev).astype(g.dtype)

        new_updates = jax.tree.map(leaf, updates, state.previous_gradient)
        return new_updates, ScaleByOptimisticGradientState(is_initial_step=jnp.array(False), previous_gradient=updates)

    return GradientTransformation(init_fn, update_fn)
