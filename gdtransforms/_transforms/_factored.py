"""Adafactor's factored second-moment estimate (scale_by_factored_rms)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates, require_params
from gdtransforms._core._flat_params import leafwise

__all__ = ["FactoredState", "scale_by_factored_rms", "static_int"]


class FactoredState(NamedTuple):
    """Adafactor's step count and second-moment statistics.

    A factored leaf of shape ``(..., R, C)`` (its two largest axes) keeps
    ``v_row`` (the largest axis averaged out) and ``v_col`` (the second
    largest averaged out) and a placeholder ``v`` of shape ``(1,)``; any other
    leaf keeps its full ``v`` and placeholders ``v_row``, ``v_col``.
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    v_row: Updates
    v_col: Updates
    v: Updates


def static_int(name: str, value: Any, minimum: int) -> int:
    """A structural integer argument (it fixes the state's shapes) as a Python int.

    Under :func:`inject_hyperparams` such an argument arrives as a deferred
    scalar that carries the value the optimizer was built with; that value is
    used. One changed at run time cannot change the state's shapes: list it
    in ``static_args`` instead.

    Raises:
      TypeError: the value is not an integer, or is only known at run time.
      ValueError: the value is below ``minimum``.
    """
    if _checks.is_deferred(value):
        plain = getattr(value, "plain", None)
        if plain is None:
            raise TypeError(
                f"`{name}` sets the shapes of the state and must be a Python int; "
                "under inject_hyperparams list it in `static_args`"
            )
        value = plain
    _checks.check_int_at_least(name, value, minimum)
    return int(value)


def _decay_rate_pow(step: Any, exponent: Any = 0.8) -> jax.Array:
    """Adafactor's schedule ``1 - (step + 1)^(-exponent)``: 0 at step 0, towards 1."""
    t = jnp.asarray(step + 1, jnp.float32)
    return 1.0 - t ** (-exponent)


