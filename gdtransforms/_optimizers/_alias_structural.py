"""Optimizers built on structural statistics: Adafactor, SM3 and DP-SGD.

Each one only a ``chain`` of primitives, with no math of its own. Every
example below runs as written (the test suite runs them as doctests).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import GradientTransformation, MaskOrFn, ScalarOrSchedule, identity
from gdtransforms._core._combine import chain
from gdtransforms._transforms._accumulation import ema, trace
from gdtransforms._transforms._block_clip import clip_by_block_rms
from gdtransforms._transforms._block_scale import scale_by_param_block_rms
from gdtransforms._transforms._factored import scale_by_factored_rms
from gdtransforms._transforms._privacy import differentially_private_aggregate
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale, scale_by_learning_rate
from gdtransforms._transforms._sm3 import scale_by_sm3

__all__ = ["adafactor", "dpsgd", "sm3"]

ArrayLike = jax.typing.ArrayLike


def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: ArrayLike = 0.8,
    decay_offset: ArrayLike = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: ArrayLike | None = 1.0,
    momentum: ArrayLike | None = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: ArrayLike = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Adafactor: Adam-like steps with a factored second moment and relative step sizes.

    .. math::
        u = \text{clip}_{\text{rms} \le d}\Big(g / \sqrt{\hat v_t}\Big)\cdot
        \eta \cdot \max(\mathrm{rms}(\theta), 10^{-3}), \qquad
        \theta \leftarrow \theta - u

    where :math:`\hat v_t` is :func:`scale_by_factored_rms`' row-times-column
    estimate for matrices (rows plus columns of memory, not the matrix), the
    clip is :func:`clip_by_block_rms`, and the parameter scale is
    :func:`scale_by_param_block_rms`. Optional momentum (an EMA without
    debiasing) and decoupled weight decay follow.

    Args:
      learning_rate: :math:`\eta`, a number, a schedule, or ``None`` for none
        (the relative step alone).
      min_dim_size_to_factor: factor a leaf only if its two largest axes are
        at least this long.
      decay_rate: the exponent :math:`c` of :math:`\hat\beta_t = 1 - t^{-c}`.
      decay_offset: the step a fine-tuning run starts from.
      multiply_by_parameter_scale: scale by :math:`\max(\mathrm{rms}(\theta), 10^{-3})`.
      clipping_threshold: :math:`d`, the largest update RMS per leaf, or ``None``.
      momentum: the EMA decay of the updates, or ``None`` for none.
      dtype_momentum: the dtype of the momentum buffer.
      weight_decay_rate: decoupled weight decay, or ``None``.
      eps: added to the squared gradient.
      factored: whether to factor the second moment of matrices.
      weight_decay_mask: which params the weight decay applies to.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda w: jnp.sum(w**2)
      >>> opt = gdt.adafactor(learning_rate=0.1)
      >>> w = jnp.array([1.0, 2.0, 3.0]); state = opt.init(w)
      >>> for _ in range(3):
      ...     updates, state = opt.update(jax.grad(f)(w), state, w)
      ...     w = gdt.apply_updates(w, updates)
      >>> print(f"{float(f(w)):.3f}")
      8.166

    References:
      Shazeer and Stern, 2018, https://arxiv.org/abs/1804.04235
    """
    steps = [scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
    if clipping_threshold is not None:
        steps.append(clip_by_block_rms(clipping_threshold))
    # optax scales by the rate, then by the parameter RMS. Both are scalars per leaf, so the
    # order is the same update; this one lets XLA fold a constant rate into the scalar alike
    # whether the rate is a Python number or injected (bit-identical under inject_hyperparams).
    if multiply_by_parameter_scale:
        steps.append(scale_by_param_block_rms())
    if learning_rate is not None:
        steps.append(scale_by_learning_rate(learning_rate, flip_sign=False))
    if momentum is not None:
        steps.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        steps.append(add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
    steps.append(scale(-1))
    return chain(*steps)


def sm3(learning_rate: Any, momentum: ArrayLike = 0.9) -> GradientTransformation:
    r"""SM3: memory-efficient adaptive steps with per-axis accumulators, plus momentum.

    .. math:: \theta \leftarrow \theta - \eta\, m_t

    with :math:`m_t` from :func:`scale_by_sm3` (``b1=momentum``, no decay of
    the accumulators). Its statistics take the sum of a leaf's axis lengths
    of memory, not its size (plus the momentum).

    Args:
      learning_rate: :math:`\eta`, a number.
      momentum: the momentum :math:`\beta_1` in [0, 1).

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda w: jnp.sum(w**2)
      >>> opt = gdt.sm3(learning_rate=0.5)
      >>> w = jnp.array([1.0, 2.0, 3.0]); state = opt.init(w)
      >>> for _ in range(3):
      ...     updates, state = opt.update(jax.grad(f)(w), state)
      ...     w = gdt.apply_updates(w, updates)
      >>> print(f"{float(f(w)):.3f}")
      11.402

    References:
      Anil et al., 2019, https://arxiv.org/abs/1901.11150
    """
    return chain(scale_by_sm3(momentum), scale(-learning_rate))


def dpsgd(
    learning_rate: ScalarOrSchedule,
    l2_norm_clip: ArrayLike,
    noise_multiplier: ArrayLike,
    seed: int,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""DP-SGD: SGD on clipped, noised per-example gradients.

    .. math::
        \tilde g = \frac{1}{B}\Big(\sum_b \text{clip}_C(g_b) + \mathcal N(0, \sigma^2 C^2 I)\Big),
        \qquad \theta \leftarrow \theta - \eta\, \tilde g

    (through :func:`trace` when ``momentum`` is set). The updates must be
    per-example gradients with the batch on axis 0, e.g. from ``jax.vmap``
    of ``jax.grad``. The noise is drawn as optax draws it for the same seed.

    Args:
      learning_rate: :math:`\eta`, a number or a schedule.
      l2_norm_clip: :math:`C`, the bound of each example's gradient norm.
      noise_multiplier: :math:`\sigma`, the noise's standard deviation over :math:`C`.
      seed: the seed of the noise's ``jax.random`` key.
      momentum: the momentum of :func:`trace`, or ``None`` for none.
      nesterov: Nesterov momentum.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.dpsgd(learning_rate=0.1, l2_norm_clip=1.0, noise_multiplier=0.0, seed=0)
      >>> per_example = jnp.array([[3.0, 4.0], [0.3, 0.4]])  # norms 5 and 0.5
      >>> updates, _ = opt.update(per_example, opt.init(jnp.zeros(2)))
      >>> updates  # -0.1 * ((0.6, 0.8) + (0.3, 0.4)) / 2
      Array([-0.045, -0.06 ], dtype=float32)

    References:
      Abadi et al., 2016, https://arxiv.org/abs/1607.00133
    """
    if momentum is not None:
        _checks.check_decay("momentum", momentum)  # as in sgd: a momentum of 1 never forgets
    return chain(
        differentially_private_aggregate(l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier, key=seed),
        trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )
