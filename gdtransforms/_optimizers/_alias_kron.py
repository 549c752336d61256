"""PSGD Kron as an optimizer: :func:`scale_by_kron`, weight decay, the learning rate."""

from __future__ import annotations

from typing import Any

import jax

from gdtransforms._core._base import GradientTransformation, MaskOrFn, Params, ScalarOrSchedule, Schedule
from gdtransforms._core._combine import chain
from gdtransforms._transforms._kron import default_update_probability, scale_by_kron
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate

__all__ = ["kron"]


def kron(
    learning_rate: ScalarOrSchedule = 0.001,
    b1: jax.typing.ArrayLike = 0.9,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = None,
    preconditioner_update_probability: jax.typing.ArrayLike | Schedule = default_update_probability,
    max_size_triangular: int = 8192,
    min_ndim_triangular: int = 2,
    memory_save_mode: str | None = None,
    momentum_into_precond_update: bool = True,
    preconditioner_lr: jax.typing.ArrayLike = 0.1,
    preconditioner_init_scale: jax.typing.ArrayLike | None = 1.0,
    mu_dtype: Any | None = None,
    precond_dtype: Any | None = None,
    precond_update_precision: str | None = "tensorfloat32",
    precond_grads_precision: str | None = None,
    scanned_layers: Params | None = None,
    lax_map_scanned_layers: bool = False,
    lax_map_batch_size: int = 8,
) -> GradientTransformation:
    r"""PSGD Kron: momentum preconditioned by Kronecker-factored, Lie-group-fitted preconditioners.

    .. math::
        u_t = \operatorname{clip}_{\mathrm{RMS} \le 1.1}\bigl(Q^H Q\, \hat m_t\bigr), \qquad
        \theta_{t+1} = \theta_t - \eta_t \bigl(u_t + \lambda\, \theta_t\bigr)

    with :math:`\hat m_t` the bias-corrected momentum and :math:`Q = \bigotimes_i Q_i`
    one triangular or diagonal factor per axis, fitted to the momentum as
    :func:`scale_by_kron` describes. The same iterates as psgd-jax 0.2.9's
    ``kron`` (same arguments and defaults, same random probes).

    Sharding: the momentum ``mu`` is shaped like the params and is sharded
    like them (``gdt.state_shardings`` gives it each param's sharding); the
    factors ``Qs_preconditioners``, the counters and the key are replicated
    (``gdt.state_shardings`` replicates every leaf that mirrors no param; pass
    it as ``out_shardings`` to keep them so: with input shardings alone,
    XLA's propagation may shard a diagonal factor along its param's axis). A
    factor is at most ``max_size_triangular`` squared (a vector beyond), so a
    replica costs one small matrix per axis, and each device updates its own
    copy.

    Schedules, the learning rate's and ``preconditioner_update_probability``'s,
    are called with the number of updates so far, as everywhere in this
    library (and as :func:`inject_hyperparams` calls them); psgd-jax calls
    the probability schedule with that number plus one. The default schedule
    accounts for it, so the default iterates are psgd-jax's.

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      b1: momentum decay :math:`\beta_1` in [0, 1).
      weight_decay: :math:`\lambda`, decoupled weight decay added to the
        preconditioned update (0 gives the same params as none).
      weight_decay_mask: optional tree of bools (or a function of the params
        returning one) selecting the params to decay.
      preconditioner_update_probability: the probability :math:`p_t` (the
        factors are updated every :math:`\lceil 1/p_t \rceil` steps), or a
        schedule of the step count; the default is 1 for 500 steps, then
        annealed to 0.03.
      max_size_triangular: axes longer than this get a diagonal factor.
      min_ndim_triangular: params with fewer axes get diagonal factors only.
      memory_save_mode: ``None``, ``"one_diag"`` or ``"all_diag"``.
      momentum_into_precond_update: fit the factors to the momentum (else the
        gradient).
      preconditioner_lr: the factors' step size.
      preconditioner_init_scale: the initial scale of the preconditioner;
        ``None`` sets it from each param's first gradient.
      mu_dtype: optional dtype of the momentum.
      precond_dtype: optional dtype of the factors.
      precond_update_precision: matmul precision of the factors' update.
      precond_grads_precision: matmul precision of preconditioning.
      scanned_layers: optional tree of bools marking stacked layers (axis 0).
      lax_map_scanned_layers: use ``lax.map`` over stacked layers.
      lax_map_batch_size: ``lax.map``'s batch size.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> loss = lambda p: jnp.sum((p["w"] @ jnp.array([1.0, 2.0]) - 1.0) ** 2)
      >>> params = {"w": jnp.eye(2)}
      >>> opt = gdt.kron(learning_rate=0.1)
      >>> state = opt.init(params)
      >>> for _ in range(30):
      ...     updates, state = opt.update(jax.grad(loss)(params), state, params)
      ...     params = gdt.apply_updates(params, updates)
      >>> bool(loss(params) < 0.05)
      True

    References:
      Li, 2015/2018, Preconditioned Stochastic Gradient Descent, https://arxiv.org/abs/1512.04202;
      Li, 2022, Black Box Lie Group Preconditioners for SGD, https://arxiv.org/abs/2211.04422
    """
    return chain(
        scale_by_kron(
            b1=b1,
            preconditioner_update_probability=preconditioner_update_probability,
            max_size_triangular=max_size_triangular,
            min_ndim_triangular=min_ndim_triangular,
            memory_save_mode=memory_save_mode,
            momentum_into_precond_update=momentum_into_precond_update,
            preconditioner_lr=preconditioner_lr,
            preconditioner_init_scale=preconditioner_init_scale,
            mu_dtype=mu_dtype,
            precond_dtype=precond_dtype,
            precond_update_precision=precond_update_precision,
            precond_grads_precision=precond_grads_precision,
            scanned_layers=scanned_layers,
            lax_map_scanned_layers=lax_map_scanned_layers,
            lax_map_batch_size=lax_map_batch_size,
        ),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
