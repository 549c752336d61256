"""Sign-based and layer-wise optimizers: signSGD, Signum, Rprop, Fromage, LARS.

Each one only a ``chain`` of primitives, with no math of its own. Every
example below runs as written (the test suite runs them as doctests).
"""

from __future__ import annotations

from typing import Any

import jax

from gdtransforms._core import _checks
from gdtransforms._core._base import GradientTransformation, MaskOrFn, ScalarOrSchedule
from gdtransforms._core._combine import chain
from gdtransforms._transforms._accumulation import ema, trace
from gdtransforms._transforms._masking import masked
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._rescale import add_scaled_params
from gdtransforms._transforms._scale import scale, scale_by_learning_rate
from gdtransforms._transforms._sign import scale_by_trust_ratio
from gdtransforms._transforms._sign_based import scale_by_rprop, scale_by_sign

__all__ = ["fromage", "lars", "rprop", "sign_sgd", "signum"]

ArrayLike = jax.typing.ArrayLike


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""signSGD: a step of fixed size against each gradient element's sign.

    .. math:: \theta \leftarrow \theta - \eta\, \operatorname{sign}(g)

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.sign_sgd(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([3.0, -0.01, 0.0]), opt.init(jnp.zeros(3)))
      >>> updates
      Array([-0.1,  0.1, -0. ], dtype=float32)

    References:
      Bernstein et al., 2018, https://arxiv.org/abs/1802.04434
    """
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(
    learning_rate: ScalarOrSchedule,
    beta: ArrayLike = 0.9,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Signum: signSGD on an exponential moving average of the gradients.

    .. math:: m \leftarrow \beta m + (1 - \beta) g, \qquad \theta \leftarrow \theta - \eta\, \operatorname{sign}(m)

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      beta: :math:`\beta` in [0, 1).
      accumulator_dtype: optional dtype of :math:`m`.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.signum(learning_rate=0.1)
      >>> state = opt.init(jnp.zeros(1))
      >>> for g in [4.0, -1.0]:  # m: 0.4, then 0.9 * 0.4 - 0.1 = 0.26 > 0
      ...     updates, state = opt.update(jnp.array([g]), state)
      >>> updates
      Array([-0.1], dtype=float32)

    References:
      Bernstein et al., 2018, https://arxiv.org/abs/1802.04434
    """
    _checks.check_decay("beta", beta)
    return chain(
        ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )


def rprop(
    learning_rate: ArrayLike,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step_size: ArrayLike = 1e-6,
    max_step_size: ArrayLike = 50.0,
) -> GradientTransformation:
    r"""Rprop: per-element step sizes adapted by sign agreement (:func:`scale_by_rprop`).

    .. math:: \theta \leftarrow \theta - \Delta \operatorname{sign}(g)

    with :math:`\Delta` multiplied by :math:`\eta^+` while the gradient's sign
    holds and by :math:`\eta^-` when it flips (that step is then skipped).
    Meant for full-batch training. Unlike optax's, the step taken at step
    :math:`t` uses :math:`g_t` (optax's lags one step and starts with 0).

    Args:
      learning_rate: :math:`\Delta_0 \ge 0`, the initial step size.
      eta_minus: :math:`\eta^- \in (0, 1]`.
      eta_plus: :math:`\eta^+ \ge 1`.
      min_step_size: the smallest :math:`\Delta`.
      max_step_size: the largest :math:`\Delta`.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.rprop(learning_rate=0.1)
      >>> state = opt.init(jnp.zeros(1))
      >>> steps = []
      >>> for g in [1.0, 1.0, -1.0, -1.0]:
      ...     updates, state = opt.update(jnp.array([g]), state)
      ...     steps.append(round(float(updates[0]), 4) + 0.0)
      >>> steps  # grows by 1.2, skips at the sign flip, resumes at half
      [-0.1, -0.12, 0.0, 0.06]

    References:
      Riedmiller and Braun, 1993, https://doi.org/10.1109/ICNN.1993.298623
    """
    return chain(
        scale_by_rprop(
            learning_rate=learning_rate,
            eta_minus=eta_minus,
            eta_plus=eta_plus,
            min_step_size=min_step_size,
            max_step_size=max_step_size,
        ),
        scale(-1.0),
    )


def fromage(learning_rate: ScalarOrSchedule, min_norm: ArrayLike = 1e-6) -> GradientTransformation:
    r"""Fromage: a step of relative size :math:`\eta` per layer, then a rescale.

    .. math:: \theta \leftarrow \frac{1}{\sqrt{1 + \eta^2}}
        \left(\theta - \eta\, \frac{\|\theta\|}{\|g\|}\, g\right)

    per leaf. The rescale undoes the norm growth the step would cause, so
    weights neither blow up nor vanish.

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      min_norm: norms below this are raised to it (>= 0).

    Returns:
      A :class:`GradientTransformation`; its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.fromage(learning_rate=0.1)
      >>> w = jnp.array([3.0, 4.0])
      >>> updates, _ = opt.update(jnp.array([0.0, 1.0]), opt.init(w), w)
      >>> new_w = gdt.apply_updates(w, updates)  # (w - 0.1 * 5 * [0, 1]) / sqrt(1.01)
      >>> [round(float(x), 4) for x in new_w]
      [2.9851, 3.4826]

    References:
      Bernstein et al., 2020, https://arxiv.org/abs/2002.03432
    """
    _checks.check_rate("learning_rate", learning_rate)
    if callable(learning_rate):
        shrink = lambda count: 1 / (1 + learning_rate(count) ** 2) ** 0.5  # noqa: E731
        return chain(
            scale_by_trust_ratio(min_norm),
            scale_by_learning_rate(lambda count: shrink(count) * learning_rate(count)),
            add_scaled_params(lambda count: shrink(count) - 1),
        )
    factor = 1 / (1 + learning_rate**2) ** 0.5
    return chain(
        scale_by_trust_ratio(min_norm),
        scale_by_learning_rate(learning_rate * factor),
        add_scaled_params(factor - 1),
    )


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: ArrayLike = 0.001,
    eps: ArrayLike = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: ArrayLike = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""LARS: SGD with momentum on layer-wise trust-ratio-scaled gradients.

    .. math::
        d = g + \lambda \theta, \quad
        v \leftarrow \mu v - \eta\, \frac{c\, \|\theta\|}{\|d\| + \epsilon}\, d, \quad
        \theta \leftarrow \theta + v

    per leaf (the ratio is 1 where either norm is 0).

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      weight_decay: :math:`\lambda \ge 0`.
      weight_decay_mask: which leaves to decay (``True``: all).
      trust_coefficient: :math:`c \ge 0`.
      eps: :math:`\epsilon \ge 0`.
      trust_ratio_mask: which leaves get the trust ratio (``True``: all).
      momentum: :math:`\mu` in [0, 1).
      nesterov: Nesterov momentum.

    Returns:
      A :class:`GradientTransformation`; its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.lars(learning_rate=1.0, trust_coefficient=0.1)
      >>> w = jnp.array([3.0, 4.0])
      >>> updates, _ = opt.update(jnp.array([0.0, 2.0]), opt.init(w), w)
      >>> updates  # -1.0 * 0.1 * ||w|| / ||g|| * g
      Array([ 0. , -0.5], dtype=float32)

    References:
      You et al., 2017, https://arxiv.org/abs/1708.03888
    """
    _checks.check_decay("momentum", momentum)
    return chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        masked(scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps), mask=trust_ratio_mask),
        scale_by_learning_rate(learning_rate),
        trace(decay=momentum, nesterov=nesterov),
    )
