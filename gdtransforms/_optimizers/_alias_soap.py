"""SOAP as an optimizer: Adam in Shampoo's eigenbasis, with decoupled weight decay.

Only a ``chain`` of primitives. The example below runs as written (the test
suite runs it as a doctest).
"""

from __future__ import annotations

from typing import Any

import jax

from gdtransforms._core._base import GradientTransformation, MaskOrFn, ScalarOrSchedule
from gdtransforms._core._combine import chain
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate
from gdtransforms._transforms._soap import scale_by_soap

__all__ = ["soap"]

ArrayLike = jax.typing.ArrayLike


def soap(
    learning_rate: ScalarOrSchedule = 3e-3,
    b1: ArrayLike = 0.95,
    b2: ArrayLike = 0.95,
    shampoo_beta: ArrayLike | None = None,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.01,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    precondition_1d: bool = False,
    normalize_grads: bool = False,
    mu_dtype: Any | None = None,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""SOAP: Adam in the eigenbasis of Shampoo's preconditioner, with decoupled weight decay.

    .. math::
        \theta \leftarrow \theta - \alpha \left(
            \frac{\sqrt{1 - \beta_2^s}}{1 - \beta_1^s}\,
            Q_L \frac{Q_L^T M Q_R}{\sqrt{V} + \epsilon} Q_R^T + \lambda \theta \right)

    with the first moment :math:`M`, the second moment :math:`V` of the
    rotated gradients :math:`Q_L^T G Q_R` and the eigenbases :math:`Q_L, Q_R`
    of :math:`L = \mathrm{EMA}(G G^T)`, :math:`R = \mathrm{EMA}(G^T G)` of
    :func:`scale_by_soap`, refreshed every ``precondition_frequency`` steps.
    The first call only builds the bases (its update is the weight decay
    alone). Defaults are those of the paper's authors' implementation.

    Sharding: ``mu`` and ``nu`` have their parameter's shape and follow its
    sharding (``gdt.state_shardings`` gives them the parameter's sharding, and
    under ``jit`` they keep it); the per-axis factors (``preconditioners``,
    :math:`d \times d`) and bases (``eigenbases``) are small and replicated,
    as is the step count.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      shampoo_beta: the factors' decay in [0, 1); ``None`` uses ``b2``.
      eps: :math:`\epsilon`, added to :math:`\sqrt{V}`.
      weight_decay: :math:`\lambda \ge 0`, a number or a schedule.
      precondition_frequency: refresh the bases every this many steps.
      max_precond_dim: axes longer than this keep the identity basis (Adam).
      precondition_1d: also precondition 1-D leaves (biases).
      normalize_grads: divide each leaf's update by its RMS.
      mu_dtype: optional dtype of the first moment.
      mask: which leaves to decay (a tree of bools or a function of params).

    Returns:
      A :class:`GradientTransformation`; its ``update`` needs ``params``
      (for the weight decay).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.soap(learning_rate=0.1, weight_decay=0.0)
      >>> w = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> g = jnp.array([[3.0, 0.0], [0.0, -1.0]])
      >>> state = opt.init(w)
      >>> updates, state = opt.update(g, state, w)  # the first call only builds the bases
      >>> float(jnp.abs(updates).max())
      0.0
      >>> updates, state = opt.update(g, state, w)  # then Adam's first step in that basis
      >>> [[round(float(u), 4) + 0.0 for u in row] for row in updates]  # -alpha * sign(g), as in Adam
      [[-0.1, 0.0], [0.0, 0.1]]

    References:
      Vyas et al., 2024, "SOAP: Improving and Stabilizing Shampoo using Adam",
      https://arxiv.org/abs/2409.11321
    """
    return chain(
        scale_by_soap(
            b1=b1,
            b2=b2,
            shampoo_beta=shampoo_beta,
            eps=eps,
            precondition_frequency=precondition_frequency,
            max_precond_dim=max_precond_dim,
            precondition_1d=precondition_1d,
            normalize_grads=normalize_grads,
            mu_dtype=mu_dtype,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
