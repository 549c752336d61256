"""Sign-based and layer-wise scaling: Lion and LAMB's trust ratio."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates, init_empty_state, require_params
from gdtransforms._core._flat_params import leafwise

__all__ = ["ScaleByLionState", "scale_by_lion", "scale_by_trust_ratio"]


class ScaleByLionState(NamedTuple):
    """Lion's step count and momentum."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates


def scale_by_lion(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.99,
    mu_dtype: Any | None = None,
    *,
    mode: Literal["hard", "smooth", "refined"] = "hard",
    smooth_beta: float = 1.0,
) -> GradientTransformation:
    r"""Lion: the sign of an interpolation of momentum and gradient.

    .. math::
        u_t = \operatorname{sign}(\beta_1 m_{t-1} + (1 - \beta_1) g_t), \qquad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t

    ``mode="smooth"`` uses :math:`\tanh(\text{smooth\_beta}\cdot x)` and
    ``"refined"`` is linear inside [-1, 1], the sign outside.

    Args:
      b1: :math:`\beta_1`, in [0, 1).
      b2: :math:`\beta_2`, in [0, 1).
      mu_dtype: optional dtype of the momentum.
      mode: ``"hard"``, ``"smooth"`` or ``"refined"``.
      smooth_beta: the sharpness of ``"smooth"``.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByLionState`.

    References:
      Chen et al., 2023, https://arxiv.org/abs/2302.06675
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)
    signs = {
        "hard": jnp.sign,
        "smooth": lambda x: jnp.tanh(smooth_beta * x),
        "refined": lambda x: jnp.where(jnp.abs(x) < 1.0, x, jnp.sign(x)),
    }
    # As in optax, an unknown mode raises when the update runs (still at trace time under jit).
    sign = signs.get(mode)

    def init_fn(params):
        _checks.check_params(params, "scale_by_lion")
        return ScaleByLionState(count=jnp.zeros([], jnp.int32), mu=_tree.zeros_like(params, mu_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByLionState, "scale_by_lion")
        _checks.check_updates(updates, state.mu, "scale_by_lion")
        if sign is None:
            _checks.check_choice("mode", mode, signs, where="scale_by_lion")

        def leaf(g, mu):
            u = sign((1.0 - b1) * g + b1 * mu)
            new_mu = (1 - b2) * g + b2 * mu
            new_mu = new_mu if mu_dtype is None else new_mu.astype(mu_dtype)
            return u.astype(_tree.update_dtype(g.dtype, mu.dtype)), new_mu

        updates, mu = _tree.map_unzip(leaf, updates, state.mu, num_outputs=2)
        return updates, ScaleByLionState(count=_tree.safe_increment(state.count), mu=mu)

    return GradientTransformation(init_fn, update_fn)


def _safe_norm(x: jax.Array, min_norm: jax.typing.ArrayLike) -> jax.Array:
    """``max(||x||, min_norm)`` with a gradient that is finite at zero."""
    norm = jnp.linalg.norm(x)
    x = jnp.where(norm <= min_norm, jnp.ones_like(x), x)
    # min_norm as a scalar of the norm's dtype (an injected hyperparameter is
    # not an array jnp.where takes; multiplying by one is exact).
    return jnp.where(norm <= min_norm, min_norm * jnp.ones([], norm.dtype), jnp.linalg.norm(x))


def scale_by_trust_ratio(
    min_norm: jax.typing.ArrayLike = 0.0,
    trust_coefficient: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
    r"""LAMB/LARS layer-wise scaling by the ratio of parameter to update norms.

    .. math:: u \leftarrow u \cdot \frac{c\,\|\theta\|}{\|u\| + \epsilon}

    per leaf, and :math:`u` unchanged where either norm is zero.

    Args:
      min_norm: norms below this are raised to it (>= 0).
      trust_coefficient: :math:`c \ge 0`.
      eps: :math:`\epsilon \ge 0`.

    Returns:
      A stateless :class:`GradientTransformation` that needs ``params``.

    References:
      You et al., 2020, https://arxiv.org/abs/1904.00962
    """
    _checks.check_non_negative("min_norm", min_norm)
    _checks.check_non_negative("trust_coefficient", trust_coefficient)
    _checks.check_non_negative("eps", eps)

    def scale_leaf(update, param):
        param_norm, update_norm = _safe_norm(param, min_norm), _safe_norm(update, min_norm)
        ratio = trust_coefficient * param_norm / (update_norm + eps)
        zero = jnp.logical_or(param_norm == 0.0, update_norm == 0.0)
        return update * jnp.where(zero, jnp.array(1.0, dtype=param.dtype), ratio)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_same_structure(
            params,
            updates,
            reference_name="params",
            tree_name="updates",
            where="scale_by_trust_ratio.update",
        )
        return jax.tree.map(scale_leaf, updates, params), state

    # Per-leaf norms: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_empty_state, update_fn))
