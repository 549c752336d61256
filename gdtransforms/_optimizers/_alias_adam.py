"""The Adam family of optimizers, and Lion and LAMB.

Each one only a ``chain`` of primitives, with no math of its own. Every
example below runs as written (the test suite runs them as doctests).
"""

from __future__ import annotations

from typing import Any

import jax

from gdtransforms._core._base import GradientTransformation, MaskOrFn, ScalarOrSchedule
from gdtransforms._core._combine import chain
from gdtransforms._transforms._adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate
from gdtransforms._transforms._sign import scale_by_lion, scale_by_trust_ratio

__all__ = [
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "amsgrad",
    "lamb",
    "lion",
    "nadam",
    "nadamw",
]

ArrayLike = jax.typing.ArrayLike


def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Adam (docs/notes.md §7).

    .. math::
        \theta \leftarrow \theta - \alpha \frac{\hat V}{\sqrt{\hat S} + \epsilon}

    with the bias-corrected moments of :func:`scale_by_adam`. Defaults
    :math:`\beta_1 = 0.9, \beta_2 = 0.999, \epsilon = 10^{-8}`; usually only
    :math:`\alpha` is tuned.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon` inside the root (the notes' 004 form).
      mu_dtype: optional dtype of the first moment.
      nesterov: use NAdam's look-ahead first moment.
      nu_dtype: optional dtype of the second moment.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adam(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([5.0, -0.01]), opt.init(jnp.zeros(2)))
      >>> [round(float(u), 4) for u in updates]  # the first step is about -alpha * sign(g)
      [-0.1, 0.1]
    """
    return chain(
        scale_by_adam(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay.

    .. math::
        \theta \leftarrow \theta - \alpha \left(\frac{\hat V}{\sqrt{\hat S} + \epsilon} + \lambda \theta\right)

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon`, inside the root.
      mu_dtype: optional dtype of the first moment.
      weight_decay: :math:`\lambda \ge 0`, a number or a schedule.
      mask: which leaves to decay (a tree of bools or a function of params).
      nesterov: use NAdam's look-ahead first moment.
      nu_dtype: optional dtype of the second moment.

    Returns:
      A :class:`GradientTransformation`; its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adamw(learning_rate=0.1, weight_decay=0.5)
      >>> w = jnp.array([2.0])
      >>> updates, _ = opt.update(jnp.array([1.0]), opt.init(w), w)
      >>> [round(float(u), 4) for u in updates]  # -0.1 * (1 + 0.5 * 2)
      [-0.2]

    References:
      Loshchilov and Hutter, 2019, https://arxiv.org/abs/1711.05101
    """
    return chain(
        scale_by_adam(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            nu_dtype=nu_dtype,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""NAdam: Adam with Nesterov momentum (``adam(..., nesterov=True)``).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.nadam(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([1.0]), opt.init(jnp.zeros(1)))
      >>> updates.shape
      (1,)
    """
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=True)


def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""NAdamW: AdamW with Nesterov momentum (``adamw(..., nesterov=True)``).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.nadamw(learning_rate=0.1)
      >>> w = jnp.ones(1)
      >>> updates, _ = opt.update(jnp.array([1.0]), opt.init(w), w)
      >>> updates.shape
      (1,)
    """
    return adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov=True)


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> GradientTransformation:
    r"""AMSGrad: Adam whose second moment never decreases (:func:`scale_by_amsgrad`).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.amsgrad(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
      >>> [round(float(u), 4) for u in updates]
      [-0.1]
    """
    return chain(
        scale_by_amsgrad(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            bias_correction_mu=bias_correction_mu,
            bias_correction_nu=bias_correction_nu,
        ),
        scale_by_learning_rate(learning_rate),
    )


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
) -> GradientTransformation:
    r"""Adamax: Adam with the infinity norm (:func:`scale_by_adamax`).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adamax(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
      >>> [round(float(u), 4) for u in updates]
      [-0.1]
    """
    return chain(scale_by_adamax(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))


def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""AdamaxW: Adamax with decoupled weight decay.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adamaxw(learning_rate=0.1, weight_decay=0.5)
      >>> w = jnp.array([2.0])
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(w), w)
      >>> [round(float(u), 4) for u in updates]  # -0.1 * (1 + 0.5 * 2)
      [-0.2]
    """
    return chain(
        scale_by_adamax(b1=b1, b2=b2, eps=eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def lion(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Lion: sign updates with decoupled weight decay (:func:`scale_by_lion`).

    .. math:: \theta \leftarrow \theta - \eta\,(\operatorname{sign}(\beta_1 m + (1 - \beta_1) g) + \lambda \theta)

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.lion(learning_rate=0.1, weight_decay=0.0)
      >>> w = jnp.zeros(2)
      >>> updates, _ = opt.update(jnp.array([3.0, -0.5]), opt.init(w), w)
      >>> updates
      Array([-0.1,  0.1], dtype=float32)
    """
    return chain(
        scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""LAMB: Adam scaled layer by layer by a trust ratio (:func:`scale_by_trust_ratio`).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.lamb(learning_rate=0.1)
      >>> w = jnp.array([3.0, 4.0])
      >>> updates, _ = opt.update(jnp.array([1.0, 1.0]), opt.init(w), w)
      >>> print(f"{float(jnp.linalg.norm(updates)):.3f}")  # 0.1 * ||w||
      0.500
    """
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )
