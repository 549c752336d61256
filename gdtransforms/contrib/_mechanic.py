"""Mechanic: learns a scale for any base optimizer's steps by online betting."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, OptState, Updates, require_params, with_extra_args_support
from gdtransforms.contrib._common import tree_sq_norm, tree_vdot, wider_scalar_dtype

__all__ = ["MechanicState", "mechanize"]


class MechanicState(NamedTuple):
    """The base optimizer's state, the step count, the betting statistics and the start point."""

    base_optimizer_state: OptState
    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    r: jax.Array  # (num_betas,): rewards
    m: jax.Array  # (num_betas,): running max of |h|
    v: jax.Array  # (num_betas,): running sum of h^2
    s: jax.Array  # (num_betas,): the bets, summed into the scale
    x0: Updates


def mechanize(
    base_optimizer: GradientTransformation,
    weight_decay: jax.typing.ArrayLike = 1e-2,
    eps: jax.typing.ArrayLike = 1e-8,
    s_init: jax.typing.ArrayLike = 1e-6,
    num_betas: int = 6,
) -> GradientTransformation:
    r"""Wraps ``base_optimizer`` so its summed steps :math:`\Delta_t` are scaled by a learned :math:`s_t`.

    The params are :math:`\theta_t = \theta_0 + s_t \Delta_t`, with
    :math:`\Delta_t` the sum of the base optimizer's updates. For each of
    :math:`n` decays :math:`\beta_j = 1 - 10^{-j}`, with
    :math:`S = \sum_j s_{j}` and :math:`\tilde g_t = g_t + w\, S\, \|g_t\| \theta_t / (\|\theta_t\| + \epsilon)`:

    .. math::
        h_t = \left\langle \tilde g_t, \frac{\theta_0 - \theta_t}{S + \epsilon} \right\rangle, \quad
        m_{j} \leftarrow \max(\beta_j m_{j}, |h_t| + \epsilon), \quad
        v_{j} \leftarrow \beta_j^2 v_{j} + h_t^2, \\
        r_{j} \leftarrow \beta_j r_{j} + \operatorname{clip}_{[-m_j, m_j]}(h_t)\, s_{j}, \quad
        s_{j} \leftarrow \frac{(s_{init}/n)\, m_j + \max(r_j, 0)}{\sqrt{v_j} + \epsilon}

    (the clip uses :math:`m_j` before its update). Extra arguments of
    ``update`` (such as ``value=``) reach the base optimizer. The statistics
    :math:`r, m, v, s` are float32 (or wider): optax keeps them in the params'
    least precise dtype, and fails on a tree with bfloat16 and float32 leaves
    (docs/DIFFERENCES.md, "mechanize").

    Args:
      base_optimizer: the optimizer whose steps are scaled.
      weight_decay: :math:`w \ge 0`.
      eps: :math:`\epsilon > 0`.
      s_init: :math:`s_{init} > 0`, the initial scale of every bet.
      num_betas: :math:`n \ge 1`, the number of decays.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`MechanicState`;
      it needs ``params``.

    References:
      Cutkosky, Defazio and Mehta, 2023, Mechanic: A Learning Rate Tuner,
      https://arxiv.org/abs/2306.00144

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.mechanize(gdt.sgd(1.0))
      >>> params = jnp.zeros(2)
      >>> updates, state = opt.update(jnp.array([1.0, 2.0]), opt.init(params), params)
      >>> updates  # h = 0 on the first step, so the scale is s_init: -s_init * g
      Array([-1.e-06, -2.e-06], dtype=float32)
    """
    _checks.check_non_negative("weight_decay", weight_decay)
    _checks.check_positive("eps", eps)
    _checks.check_positive("s_init", s_init)
    _checks.check_int_at_least("num_betas", num_betas, 1, where="mechanize")
    base = with_extra_args_support(base_optimizer)

    def init_fn(params):
        _checks.check_params(params, "mechanize")
        dtype = wider_scalar_dtype(params)
        return MechanicState(
            base_optimizer_state=base.init(params),
            count=jnp.zeros([], jnp.int32),
            r=jnp.zeros([num_betas], dtype),
            m=jnp.zeros([num_betas], dtype),
            v=jnp.zeros([num_betas], dtype),
            s=jnp.ones([num_betas], dtype) * s_init,
            x0=params,
        )

    def update_fn(updates, state, params=None, **extra_args: Any):
        params = require_params(params)
        _checks.check_state(state, MechanicState, "mechanize")
        _checks.check_trees_match(
            state.x0, updates, reference_name="the params the state was built from", tree_name="updates",
            where="mechanize.update",
        )  # fmt: skip
        base_updates, base_state = base.update(updates, state.base_optimizer_state, params, **extra_args)
        x0 = jax.lax.cond(state.count == 0, lambda: params, lambda: state.x0)
        scale = jnp.sum(state.s)
        grad_norm = jnp.sqrt(tree_sq_norm(updates))
        param_norm = jnp.sqrt(tree_sq_norm(params))
        decayed = jax.tree.map(
            lambda g, p: g + weight_decay * scale * grad_norm / (param_norm + eps) * p, updates, params
        )
        delta_prev = jax.tree.map(lambda p, p0: (p0 - p) / (scale + eps), params, x0)
        delta = jax.tree.map(lambda d, u: d - u, delta_prev, base_updates)
        h = tree_vdot(decayed, delta_prev)
        clipped = jax.lax.clamp(-state.m, jnp.ones_like(state.m) * h, state.m)
        betas = jnp.array([1.0 - 0.1**j for j in range(1, num_betas + 1)], dtype=state.s.dtype)
        m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
        v = (betas**2) * state.v + h**2
        r = betas * state.r + clipped * state.s
        s = ((s_init / num_betas) * m + jnp.maximum(0.0, r)) / (jnp.sqrt(v) + eps)
        total = jnp.sum(s)
        new_updates = jax.tree.map(lambda p0, d, p: (p0 - total * d) - p, x0, delta, params)
        new_updates = _tree.cast_like(new_updates, updates)  # float32 statistics must not promote a bfloat16 update
        return new_updates, MechanicState(
            base_optimizer_state=base_state, count=_tree.safe_increment(state.count),
            r=r, m=m, v=v, s=s, x0=x0,  # type: ignore[arg-type]
        )  # fmt: skip

    return GradientTransformation(init_fn, update_fn)
