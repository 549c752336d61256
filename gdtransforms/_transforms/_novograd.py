"""NovoGrad: a second moment per layer, from the gradient's norm."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates, require_params
from gdtransforms._core._flat_params import leafwise

__all__ = ["ScaleByNovogradState", "scale_by_novograd"]


class ScaleByNovogradState(NamedTuple):
    """NovoGrad's step count, momentum and per-leaf second moment (a scalar each)."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates
    nu: Updates


def scale_by_novograd(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""NovoGrad's scaling: gradients normalised layer by layer, then momentum.

    For each leaf (layer) :math:`l`, with :math:`\|g^l_t\|` its l2 norm:

    .. math::
        v^l_t = \begin{cases} \|g^l_1\|^2 & t = 1 \\
            \beta_2 v^l_{t-1} + (1 - \beta_2) \|g^l_t\|^2 & t > 1 \end{cases}, \\
        m^l_t = \beta_1 m^l_{t-1} + \frac{g^l_t}{\sqrt{v^l_t + \epsilon_{root}} + \epsilon} + \lambda \theta^l_t
        \ (m^l_0 = 0), \qquad u^l_t = m^l_t

    The second moment is one number per layer, so the state is about the
    size of the momentum alone. In float16 the denominator is computed in
    float32 (a zero gradient gives a zero step, not NaN). On flat buffers the
    norms are taken leaf by leaf.

    Args:
      b1: :math:`\beta_1`, the momentum, in [0, 1).
      b2: :math:`\beta_2`, the decay of the squared norms, in [0, 1).
      eps: :math:`\epsilon \ge 0`, added outside the root.
      eps_root: :math:`\epsilon_{root} \ge 0`, added inside the root.
      weight_decay: :math:`\lambda \ge 0`, added inside the momentum.
      mu_dtype: optional dtype of the momentum.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ScaleByNovogradState`; its ``update`` needs ``params``.

    References:
      Ginsburg et al., 2019, https://arxiv.org/abs/1905.11286
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_eps_pair(eps, eps_root)
    _checks.check_non_negative("weight_decay", weight_decay)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        _checks.check_params(params, "scale_by_novograd")
        return ScaleByNovogradState(
            count=jnp.zeros([], jnp.int32),
            mu=_tree.zeros_like(params, mu_dtype),
            nu=jax.tree.map(lambda p: jnp.zeros([], jnp.result_type(p)), params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, ScaleByNovogradState, "scale_by_novograd")
        _checks.check_updates(updates, state.mu, "scale_by_novograd")
        count = _tree.safe_increment(state.count)
        first = count == 1

        def leaf(g, p, mu, nu):
            # The sum of squares itself (optax squares the root of it): XLA
            # simplifies sqrt(x)^2 to x in some programs and not in others, so
            # the root would make results depend on how the step was compiled.
            norm_sq = jnp.sum(_tree.abs_sq(g)).astype(nu.dtype)
            nu = jnp.where(first, norm_sq, (1 - b2) * norm_sq + b2 * nu)
            step = g / (jnp.sqrt(_tree.widen_f16(nu) + eps_root) + eps)
            step = step.astype(g.dtype) + weight_decay * p
            # b1 * 0 at the first step: the momentum starts from the step itself.
            mu = (b1 * (1 - first).astype(mu.dtype)) * mu + step
            mu = mu if mu_dtype is None else mu.astype(mu_dtype)
            return mu.astype(_tree.update_dtype(g.dtype, mu.dtype)), mu, nu

        new_updates, mu, nu = _tree.map_unzip(leaf, updates, params, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByNovogradState(count=count, mu=mu, nu=nu)

    # Per-leaf norms: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))