def factored_dims(shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int) -> tuple[int, int] | None:
    """The (second largest, largest) axes to factor over, or ``None`` to keep a full ``v``."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def _without_axis(x: Any, axis: int) -> Any:
    """Zeros shaped like ``x`` with ``axis`` removed (abstract for abstract ``x``)."""
    shape = tuple(d for i, d in enumerate(x.shape) if i != axis)
    if isinstance(x, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct(shape, x.dtype)
    return jnp.zeros(shape, x.dtype)


def _placeholder(x: Any) -> Any:
    if isinstance(x, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct((1,), x.dtype)
    return jnp.zeros((1,), x.dtype)


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: jax.typing.ArrayLike = 0.8,
    step_offset: jax.typing.ArrayLike = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: jax.typing.ArrayLike = 1e-30,
    decay_rate_fn: Callable[[jax.typing.ArrayLike, jax.typing.ArrayLike], jax.typing.ArrayLike] = _decay_rate_pow,
) -> GradientTransformation:
    r"""Adafactor's scaling by a factored estimate of the gradient's RMS.

    With :math:`s = \max(t - t_0, 0)` and :math:`\hat\beta_s =
    \text{decay\_rate\_fn}(s, \text{decay\_rate})`, by default
    :math:`1 - (s + 1)^{-\text{decay\_rate}}`, and :math:`G = g^2 + \epsilon`:
    a leaf whose two largest axes are both at least ``min_dim_size_to_factor``
    keeps row and column averages

    .. math::
        R_t = \hat\beta_s R_{t-1} + (1 - \hat\beta_s)\,\mathrm{mean}_{\text{cols}}(G), \qquad
        C_t = \hat\beta_s C_{t-1} + (1 - \hat\beta_s)\,\mathrm{mean}_{\text{rows}}(G),

    .. math:: u = g \,\Big/\, \sqrt{\frac{R_t C_t^\top}{\mathrm{mean}(R_t)}}

    (rows are the second largest axis, columns the largest); any other leaf
    keeps a full :math:`v_t = \hat\beta_s v_{t-1} + (1 - \hat\beta_s) G` and
    gets :math:`u = g / \sqrt{v_t}`. The statistics are held in the params'
    dtype. Memory: rows plus columns per factored leaf, not the matrix.

    Unlike optax (issue #1791), the local step :math:`s` is clamped at zero,
    so a ``step_offset`` ahead of the count gives the first step's rate
    rather than ``NaN`` (docs/DIFFERENCES.md).

    Args:
      factored: whether to factor leaves of rank 2 or more.
      decay_rate: the exponent of the default decay schedule (>= 0).
      step_offset: :math:`t_0`, the step a fine-tuning run starts from (>= 0).
      min_dim_size_to_factor: factor only if the two largest axes are at
        least this long (a Python int: it fixes the state's shapes).
      epsilon: :math:`\epsilon \ge 0`, added to the squared gradient.
      decay_rate_fn: ``f(step, decay_rate)``, the decay at a (local) step.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`FactoredState`;
      it needs ``params`` (for their shapes and dtypes).

    References:
      Shazeer and Stern, 2018, https://arxiv.org/abs/1804.04235;
      Zhai et al., 2021, https://arxiv.org/abs/2106.04560
    """
    _checks.check_non_negative("decay_rate", decay_rate)
    _checks.check_non_negative("step_offset", step_offset)
    _checks.check_non_negative("epsilon", epsilon)
    min_dim = static_int("min_dim_size_to_factor", min_dim_size_to_factor, 0)
    if not callable(decay_rate_fn):
        raise TypeError(
            f"`decay_rate_fn` must be a function of (step, decay_rate), got {decay_rate_fn!r}; "
            "under inject_hyperparams list it in `static_args`"
        )

    def init_fn(params):
        _checks.check_params(params, "scale_by_factored_rms")

        def leaf(p):
            dims = factored_dims(p.shape, factored, min_dim)
            if dims is None:
                return _placeholder(p), _placeholder(p), _tree.zeros_like(p)
            second, largest = dims
            return _without_axis(p, largest), _without_axis(p, second), _placeholder(p)

        v_row, v_col, v = _tree.map_unzip(leaf, params, num_outputs=3)
        return FactoredState(count=jnp.zeros([], jnp.int32), v_row=v_row, v_col=v_col, v=v)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, FactoredState, "scale_by_factored_rms")
        _checks.check_updates(updates, params, "scale_by_factored_rms")
        # optax #1791: a negative local step gave (t + 1)^-c of t + 1 <= 0, i.e. NaN.
        local_step = jnp.maximum(state.count - step_offset, 0)
        beta = decay_rate_fn(local_step, decay_rate)

        def leaf(g, v_row, v_col, v, p):
            dtype = p.dtype
            g_sq = _tree.abs_sq(g) + epsilon
            dims = factored_dims(p.shape, factored, min_dim)
            placeholder = jnp.zeros((1,), dtype)
            if dims is None:
                new_v = (beta * v + (1.0 - beta) * g_sq).astype(dtype)
                return g * new_v**-0.5, placeholder, placeholder, new_v
            second, largest = dims
            new_row = (beta * v_row + (1.0 - beta) * jnp.mean(g_sq, axis=largest)).astype(dtype)
            new_col = (beta * v_col + (1.0 - beta) * jnp.mean(g_sq, axis=second)).astype(dtype)
            # new_row lacks `largest`; the axis `second` sits one lower if it came after it.
            row_axis = second - 1 if second > largest else second
            row_factor = (new_row / jnp.mean(new_row, axis=row_axis, keepdims=True)) ** -0.5
            col_factor = new_col**-0.5
            u = g * jnp.expand_dims(row_factor, axis=largest) * jnp.expand_dims(col_factor, axis=second)
            return u, new_row, new_col, placeholder

        u, v_row, v_col, v = _tree.map_unzip(leaf, updates, state.v_row, state.v_col, state.v, params, num_outputs=4)
        return u, FactoredState(count=_tree.safe_increment(state.count), v_row=v_row, v_col=v_col, v=v)

    # The factored axes are those of each leaf: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))
