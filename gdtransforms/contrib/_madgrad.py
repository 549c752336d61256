"""MADGRAD: momentumised, adaptive, dual-averaged gradient steps."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule, Updates, require_params
from gdtransforms._core._combine import chain
from gdtransforms._transforms._regularize import add_decayed_weights

__all__ = ["MadgradState", "madgrad", "scale_by_madgrad"]


class MadgradState(NamedTuple):
    """The step count, the weighted sums of gradients and squared gradients, the start point."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    grad_sum_sq: Updates
    s: Updates
    x0: Updates


def scale_by_madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> GradientTransformation:
    r"""MADGRAD's step from the current params to the next (it includes the learning rate).

    With :math:`\lambda_t = (\gamma_t + \epsilon) \sqrt{t}` at step :math:`t \ge 1`:

    .. math::
        s_t = s_{t-1} + \lambda_t g_t, \qquad
        \nu_t = \nu_{t-1} + \lambda_t g_t^2, \qquad
        z_t = \theta_0 - \frac{s_t}{\sqrt[3]{\nu_t} + \epsilon}, \\
        u_t = (1 - c)\, z_t + c\, \theta_t - \theta_t

    where :math:`c` is ``momentum``.

    Args:
      learning_rate: :math:`\gamma`, a number >= 0 or a schedule.
      momentum: :math:`c` in [0, 1).
      eps: :math:`\epsilon > 0`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`MadgradState`;
      it needs ``params``.

    References:
      Defazio and Jelassi, 2021, Adaptivity without Compromise: A
      Momentumized, Adaptive, Dual Averaged Gradient Method for Stochastic
      Optimization, https://arxiv.org/abs/2101.11075
    """
    _checks.check_rate("learning_rate", learning_rate)
    _checks.check_decay("momentum", momentum)
    _checks.check_positive("eps", eps)

    def init_fn(params):
        _checks.check_params(params, "scale_by_madgrad")
        return MadgradState(
            count=jnp.zeros([], jnp.int32),
            grad_sum_sq=_tree.zeros_like(params),
            s=_tree.zeros_like(params),
            x0=jax.tree.map(lambda p: p, params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, MadgradState, "scale_by_madgrad")
        _checks.check_updates(updates, state.s, "scale_by_madgrad")
        rate = learning_rate(state.count) if callable(learning_rate) else learning_rate
        weight = (rate + eps) * jnp.sqrt(state.count + 1)

        def leaf(g, p, x0, nu, s):
            nu = nu + (weight * (g**2)).astype(g.dtype)
            s = s + (weight * g).astype(g.dtype)
            z = x0 - s / (jnp.cbrt(nu) + eps)
            return (1 - momentum) * z + momentum * p - p, nu, s

        new_updates, nu, s = _tree.map_unzip(leaf, updates, params, state.x0, state.grad_sum_sq, state.s, num_outputs=3)
        return new_updates, MadgradState(count=_tree.safe_increment(state.count), grad_sum_sq=nu, s=s, x0=state.x0)

    return GradientTransformation(init_fn, update_fn)


def madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> GradientTransformation:
    r"""MADGRAD: coupled weight decay, then :func:`scale_by_madgrad`.

    .. math:: g_t \leftarrow g_t + w\, \theta_t, \qquad \theta_{t+1} = \theta_t + u_t

    Args:
      learning_rate: :math:`\gamma`, a number >= 0 or a schedule.
      momentum: :math:`c` in [0, 1).
      weight_decay: :math:`w \ge 0`.
      eps: :math:`\epsilon > 0`.

    Returns:
      A :class:`GradientTransformation`; it needs ``params``.

    References:
      Defazio and Jelassi, 2021, https://arxiv.org/abs/2101.11075

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.madgrad(learning_rate=1.0, momentum=0.0, eps=1e-6)
      >>> params = jnp.zeros(1)
      >>> updates, _ = opt.update(jnp.array([8.0]), opt.init(params), params)
      >>> round(float(updates[0]), 4)  # -lambda g / cbrt(lambda g^2), lambda = 1 + eps
      -2.0
    """
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_madgrad(learning_rate=learning_rate, momentum=momentum, eps=eps),
    )
