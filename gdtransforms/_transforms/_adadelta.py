"""AdaDelta: a step in units of the parameters, from two running averages."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates

__all__ = ["ScaleByAdaDeltaState", "scale_by_adadelta"]


class ScaleByAdaDeltaState(NamedTuple):
    """AdaDelta's running averages of squared gradients and squared updates."""

    e_g: Updates
    e_x: Updates


def scale_by_adadelta(
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
) -> GradientTransformation:
    r"""AdaDelta's scaling by the ratio of update and gradient RMS.

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1 - \rho) g_t^2, \quad
        u_t = \frac{\sqrt{E[u^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t, \quad
        E[u^2]_t = \rho E[u^2]_{t-1} + (1 - \rho) u_t^2

    The numerator carries the units of the parameters, so the step needs no
    learning rate (aliases still multiply by one). In float16 the ratio is
    computed in float32, so an ``eps`` below float16's range still guards it.

    Args:
      rho: :math:`\rho`, the decay of both averages, in [0, 1).
      eps: :math:`\epsilon > 0`; it also sets the size of the first steps.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByAdaDeltaState`.

    References:
      Zeiler, 2012, https://arxiv.org/abs/1212.5701
    """
    _checks.check_decay("rho", rho)
    _checks.check_positive("eps", eps)

    def init_fn(params):
        _checks.check_params(params, "scale_by_adadelta")
        return ScaleByAdaDeltaState(e_g=_tree.zeros_like(params), e_x=_tree.zeros_like(params))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAdaDeltaState, "scale_by_adadelta")
        _checks.check_updates(updates, state.e_g, "scale_by_adadelta")

        def leaf(g, e_g, e_x):
            e_g = (1 - rho) * _tree.abs_sq(g) + rho * e_g
            ratio = jnp.sqrt(_tree.widen_f16(e_x) + eps) / jnp.sqrt(_tree.widen_f16(e_g) + eps)
            u = (ratio * g).astype(g.dtype)
            e_x = (1 - rho) * _tree.abs_sq(u) + rho * e_x
            return u, e_g, e_x

        updates, e_g, e_x = _tree.map_unzip(leaf, updates, state.e_g, state.e_x, num_outputs=3)
        return updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

    return GradientTransformation(init_fn, update_fn)
