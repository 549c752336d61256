"""Steps from the gradient's sign alone: signSGD and Rprop."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates, init_empty_state

__all__ = ["ScaleByRpropState", "scale_by_rprop", "scale_by_sign"]


def scale_by_sign() -> GradientTransformation:
    r"""Replaces each update by its sign.

    .. math:: u \leftarrow \operatorname{sign}(u) \in \{-1, 0, 1\}

    Returns:
      A stateless :class:`GradientTransformation`.

    References:
      Bernstein et al., 2018, https://arxiv.org/abs/1802.04434
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(jnp.sign, updates), state

    return GradientTransformation(init_empty_state, update_fn)


class ScaleByRpropState(NamedTuple):
    """Rprop's per-element step sizes and its previous (signed) updates."""

    step_sizes: Updates
    prev_updates: Updates


def _scalar_as(value: Any, like: jax.Array) -> jax.Array:
    """``value`` as a scalar of ``like``'s dtype (multiplying by one is exact)."""
    return (value * jnp.ones([], like.dtype)).astype(like.dtype)


def scale_by_rprop(
    learning_rate: jax.typing.ArrayLike,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> GradientTransformation:
    r"""Rprop: a per-element step size grown or shrunk by sign agreement.

    With :math:`s_t = g_t \cdot u_{t-1}` (:math:`u_0 = 0`):

    .. math::
        \Delta_t = \begin{cases}
          \operatorname{clip}(\eta^+ \Delta_{t-1}, \Delta_{min}, \Delta_{max}) & s_t > 0 \\
          \operatorname{clip}(\eta^- \Delta_{t-1}, \Delta_{min}, \Delta_{max}) & s_t < 0 \\
          \Delta_{t-1} & s_t = 0
        \end{cases}, \qquad
        u_t = \begin{cases} 0 & s_t < 0 \\ \Delta_t \operatorname{sign}(g_t) & \text{otherwise} \end{cases}

    with :math:`\Delta_0` the learning rate. After a sign change the step is
    skipped (and the next one compares with 0), as in Rprop without
    backtracking. The update is ascent-signed: :func:`rprop` negates it.
    optax returns :math:`u_{t-1}` at step :math:`t` instead of :math:`u_t`
    (its first update is 0); here the update of step :math:`t` is :math:`u_t`.

    Args:
      learning_rate: :math:`\Delta_0 \ge 0`, the initial step size.
      eta_minus: :math:`\eta^- \in (0, 1]`, the shrink factor.
      eta_plus: :math:`\eta^+ \ge 1`, the growth factor.
      min_step_size: :math:`\Delta_{min} \ge 0`.
      max_step_size: :math:`\Delta_{max} \ge \Delta_{min}`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByRpropState`.

    References:
      Riedmiller and Braun, 1993, https://doi.org/10.1109/ICNN.1993.298623;
      Igel and Hüsken, 2000, Improving the Rprop learning algorithm (Rprop-)
    """
    _checks.check_non_negative("learning_rate", learning_rate)
    _checks.check_in_range("eta_minus", eta_minus, 0.0, 1.0, low_closed=False)
    _checks.check_in_range("eta_plus", eta_plus, 1.0, float("inf"), high_closed=False)
    _checks.check_non_negative("min_step_size", min_step_size)
    _checks.check_non_negative("max_step_size", max_step_size)
    if isinstance(min_step_size, (int, float)) and isinstance(max_step_size, (int, float)):
        if max_step_size < min_step_size:
            raise ValueError(
                f"`max_step_size` must be >= `min_step_size`, got max_step_size={max_step_size!r}, "
                f"min_step_size={min_step_size!r}"
            )

    def init_fn(params):
        _checks.check_params(params, "scale_by_rprop")
        return ScaleByRpropState(
            step_sizes=_tree.full_like(params, learning_rate), prev_updates=_tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByRpropState, "scale_by_rprop")
        _checks.check_updates(updates, state.step_sizes, "scale_by_rprop")

        def leaf(g, step, prev):
            agree = g * prev
            grown = jnp.where(agree > 0, step * eta_plus, step * eta_minus)
            grown = jnp.clip(grown, _scalar_as(min_step_size, step), _scalar_as(max_step_size, step))
            step = jnp.where(agree == 0, step, grown)
            u = jnp.where(agree < 0, jnp.zeros_like(g), step * jnp.sign(g))
            return u.astype(g.dtype), step, u

        new_updates, steps, prev = _tree.map_unzip(leaf, updates, state.step_sizes, state.prev_updates, num_outputs=3)
        return new_updates, ScaleByRpropState(step_sizes=steps, prev_updates=prev)

    return GradientTransformation(init_fn, update_fn)
