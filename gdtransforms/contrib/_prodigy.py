"""Prodigy: D-Adaptation with a faster-growing estimate of the distance to the solution."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule, Updates, require_params
from gdtransforms.contrib._common import tree_l1, tree_vdot, wider_scalar_dtype
from gdtransforms.contrib._dadapt import check_betas

__all__ = ["ProdigyState", "prodigy"]


class ProdigyState(NamedTuple):
    """Adam's moments, the weighted gradient sum, the start point and the estimate ``d``."""

    exp_avg: Updates
    exp_avg_sq: Updates
    grad_sum: Updates
    params0: Updates
    estim_lr: jax.Array  # scalar, float32 or wider (stable across steps)
    numerator_weighted: jax.Array  # scalar, float32 or wider (stable across steps)
    count: jax.Array  # type: ignore[assignment]  # int32 scalar


def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    beta3: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    estim_lr_coef: jax.typing.ArrayLike = 1.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    r"""Adam on :math:`d_t g_t` with the step :math:`d_t` estimated as in Prodigy.

    With :math:`\gamma_t` the learning rate, :math:`d_t` the estimate and
    :math:`\lambda_t = d_t \gamma_t \sqrt{1 - \beta_2^{t}} / (1 - \beta_1^{t})`:

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) d_t g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) d_t^2 g_t^2, \\
        r_t = \beta_3 r_{t-1} + \frac{d_t}{d_0} \lambda_t \langle g_t, \theta_0 - \theta_t \rangle, \quad
        s_t = \beta_3 s_{t-1} + \frac{\lambda_t}{d_0} d_t g_t, \\
        d_{t+1} = \max\!\left(d_t, c\, \frac{r_t}{\|s_t\|_1}\right), \qquad
        u_t = -\lambda_t \left(\frac{m_t}{\sqrt{v_t} + d_{t+1} \epsilon} + w\, \theta_t\right)

    with :math:`d_0 = d_1 =` ``estim_lr0``, :math:`c` = ``estim_lr_coef``
    and :math:`\beta_3 = \sqrt{\beta_2}` by default. ``safeguard_warmup``
    uses :math:`d_t` in place of :math:`\lambda_t` in :math:`s_t` (for
    warm-up schedules). The scalars :math:`d, r` are kept in float32 (or
    wider), whatever the params' dtypes: optax keeps them in the params' least
    precise dtype at ``init`` and float32 after a step, so its jitted step
    retraces and ``lax.scan`` refuses the carry (docs/DIFFERENCES.md).

    Args:
      learning_rate: :math:`\gamma`, a multiplier of the estimated step (keep it
        1), or a schedule.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      beta3: :math:`\beta_3` in [0, 1), or ``None`` for :math:`\sqrt{\beta_2}`.
      eps: :math:`\epsilon > 0`.
      estim_lr0: :math:`d_0 > 0`.
      estim_lr_coef: :math:`c > 0`, a multiplier of the estimate.
      weight_decay: :math:`w \ge 0`, decoupled.
      safeguard_warmup: leave the learning rate out of :math:`s_t`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ProdigyState`;
      it needs ``params``.

    References:
      Mishchenko and Defazio, 2023, Prodigy: An Expeditiously Adaptive
      Parameter-Free Learner, https://arxiv.org/abs/2306.06101

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.prodigy()
      >>> params = jnp.array([1.0, -2.0])
      >>> updates, state = opt.update(params, opt.init(params), params)
      >>> [round(float(u) * 1e6, 4) for u in updates]  # the first step is -estim_lr0 * sign(g)
      [-1.0, 1.0]
    """
    _checks.check_rate("learning_rate", learning_rate)
    check_betas(betas)
    if beta3 is not None:
        _checks.check_decay("beta3", beta3)
    _checks.check_positive("eps", eps)
    _checks.check_positive("estim_lr0", estim_lr0)
    _checks.check_positive("estim_lr_coef", estim_lr_coef)
    _checks.check_non_negative("weight_decay", weight_decay)
    beta1, beta2 = betas
    if beta3 is None:
        beta3 = beta2**0.5

    def init_fn(params):
        _checks.check_params(params, "prodigy")
        dtype = wider_scalar_dtype(params)
        return ProdigyState(
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
            grad_sum=_tree.zeros_like(params),
            params0=params,
            estim_lr=jnp.asarray(estim_lr0, dtype=dtype),
            numerator_weighted=jnp.zeros([], dtype=dtype),
            count=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, ProdigyState, "prodigy")
        _checks.check_updates(updates, state.exp_avg, "prodigy")
        rate = learning_rate(state.count) if callable(learning_rate) else learning_rate
        count = _tree.safe_increment(state.count)
        d = state.estim_lr
        correction = ((1 - beta2**count) ** 0.5) / (1 - beta1**count)
        step = jnp.asarray(d * rate * correction, dtype=d.dtype)
        inner = tree_vdot(updates, jax.tree.map(lambda p0, p: p0 - p, state.params0, params))
        sum_weight = d if safeguard_warmup else step

        def leaf(g, m0, v0, s0):
            # Each moment keeps its init dtype (a float32 d must not promote a bfloat16 leaf's).
            dg = d * g
            m = (beta1 * m0 + (1 - beta1) * dg).astype(m0.dtype)
            v = (beta2 * v0 + (1 - beta2) * dg * dg).astype(v0.dtype)
            s = (beta3 * s0 + sum_weight * dg / estim_lr0).astype(s0.dtype)
            return m, v, s

        m, v, s = _tree.map_unzip(leaf, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum, num_outputs=3)
        numerator = beta3 * state.numerator_weighted
        numerator = numerator + (d / estim_lr0) * step * inner
        new_d = jnp.maximum(d, estim_lr_coef * numerator / tree_l1(s))
        new_updates = jax.tree.map(
            lambda m_, v_, p: -weight_decay * step * p - step * m_ / (jnp.sqrt(v_) + new_d * eps), m, v, params
        )
        new_updates = _tree.cast_like(new_updates, updates)  # the float32 d must not promote a bfloat16 update
        return new_updates, ProdigyState(
            exp_avg=m,
            exp_avg_sq=v,
            grad_sum=s,
            params0=state.params0,
            estim_lr=new_d,
            numerator_weighted=numerator,
            count=count,
        )

    return GradientTransformation(init_fn, update_fn)
