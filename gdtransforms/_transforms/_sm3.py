"""SM3: adaptive scaling with one accumulator per row, column, ... of each leaf."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates
from gdtransforms._core._flat_params import leafwise

__all__ = ["ScaleBySM3State", "scale_by_sm3"]


class ScaleBySM3State(NamedTuple):
    """SM3's per-axis accumulators and momentum.

    ``mu`` holds, per leaf of rank ``k``, a list of ``k`` vectors (one per
    axis, the length of that axis); ``nu`` is the momentum, shaped like the
    params.
    """

    mu: Updates
    nu: Updates


def _axis_zeros(p: Any) -> list[Any]:
    # A scalar leaf gets one scalar accumulator (optax's update fails on scalars).
    if p.ndim == 0:
        return [_tree.zeros_like(p)]
    out = []
    for axis in range(p.ndim):
        shape = (p.shape[axis],)
        abstract = isinstance(p, jax.ShapeDtypeStruct)
        out.append(jax.ShapeDtypeStruct(shape, p.dtype) if abstract else jnp.zeros(shape, p.dtype))
    return out


def scale_by_sm3(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-8,
) -> GradientTransformation:
    r"""SM3-II: a second moment covered by per-axis maxima, plus momentum.

    For a leaf of rank :math:`k \ge 2` with per-axis accumulators
    :math:`\mu^{(a)}` (one entry per index along axis :math:`a`):

    .. math::
        \nu_t(i) = c\, g_t(i)^2 + \beta_2 \min_a \mu^{(a)}_{t-1}(i_a), \qquad
        \mu^{(a)}_t(j) = \max_{i:\, i_a = j} \nu_t(i),

    with :math:`c = 1 - \beta_2`, or 1 when :math:`\beta_2 = 1`; rank-0 and
    rank-1 leaves keep :math:`\nu` itself. Then

    .. math::
        u_t = g_t \cdot \begin{cases} (\nu_t + \epsilon)^{-1/2} & \nu_t > 0 \\
        0 & \text{else} \end{cases}, \qquad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) u_t,

    and the output is :math:`m_t`. Memory: the sum of a leaf's axis lengths
    (plus the momentum), not its size.

    Args:
      b1: :math:`\beta_1`, the momentum, in [0, 1).
      b2: :math:`\beta_2`, the accumulator's decay, in [0, 1].
      eps: :math:`\epsilon \ge 0`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleBySM3State`.

    References:
      Anil et al., 2019, https://arxiv.org/abs/1901.11150
    """
    _checks.check_decay("b1", b1)
    _checks.check_in_range("b2", b2, 0.0, 1.0)
    _checks.check_non_negative("eps", eps)
    if isinstance(b2, (int, float)):
        coeff = 1.0 if b2 == 1.0 else 1.0 - b2
    else:  # An array or an injected value: decide when the step runs.
        coeff = None

    def init_fn(params):
        _checks.check_params(params, "scale_by_sm3")
        if any(jnp.iscomplexobj(x) for x in jax.tree.leaves(params)):
            raise TypeError("scale_by_sm3.init: complex params are not supported")
        mu = jax.tree.map(_axis_zeros, params)
        return ScaleBySM3State(mu=mu, nu=_tree.zeros_like(params))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleBySM3State, "scale_by_sm3")
        _checks.check_updates(updates, state.nu, "scale_by_sm3")
        c = coeff if coeff is not None else jnp.where(jnp.asarray(b2 == 1.0), 1.0, 1.0 - jnp.asarray(b2 * 1.0))

        def leaf(g, mu, nu):
            if g.ndim < 2:
                acc = c * g**2 + b2 * mu[0]
                new_mu = [acc]
            else:
                # Each axis' accumulator broadcast along that axis; the minimum covers (i_1, ..., i_k).
                spread = [jnp.reshape(m, [1] * a + [g.shape[a]] + [1] * (g.ndim - a - 1)) for a, m in enumerate(mu)]
                acc = c * g**2 + b2 * functools.reduce(jnp.minimum, spread)
                new_mu = [jnp.max(acc, axis=tuple(i for i in range(g.ndim) if i != a)) for a in range(g.ndim)]
            scaled = g * jnp.where(acc > 0, jax.lax.rsqrt(acc + eps), 0.0)
            new_nu = (1 - b1) * scaled + b1 * nu
            return new_nu, new_mu

        leaves, treedef = jax.tree.flatten(updates)
        # mu holds a list per leaf: flatten it only down to the params' leaves.
        rows = zip(leaves, treedef.flatten_up_to(state.mu), treedef.flatten_up_to(state.nu))
        nu, mu = zip(*(leaf(*row) for row in rows)) if leaves else ((), ())
        return treedef.unflatten(nu), ScaleBySM3State(mu=treedef.unflatten(mu), nu=treedef.unflatten(nu))

    # Per-axis statistics: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))
