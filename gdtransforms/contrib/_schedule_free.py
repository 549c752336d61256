"""Schedule-free learning: interpolate and average the iterates instead of decaying the rate.

Differences from optax.contrib (docs/DIFFERENCES.md, "schedule-free"):

- ``step_count`` starts at 0, so a schedule is read at 0 on the first step,
  as the base optimizer reads it (optax PR #1744: optax starts at 1 and the
  averaging weights run one step ahead of the base optimizer's rate).
- ``b1``, ``weight_sum`` and ``max_lr`` are kept in float32 (or wider), not
  in the params' least precise dtype: with one bfloat16 leaf optax's
  ``weight_sum`` stops growing after a few hundred steps and its stored
  ``b1`` is 0.8984, so :func:`schedule_free_eval_params` drifts.
- Updates and evaluation params have the params' dtype whatever
  ``state_dtype`` is (optax #1038: a float32 ``z`` with bfloat16 params
  gave float32 updates that broke gradient accumulation).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import (
    GradientTransformation,
    OptState,
    ScalarOrSchedule,
    Updates,
    require_params,
    with_extra_args_support,
)
from gdtransforms._core._combine import chain
from gdtransforms._optimizers._alias import sgd
from gdtransforms._schedules._schedules_joined import warmup_constant_schedule
from gdtransforms._transforms._adaptive import scale_by_rms
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate
from gdtransforms.contrib._common import wider_scalar_dtype

__all__ = [
    "ScheduleFreeState",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
]


class ScheduleFreeState(NamedTuple):
    """The interpolation ``b1``, the averaging weights, the step, the base state and ``z``."""

    b1: jax.Array  # scalar, float32 or wider
    weight_sum: jax.Array  # scalar, float32 or wider
    step_count: jax.Array  # int32 scalar: the number of steps taken
    max_lr: jax.Array  # scalar, float32 or wider
    base_optimizer_state: OptState
    z: Updates


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    r"""The averaged iterate :math:`x = (y - (1 - \beta_1) z) / \beta_1` to evaluate the model at.

    Args:
      state: a :class:`ScheduleFreeState` (or a state holding ``b1`` and ``z``).
      params: the params :math:`y` being trained.

    Returns:
      :math:`x`, with the params' dtypes.
    """
    b1, z = getattr(state, "b1", None), getattr(state, "z", None)
    if b1 is None or z is None:
        raise ValueError(
            f"schedule_free_eval_params needs a ScheduleFreeState (with `b1` and `z`), got {type(state).__name__}"
        )
    return jax.tree.map(lambda y, z_: ((y - (1.0 - b1) * z_) / b1).astype(jnp.asarray(y).dtype), params, z)


def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Makes ``base_optimizer`` schedule-free: it steps :math:`z`, the params interpolate.

    The params :math:`y_t` interpolate between :math:`z_t`, which the base
    optimizer steps, and :math:`x_t`, a weighted average of the :math:`z`'s:

    .. math::
        z_{t+1} = z_t + \Delta_t(g_t), \qquad
        c_{t+1} = \frac{\gamma_{\max,t}^{p}}{\sum_{i \le t} \gamma_{\max,i}^{p}}, \\
        x_{t+1} = (1 - c_{t+1})\, x_t + c_{t+1} z_{t+1}, \qquad
        y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1) z_{t+1}

    with :math:`\Delta_t` the base optimizer's update, :math:`\gamma_{\max,t}`
    the largest learning rate so far and :math:`p` = ``weight_lr_power``.
    :math:`x_t` is not stored: it is recovered from :math:`y_t` and
    :math:`z_t` (see :func:`schedule_free_eval_params`, the params to
    evaluate the model at). The base optimizer's momentum should be 0.

    Args:
      base_optimizer: the optimizer that steps :math:`z` (it applies the rate).
      learning_rate: :math:`\gamma`, the base optimizer's rate, a number or
        a schedule, read at the number of steps taken so far.
      b1: :math:`\beta_1` in [0, 1].
      weight_lr_power: :math:`p`, the power of the rate in the averaging weights.
      state_dtype: optional dtype of :math:`z`.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ScheduleFreeState`; it needs ``params``.

    References:
      Defazio et al., 2024, The Road Less Scheduled,
      https://arxiv.org/abs/2405.15682
    """
    _checks.check_rate("learning_rate", learning_rate)
    _checks.check_in_range("b1", b1, 0.0, 1.0, low_closed=False)
    _checks.check_non_negative("weight_lr_power", weight_lr_power)
    state_dtype = _checks.check_float_dtype("state_dtype", state_dtype)
    base = with_extra_args_support(base_optimizer)

    def init_fn(params):
        _checks.check_params(params, "schedule_free")
        dtype = wider_scalar_dtype(params)
        z = jax.tree.map(lambda p: jnp.array(p, dtype=state_dtype or jnp.asarray(p).dtype, copy=True), params)
        return ScheduleFreeState(
            b1=jnp.asarray(b1, dtype=dtype),
            weight_sum=jnp.zeros([], dtype),
            step_count=jnp.zeros([], jnp.int32),
            max_lr=jnp.zeros([], dtype),
            base_optimizer_state=base.init(params),
            z=z,
        )

    def update_fn(updates, state, params=None, **extra_args):
        params = require_params(params)
        _checks.check_state(state, ScheduleFreeState, "schedule_free")
        _checks.check_updates(updates, state.z, "schedule_free")
        rate = learning_rate
        if callable(learning_rate):
            rate = jnp.asarray(learning_rate(state.step_count), dtype=state.max_lr.dtype)
        # `rate + 0` keeps an injected hyperparameter out of jnp (bit-identity).
        max_lr = jnp.maximum(state.max_lr, rate + jnp.zeros_like(state.max_lr))
        # An array exponent in every case, so an injected power computes the same pow.
        weight = max_lr ** (weight_lr_power + jnp.zeros_like(max_lr))
        weight_sum = state.weight_sum + weight
        # weight / weight_sum, 0 while both are 0 (a warm-up from 0), NaN kept.
        ratio = jnp.nan_to_num(weight / weight_sum, nan=0.0, posinf=jnp.inf)
        ck = jnp.where(jnp.isnan(weight) | jnp.isnan(weight_sum), jnp.nan, ratio)
        base_updates, base_state = base.update(updates, state.base_optimizer_state, params, **extra_args)

        # b1 and 1 - b1 as scalars behind a barrier: XLA then compiles the same
        # element-wise code whether b1 is a constant or an injected value.
        zero = jnp.zeros([], state.max_lr.dtype)
        keep, mix = jax.lax.optimization_barrier((b1 + zero, (1.0 - b1) + zero))

        def leaf(y, z, u):
            keep_, mix_ = keep.astype(y.dtype), mix.astype(y.dtype)
            z_new = jnp.asarray(z + u).astype(z.dtype)
            x = (y - mix_ * z) / keep_
            x = (1.0 - ck) * x + ck * z_new
            y_new = keep_ * x + mix_ * z_new
            return (y_new - y).astype(y.dtype), z_new

        new_updates, z = _tree.map_unzip(leaf, params, state.z, base_updates, num_outputs=2)
        return new_updates, ScheduleFreeState(
            b1=state.b1,
            weight_sum=weight_sum,
            step_count=_tree.safe_increment(state.step_count),
            max_lr=max_lr,
            base_optimizer_state=base_state,
            z=z,
        )

    return GradientTransformation(init_fn, update_fn)


