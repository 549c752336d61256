"""AdEMAMix and its simplified form: Adam with a second, much slower momentum."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, MaskOrFn, ScalarOrSchedule, Updates
from gdtransforms._core._combine import chain
from gdtransforms._core._moments import bias_correction_factor
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate

__all__ = [
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "ademamix",
    "scale_by_ademamix",
    "scale_by_simplified_ademamix",
    "simplified_ademamix",
]


class ScaleByAdemamixState(NamedTuple):
    """Step counts, the fast and slow first moments and the second moment."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    count_m2: jax.Array  # int32 scalar: the step of the slow moment's schedules
    m1: Updates
    m2: Updates
    nu: Updates


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
    """The step count, the (undamped) momentum and the second moment."""

    t: jax.Array  # int32 scalar
    m: Updates
    n: Updates


def _at(value: Any, count: jax.Array) -> Any:
    return value(count) if callable(value) else value


def scale_by_ademamix(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Mixes a fast bias-corrected EMA and a slow raw EMA of the gradients, over Adam's root.

    .. math::
        m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1 - \beta_1) g_t, \quad
        m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1 - \beta_3) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        u_t = \frac{m^{(1)}_t / (1 - \beta_1^t) + \alpha\, m^{(2)}_t}
                   {\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{root}} + \epsilon}

    :math:`\beta_3` and :math:`\alpha` may be schedules (the paper warms both up).

    Args:
      b1: :math:`\beta_1` in [0, 1), the fast EMA's decay.
      b2: :math:`\beta_2` in [0, 1), the second moment's decay.
      b3: :math:`\beta_3` in [0, 1), the slow EMA's decay, or a schedule.
      alpha: :math:`\alpha \ge 0`, the slow EMA's weight, or a schedule.
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.
      mu_dtype: optional dtype of all three moments.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByAdemamixState`.

    References:
      Pagliardini et al., 2024, The AdEMAMix Optimizer: Better, Faster, Older,
      https://arxiv.org/abs/2409.03137
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_decay("b3", b3, schedule=True)
    _checks.check_non_negative("alpha", alpha, schedule=True)
    _checks.check_eps_pair(eps, eps_root)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        _checks.check_params(params, "scale_by_ademamix")
        zero = jnp.zeros([], jnp.int32)
        return ScaleByAdemamixState(
            count=zero,
            count_m2=zero,
            m1=_tree.zeros_like(params, mu_dtype),
            m2=_tree.zeros_like(params, mu_dtype),
            nu=_tree.zeros_like(params, mu_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAdemamixState, "scale_by_ademamix")
        _checks.check_updates(updates, state.m1, "scale_by_ademamix")
        b3_t, alpha_t = _at(b3, state.count_m2), _at(alpha, state.count_m2)
        count = _tree.safe_increment(state.count)
        correction1, correction2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)

        def leaf(g, m1, m2, nu):
            m1 = (1 - b1) * g + b1 * m1
            m2 = (1 - b3_t) * g + b3_t * m2
            nu = (1 - b2) * (g**2) + b2 * nu
            m1_hat = m1 / correction1.astype(m1.dtype)
            nu_hat = nu / correction2.astype(nu.dtype)
            return (m1_hat + alpha_t * m2) / (jnp.sqrt(nu_hat + eps_root) + eps), m1, m2, nu

        updates, m1, m2, nu = _tree.map_unzip(leaf, updates, state.m1, state.m2, state.nu, num_outputs=4)
        return updates, ScaleByAdemamixState(
            count=count, count_m2=_tree.safe_increment(state.count_m2), m1=m1, m2=m2, nu=nu
        )

    return GradientTransformation(init_fn, update_fn)


def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""AdEMAMix: :func:`scale_by_ademamix`, decoupled weight decay, then the learning rate.

    .. math:: \theta_t = \theta_{t-1} - \eta_t \left(u_t + \lambda\, \theta_{t-1}\right)

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      b3: :math:`\beta_3` in [0, 1), or a schedule.
      alpha: :math:`\alpha \ge 0`, or a schedule (note the default 5, not
        :func:`scale_by_ademamix`'s 6, as in optax).
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.
      mu_dtype: optional dtype of the moments.
      weight_decay: :math:`\lambda \ge 0`.
      mask: a tree of bools (or a function of params) choosing the leaves to decay.

    Returns:
      A :class:`GradientTransformation`.

    References:
      Pagliardini et al., 2024, https://arxiv.org/abs/2409.03137

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.ademamix(learning_rate=0.1, alpha=5.0, b3=0.5)
      >>> params = jnp.zeros(1)
      >>> updates, _ = opt.update(jnp.array([3.0]), opt.init(params), params)
      >>> round(float(updates[0]), 4)  # -(1 + alpha (1 - b3)) * lr * sign(g)
      -0.35
    """
    return chain(
        scale_by_ademamix(b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def scale_by_simplified_ademamix(
    b1: jax.typing.ArrayLike = 0.99,
    b2: jax.typing.ArrayLike = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
    r"""One accumulated momentum plus a share of the current gradient, over Adam's root.

    .. math::
        m_t = \beta_1 m_{t-1} + g_t, \qquad
        n_t = \beta_2 n_{t-1} + (1 - \beta_2) g_t^2, \qquad
        u_t = \frac{m_t + \alpha\, g_t}{\sqrt{n_t / (1 - \beta_2^t) + \epsilon_{root}} + \epsilon}

    The momentum is a sum, not an average (its weights add up to
    :math:`1 / (1 - \beta_1)`); ``alpha`` may be a schedule.

    Args:
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      alpha: :math:`\alpha \ge 0`, or a schedule.
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleBySimplifiedAdEMAMixState`.

    References:
      Morwani et al., 2024, Connections between Schedule-Free Optimizers,
      AdEMAMix, and Accelerated SGD Variants, https://arxiv.org/abs/2502.02431
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_non_negative("alpha", alpha, schedule=True)
    _checks.check_eps_pair(eps, eps_root)

    def init_fn(params):
        _checks.check_params(params, "scale_by_simplified_ademamix")
        return ScaleBySimplifiedAdEMAMixState(
            t=jnp.zeros([], jnp.int32), m=_tree.zeros_like(params), n=_tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleBySimplifiedAdEMAMixState, "scale_by_simplified_ademamix")
        _checks.check_updates(updates, state.m, "scale_by_simplified_ademamix")
        alpha_t = _at(alpha, state.t)
        t = _tree.safe_increment(state.t)
        correction = bias_correction_factor(b2, t)

        def leaf(g, m, n):
            m = g + b1 * m
            sq = g * g
            n = sq + b2 * (n - sq)  # the interpolation g^2 + b2 (n - g^2)
            n_hat = n / correction.astype(n.dtype)
            return (m + alpha_t * g) / (jnp.sqrt(n_hat + eps_root) + eps), m, n

        updates, m, n = _tree.map_unzip(leaf, updates, state.m, state.n, num_outputs=3)
        return updates, ScaleBySimplifiedAdEMAMixState(t=t, m=m, n=n)

    return GradientTransformation(init_fn, update_fn)


def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.99,
    b2: jax.typing.ArrayLike = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Simplified AdEMAMix: :func:`scale_by_simplified_ademamix`, weight decay, learning rate.

    .. math:: \theta_t = \theta_{t-1} - \eta_t \left(u_t + \lambda\, \theta_{t-1}\right)

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      alpha: :math:`\alpha \ge 0`, or a schedule.
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.
      weight_decay: :math:`\lambda \ge 0`.
      mask: a tree of bools (or a function of params) choosing the leaves to decay.

    Returns:
      A :class:`GradientTransformation`.

    References:
      Morwani et al., 2024, https://arxiv.org/abs/2502.02431

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.simplified_ademamix(learning_rate=0.1, alpha=1.0)
      >>> params = jnp.zeros(1)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(params), params)
      >>> updates  # -lr (g + alpha g) / |g| = -0.2
      Array([-0.2], dtype=float32)
    """
    return chain(
        scale_by_simplified_ademamix(b1=b1, b2=b2, alpha=alpha, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
