"""D-Adaptation AdamW: Adam whose step size estimates the distance to the solution."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule, Updates, require_params
from gdtransforms.contrib._common import tree_l1, tree_vdot, wider_scalar_dtype

__all__ = ["DAdaptAdamWState", "dadapt_adamw"]


class DAdaptAdamWState(NamedTuple):
    """Adam's moments, the weighted gradient sum and the distance estimate ``d``."""

    exp_avg: Updates
    exp_avg_sq: Updates
    grad_sum: Updates
    estim_lr: jax.Array  # scalar, float32 or wider (stable across steps)
    numerator_weighted: jax.Array  # scalar, float32 or wider (stable across steps)
    count: jax.Array  # type: ignore[assignment]  # int32 scalar


def check_betas(betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike]) -> None:
    """``betas`` is a pair of decays in [0, 1)."""
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"`betas` must be a pair (beta1, beta2), got {betas!r}") from None
    _checks.check_decay("betas[0]", b1)
    _checks.check_decay("betas[1]", b2)


def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    weight_decay: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
    r"""AdamW with D-Adaptation's estimate :math:`d` of the distance to the solution.

    With :math:`\hat\beta = \sqrt{\beta_2}`, :math:`\gamma_t` the learning
    rate and :math:`\lambda_t = d_t \gamma_t \sqrt{1 - \beta_2^{t}} / (1 - \beta_1^{t})`:

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) \lambda_t g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
        s_t = \hat\beta s_{t-1} + (1 - \hat\beta) \lambda_t g_t, \\
        r_t = \hat\beta r_{t-1} + (1 - \hat\beta) \lambda_t
              \left\langle g_t, \frac{s_{t-1}}{\sqrt{v_{t-1}} + \epsilon} \right\rangle, \quad
        d_{t+1} = \max\!\left(d_t, \frac{r_t}{(1 - \hat\beta) \|s_t\|_1}\right), \\
        u_t = -\frac{m_t}{\sqrt{v_t} + \epsilon} - \lambda_t\, w\, \theta_t

    starting from :math:`d_1 =` ``estim_lr0``. The scalars :math:`d, r` are
    kept in float32 (or wider), whatever the params' dtypes: optax keeps them
    in the params' least precise dtype at ``init`` and float32 after a step, so
    its jitted step retraces and ``lax.scan`` refuses the carry
    (docs/DIFFERENCES.md).

    Args:
      learning_rate: :math:`\gamma`, a multiplier of the estimated step (keep it
        1), or a schedule.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: :math:`\epsilon > 0`, added to the denominator.
      estim_lr0: :math:`d_1 > 0`, the initial distance estimate.
      weight_decay: :math:`w \ge 0`, decoupled and scaled by :math:`\lambda_t`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`DAdaptAdamWState`;
      it needs ``params``.

    References:
      Defazio and Mishchenko, 2023, Learning-Rate-Free Learning by
      D-Adaptation, https://arxiv.org/abs/2301.07733

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.dadapt_adamw()
      >>> params = jnp.array([1.0, -2.0])
      >>> updates, state = opt.update(params, opt.init(params), params)
      >>> state.estim_lr  # the first step keeps d = estim_lr0
      Array(1.e-06, dtype=float32)
    """
    _checks.check_rate("learning_rate", learning_rate)
    check_betas(betas)
    _checks.check_positive("eps", eps)
    _checks.check_positive("estim_lr0", estim_lr0)
    _checks.check_non_negative("weight_decay", weight_decay)
    beta1, beta2 = betas

    def init_fn(params):
        _checks.check_params(params, "dadapt_adamw")
        dtype = wider_scalar_dtype(params)
        return DAdaptAdamWState(
            exp_avg=_tree.zeros_like(params),
            exp_avg_sq=_tree.zeros_like(params),
            grad_sum=_tree.zeros_like(params),
            estim_lr=jnp.asarray(estim_lr0, dtype=dtype),
            numerator_weighted=jnp.zeros([], dtype=dtype),
            count=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, DAdaptAdamWState, "dadapt_adamw")
        _checks.check_updates(updates, state.exp_avg, "dadapt_adamw")
        root_beta2 = beta2**0.5
        rate = learning_rate(state.count) if callable(learning_rate) else learning_rate
        count = _tree.safe_increment(state.count)
        correction = ((1 - beta2**count) ** 0.5) / (1 - beta1**count)
        step = (state.estim_lr * rate * correction).astype(state.numerator_weighted.dtype)
        # <g_t, s_{t-1} / (sqrt(v_{t-1}) + eps)>, from the state before this step.
        weighted = jax.tree.map(lambda s, v: s / (jnp.sqrt(v) + eps), state.grad_sum, state.exp_avg_sq)
        inner = tree_vdot(updates, weighted)

        def leaf(g, p, m0, v0, s0):
            # Each moment keeps its init dtype (a float32 step must not promote a bfloat16 leaf's).
            m = (beta1 * m0 + (1 - beta1) * step * g).astype(m0.dtype)
            v = (beta2 * v0 + (1 - beta2) * g * g).astype(v0.dtype)
            s = (root_beta2 * s0 + (1 - root_beta2) * step * g).astype(s0.dtype)
            u = -weight_decay * step * p - m / (jnp.sqrt(v) + eps)
            return u.astype(g.dtype), m, v, s  # the float32 step must not promote a bfloat16 update

        new_updates, m, v, s = _tree.map_unzip(
            leaf, updates, params, state.exp_avg, state.exp_avg_sq, state.grad_sum, num_outputs=4
        )
        numerator = root_beta2 * state.numerator_weighted + (1 - root_beta2) * step * inner
        estimate = numerator / ((1 - root_beta2) * tree_l1(s))
        return new_updates, DAdaptAdamWState(
            exp_avg=m,
            exp_avg_sq=v,
            grad_sum=s,
            estim_lr=jnp.maximum(state.estim_lr, estimate),
            numerator_weighted=numerator,
            count=count,
        )

    return GradientTransformation(init_fn, update_fn)
