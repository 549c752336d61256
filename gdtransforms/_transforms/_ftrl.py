"""FTRL-Proximal: follow the regularised leader, with L1 and L2 terms, per coordinate."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule, Updates

__all__ = ["FtrlState", "scale_by_ftrl"]


class FtrlState(NamedTuple):
    """The state of :func:`scale_by_ftrl` (and :func:`ftrl`).

    Attributes:
      count: int32, the number of updates so far (the step a scheduled
        learning rate is read at).
      z: the linear term :math:`z` of each coordinate, like params (Keras'
        ``linear``), starting at 0.
      n: the sum of squared gradients :math:`n` of each coordinate, like params
        (Keras' ``accumulator``), starting at ``initial_accumulator_value``.
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    z: Updates
    n: Updates


def _widen(x: jax.Array) -> jax.Array:
    """bfloat16 and float16 in float32; wider dtypes as they are."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def scale_by_ftrl(
    learning_rate: ScalarOrSchedule = 0.001,
    learning_rate_power: jax.typing.ArrayLike = -0.5,
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    l1_regularization_strength: jax.typing.ArrayLike = 0.0,
    l2_regularization_strength: jax.typing.ArrayLike = 0.0,
    l2_shrinkage_regularization_strength: jax.typing.ArrayLike = 0.0,
    beta: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
    r"""FTRL-Proximal's step from the current params to the proximal solution.

    Per coordinate, with gradient :math:`g`, current weight :math:`w`,
    learning rate :math:`\alpha`, power :math:`p \le 0` (``-0.5`` gives the
    paper's :math:`\sqrt{n}`), and :math:`g' = g + 2 \lambda_s w` (the L2
    shrinkage enters the linear term only):

    .. math::
        n' = n + g^2, \qquad
        \sigma = \frac{n'^{-p} - n^{-p}}{\alpha}, \qquad
        z' = z + g' - \sigma w, \\
        w' = \begin{cases}
          0 & |z'| \le \lambda_1 \\
          \dfrac{\operatorname{sign}(z')\,\lambda_1 - z'}{(\beta + n'^{-p}) / \alpha + 2 \lambda_2}
            & \text{otherwise}
        \end{cases}
        \qquad u = w' - w

    This is Algorithm 1 of McMahan et al. (2013) with Keras' conventions: its
    defaults, the factor 2 on :math:`\lambda_2` and :math:`\lambda_s`, the
    general power :math:`p`, and :math:`\beta` inside the per-coordinate rate.

    Sparse-friendly: a coordinate whose gradient is exactly 0 is treated as
    absent from the step, as in Keras' sparse (``IndexedSlices``) update: its
    :math:`z`, :math:`n` and weight stay as they are and its update is 0 (even
    with L2 shrinkage, which would otherwise move :math:`z`). Every other
    coordinate follows Keras' dense rule.

    The update is the whole step, learning rate included: add it to the
    params (``apply_updates``); do not follow it with a learning-rate scale.
    bfloat16 and float16 coordinates are computed in float32 and stored in
    the params' dtype.

    Args:
      learning_rate: :math:`\alpha > 0`, a number or a schedule of the step
        count.
      learning_rate_power: :math:`p \le 0`.
      initial_accumulator_value: :math:`n_0 \ge 0`.
      l1_regularization_strength: :math:`\lambda_1 \ge 0`; larger values give
        more exact zeros.
      l2_regularization_strength: :math:`\lambda_2 \ge 0`, on the weights in
        the proximal step.
      l2_shrinkage_regularization_strength: :math:`\lambda_s \ge 0`, an L2
        penalty folded into the gradient of the linear term.
      beta: :math:`\beta \ge 0`, added to :math:`n'^{-p}` in the denominator
        (the paper's :math:`\beta` of the per-coordinate rate).

    Returns:
      A :class:`GradientTransformation` whose state is :class:`FtrlState`;
      its ``update`` needs ``params``.

    References:
      McMahan et al., 2013, Ad Click Prediction: a View from the Trenches,
      Algorithm 1, https://doi.org/10.1145/2487575.2488200
    """
    where = "scale_by_ftrl"
    _checks.check_positive("learning_rate", learning_rate, schedule=True, where=where)
    _checks.check_in_range("learning_rate_power", learning_rate_power, -float("inf"), 0.0, where=where)
    _checks.check_non_negative("initial_accumulator_value", initial_accumulator_value, where=where)
    _checks.check_non_negative("l1_regularization_strength", l1_regularization_strength, where=where)
    _checks.check_non_negative("l2_regularization_strength", l2_regularization_strength, where=where)
    _checks.check_non_negative(
        "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, where=where
    )
    _checks.check_non_negative("beta", beta, where=where)

    def init_fn(params):
        _checks.check_params(params, where)
        return FtrlState(
            count=jnp.zeros([], jnp.int32),
            z=_tree.zeros_like(params),
            n=_tree.full_like(params, initial_accumulator_value),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(
                f"{where}.update needs the current parameters: FTRL computes the new weights from its "
                "state and returns their difference to `params`; call `update(updates, state, params)`"
            )
        _checks.check_state(state, FtrlState, where)
        _checks.check_updates(updates, state.n, where)
        if callable(learning_rate):
            lr = _checks.check_scalar_value("learning_rate", learning_rate(state.count), where=where)
        else:
            lr = learning_rate
        power = -learning_rate_power
        # A product with 1 / lr, not a division by lr: under jit XLA turns a division by a
        # constant into that product, but not one by an injected value, and the two would
        # differ in the last bit.
        inv_lr = 1 / lr
        l1 = l1_regularization_strength
        two_l2 = 2 * (l2_regularization_strength + beta / (2 * lr))
        two_shrink = 2 * l2_shrinkage_regularization_strength

        def root(x):
            """``x ** power``: a square root at the default power (cheaper than a power, as in TF's kernel)."""
            if not _checks.is_deferred(power):
                return jnp.sqrt(x) if float(power) == 0.5 else x**power
            return jnp.where(power == 0.5, jnp.sqrt(x), x**power)  # an injected power

        def leaf(g, w, z, n):
            g32, w32, z32, n32 = _widen(g), _widen(w), _widen(z), _widen(n)
            present = g32 != 0
            n_new = n32 + g32 * g32
            n_new_pow = root(n_new)
            sigma = (n_new_pow - root(n32)) * inv_lr
            z_new = z32 + (g32 + two_shrink * w32) - sigma * w32
            quadratic = n_new_pow * inv_lr + two_l2
            # Keras' (clip(z, -l1, l1) - z) / quadratic, with l1 in Python operators only.
            w_new = jnp.where(jnp.abs(z_new) > l1, jnp.sign(z_new) * l1 - z_new, 0) / quadratic
            u = jnp.where(present, w_new - w32, 0)
            z_out = jnp.where(present, z_new, z32)
            n_out = jnp.where(present, n_new, n32)
            return u.astype(g.dtype), z_out.astype(z.dtype), n_out.astype(n.dtype)

        new_updates, z, n = _tree.map_unzip(leaf, updates, params, state.z, state.n, num_outputs=3)
        return new_updates, FtrlState(count=_tree.safe_increment(state.count), z=z, n=n)

    return GradientTransformation(init_fn, update_fn)