def _warmed_up(learning_rate: Any, warmup_steps: int | None) -> Any:
    if warmup_steps is None:
        return learning_rate
    _checks.check_int_at_least("warmup_steps", warmup_steps, 0)
    return warmup_constant_schedule(init_value=0.0, peak_value=learning_rate, warmup_steps=warmup_steps)


def schedule_free_sgd(
    learning_rate: jax.typing.ArrayLike = 1.0,
    warmup_steps: int | None = None,
    b1: jax.typing.ArrayLike = 0.9,
    weight_decay: jax.typing.ArrayLike | None = None,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Schedule-free SGD: :func:`schedule_free` around plain SGD (optional coupled weight decay).

    .. math:: z_{t+1} = z_t - \gamma_t (g_t + \lambda y_t)

    with :math:`x, y` as in :func:`schedule_free`; the rate warms up linearly
    from 0 over ``warmup_steps`` when given.

    Args:
      learning_rate: :math:`\gamma`, the peak rate.
      warmup_steps: optional number of linear warm-up steps.
      b1: :math:`\beta_1` in (0, 1].
      weight_decay: :math:`\lambda`, or ``None`` for none.
      weight_lr_power: the power of the rate in the averaging weights.
      state_dtype: optional dtype of :math:`z`.

    Returns:
      A :class:`GradientTransformation`; it needs ``params``.

    References:
      Defazio et al., 2024, https://arxiv.org/abs/2405.15682

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.schedule_free_sgd(learning_rate=0.5, b1=0.9)
      >>> params = jnp.array([1.0])
      >>> state = opt.init(params)
      >>> updates, state = opt.update(jnp.array([2.0]), state, params)
      >>> updates  # z moves by -1, x jumps to z: y moves by -1 too
      Array([-1.], dtype=float32)
      >>> gdt.contrib.schedule_free_eval_params(state, params + updates)
      Array([0.], dtype=float32)
    """
    learning_rate = _warmed_up(learning_rate, warmup_steps)
    base = sgd(learning_rate)
    if weight_decay is not None:
        base = chain(add_decayed_weights(weight_decay), base)
    return schedule_free(
        base, learning_rate=learning_rate, b1=b1, weight_lr_power=weight_lr_power, state_dtype=state_dtype
    )


def schedule_free_adamw(
    learning_rate: jax.typing.ArrayLike = 0.0025,
    warmup_steps: int | None = None,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Schedule-free AdamW: :func:`schedule_free` around RMS scaling and decoupled weight decay.

    .. math::
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad
        z_{t+1} = z_t - \gamma_t \left(\frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}
                  + \lambda y_t\right)

    with :math:`x, y` as in :func:`schedule_free` (:math:`\beta_1` is its
    interpolation; there is no momentum). The rate warms up linearly from 0
    over ``warmup_steps`` when given.

    Args:
      learning_rate: :math:`\gamma`, the peak rate.
      warmup_steps: optional number of linear warm-up steps.
      b1: :math:`\beta_1` in (0, 1].
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon > 0`.
      weight_decay: :math:`\lambda \ge 0`.
      weight_lr_power: the power of the rate in the averaging weights.
      state_dtype: optional dtype of :math:`z`.

    Returns:
      A :class:`GradientTransformation`; it needs ``params``.

    References:
      Defazio et al., 2024, https://arxiv.org/abs/2405.15682

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.schedule_free_adamw(learning_rate=0.1)
      >>> params = jnp.array([1.0, 1.0])
      >>> updates, state = opt.update(jnp.array([3.0, -0.5]), opt.init(params), params)
      >>> [round(float(u), 4) for u in updates]  # -lr * sign(g): the first RMS step is the sign
      [-0.1, 0.1]
    """
    learning_rate = _warmed_up(learning_rate, warmup_steps)
    base = chain(
        scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
    return schedule_free(
        base, learning_rate=learning_rate, b1=b1, weight_lr_power=weight_lr_power, state_dtype=state_dtype
    )
