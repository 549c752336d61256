"""Shampoo as an optimizer: :func:`scale_by_shampoo` and the learning rate.

Only a ``chain`` of primitives, with no math of its own. The example below
runs as written (the test suite runs it as a doctest).
"""

from __future__ import annotations

from typing import Any

import jax
from jax import lax

from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule
from gdtransforms._core._combine import chain
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate
from gdtransforms._transforms._shampoo import scale_by_shampoo

__all__ = ["shampoo"]

ArrayLike = jax.typing.ArrayLike


def shampoo(
    learning_rate: ScalarOrSchedule,
    block_size: int = 128,
    beta1: ArrayLike = 0.9,
    beta2: ArrayLike = 0.999,
    diagonal_epsilon: ArrayLike = 1e-10,
    matrix_epsilon: ArrayLike = 1e-6,
    weight_decay: ArrayLike = 0.0,
    start_preconditioning_step: ArrayLike = 5,
    preconditioning_compute_steps: ArrayLike = 1,
    statistics_compute_steps: ArrayLike = 1,
    best_effort_shape_interpretation: bool = True,
    graft_type: Any = "adam",
    nesterov: bool = True,
    exponent_override: int = 0,
    inverse_failure_threshold: ArrayLike = 0.1,
    moving_average_for_momentum: bool = True,
    skip_preconditioning_dim_size_gt: int = 4096,
    clip_by_scaled_gradient_norm: float | None = None,
    precision: Any = lax.Precision.HIGHEST,
    tensordot_precision: Any = None,
    relative_matrix_epsilon: bool = True,
    merge_small_dims_block_size: int = 4096,
    skip_preconditioning_rank_lt: int = 1,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    r"""Shampoo (blocked, as in distributed Shampoo), grafted to Adam by default.

    .. math::
        u_t = -\eta_t \, \mathrm{shampoo}(g_t)
        \;\; [\, - \eta_t \lambda \theta_{t-1} \text{ if decoupled} \,]

    where :math:`\mathrm{shampoo}` is :func:`scale_by_shampoo` (blocked
    Kronecker statistics :math:`L_i \leftarrow \beta_2 L_i + (1 - \beta_2)
    G_{(i)} G_{(i)}^T`, their inverse :math:`2k`-th roots recomputed every
    ``preconditioning_compute_steps`` steps from ``start_preconditioning_step``
    on, damped by ``matrix_epsilon`` times the largest eigenvalue, the
    direction rescaled to the graft's per-leaf norm, then momentum).

    The arguments are those of optax-shampoo's ``distributed_shampoo`` (0.0.6)
    with its defaults, except: ``graft_type`` defaults to ``"adam"`` and
    ``moving_average_for_momentum`` to ``True`` (the reference: SGD grafting
    and a heavy-ball sum), so learning rates tuned for Adam carry over; and
    ``block_size`` defaults to 128. Dropped: the distribution arguments
    (``batch_axis_name``, ``statistics_partition_spec``,
    ``preconditioner_partition_spec``, ``num_devices_for_pjit``,
    ``shard_optimizer_states``: here ``jax.jit`` with sharded inputs does the
    distribution), ``best_effort_memory_usage_reduction`` (quantised state),
    the LOBPCG options, ``precondtioner_type`` (always every dimension),
    ``generate_training_metrics`` and ``decoupled_learning_rate`` (always
    decoupled). ``decoupled_weight_decay=True`` gives AdamW's
    :math:`-\eta\lambda\theta` (the reference multiplies by :math:`\eta` twice).

    Sharding: under ``jax.jit`` with sharded params, ``momentum``,
    ``diagonal_momentum`` and ``diagonal_statistics`` are param-shaped and
    shard like their params (:func:`gdtransforms.state_shardings` gives them
    the params' shardings); the block ``statistics`` and ``preconditioners``
    (small square matrices, at most ``block_size`` on a side) and the step
    count are replicated.

    Args:
      learning_rate: :math:`\eta`, a number or a schedule.
      block_size: see :func:`scale_by_shampoo` (also for the arguments below).
      beta1: momentum.
      beta2: statistics and graft decay.
      diagonal_epsilon: the graft's epsilon.
      matrix_epsilon: initial statistics and (relative) damping.
      weight_decay: :math:`\lambda`.
      start_preconditioning_step: first step using Shampoo's direction.
      preconditioning_compute_steps: how often the roots are recomputed.
      statistics_compute_steps: how often the statistics are updated.
      best_effort_shape_interpretation: merge small dimensions first.
      graft_type: ``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adagrad"``, ...
      nesterov: Nesterov momentum.
      exponent_override: fixed root (0: twice the block's rank).
      inverse_failure_threshold: largest accepted residual of a root.
      moving_average_for_momentum: momentum as an EMA (else a sum).
      skip_preconditioning_dim_size_gt: larger leaves take the graft only.
      clip_by_scaled_gradient_norm: optional RMS clip of the diagonal graft.
      precision: precision of the root iterations.
      tensordot_precision: precision of the statistics' products.
      relative_matrix_epsilon: damping relative to the largest eigenvalue.
      merge_small_dims_block_size: merge limit of small dimensions.
      skip_preconditioning_rank_lt: lower-rank leaves take the graft only.
      decoupled_weight_decay: apply :math:`\lambda` outside Shampoo, after momentum.

    Returns:
      A :class:`GradientTransformation`: the chain of :func:`scale_by_shampoo`
      (state :class:`ScaleByShampooState`), optionally
      :func:`add_decayed_weights`, and :func:`scale_by_learning_rate`.

    References:
      Gupta, Koren and Singer, 2018, https://arxiv.org/abs/1802.09568;
      Anil, Gupta, Koren, Regan and Singer, 2020, https://arxiv.org/abs/2002.09018

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda w: jnp.sum((w - 1.0) ** 2)
      >>> opt = gdt.shampoo(learning_rate=0.1, block_size=2, start_preconditioning_step=1)
      >>> w = jnp.zeros((3, 2)); state = opt.init(w)
      >>> for _ in range(20):
      ...     updates, state = opt.update(jax.grad(f)(w), state, w)
      ...     w = gdt.apply_updates(w, updates)
      >>> print(f"{float(f(w)):.3f}")  # from 6.0
      0.064
    """
    decay_inside = 0.0 if decoupled_weight_decay else weight_decay
    steps = [
        scale_by_shampoo(
            block_size=block_size,
            beta1=beta1,
            beta2=beta2,
            diagonal_epsilon=diagonal_epsilon,
            matrix_epsilon=matrix_epsilon,
            weight_decay=decay_inside,
            start_preconditioning_step=start_preconditioning_step,
            preconditioning_compute_steps=preconditioning_compute_steps,
            statistics_compute_steps=statistics_compute_steps,
            best_effort_shape_interpretation=best_effort_shape_interpretation,
            graft_type=graft_type,
            nesterov=nesterov,
            exponent_override=exponent_override,
            inverse_failure_threshold=inverse_failure_threshold,
            moving_average_for_momentum=moving_average_for_momentum,
            skip_preconditioning_dim_size_gt=skip_preconditioning_dim_size_gt,
            clip_by_scaled_gradient_norm=clip_by_scaled_gradient_norm,
            precision=precision,
            tensordot_precision=tensordot_precision,
            relative_matrix_epsilon=relative_matrix_epsilon,
            merge_small_dims_block_size=merge_small_dims_block_size,
            skip_preconditioning_rank_lt=skip_preconditioning_rank_lt,
        )
    ]
    if decoupled_weight_decay:
        steps.append(add_decayed_weights(weight_decay))
    steps.append(scale_by_learning_rate(learning_rate))
    return chain(*steps)
