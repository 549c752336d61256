"""FTRL-Proximal as an optimizer (Keras' ``Ftrl``; optax has none)."""

from __future__ import annotations

import jax

from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule
from gdtransforms._transforms._ftrl import scale_by_ftrl

__all__ = ["ftrl"]

ArrayLike = jax.typing.ArrayLike


def ftrl(
    learning_rate: ScalarOrSchedule = 0.001,
    learning_rate_power: ArrayLike = -0.5,
    initial_accumulator_value: ArrayLike = 0.1,
    l1_regularization_strength: ArrayLike = 0.0,
    l2_regularization_strength: ArrayLike = 0.0,
    l2_shrinkage_regularization_strength: ArrayLike = 0.0,
    beta: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""FTRL-Proximal with L1 and L2 regularisation, as Keras' ``Ftrl``.

    Follow-the-regularised-leader keeps, per coordinate, a linear term
    :math:`z` and a sum of squared gradients :math:`n`, and solves for the
    weight in closed form at every step (:func:`scale_by_ftrl` has the rule):

    .. math::
        w_{t+1} = \arg\min_w\; z_t w + \lambda_1 |w|
          + \tfrac12 \big((\beta + n_t^{-p}) / \alpha + 2 \lambda_2\big) w^2

    so an L1 strength :math:`\lambda_1 > 0` gives exact zeros, the reason it
    is used for large sparse linear models (click prediction). Coordinates
    with a zero gradient keep their state and weight (sparse features that do
    not occur in a batch are not touched). Same arguments and defaults as
    Keras; the update already holds the learning rate and needs ``params``.

    Args:
      learning_rate: :math:`\alpha > 0`, a number or a schedule.
      learning_rate_power: :math:`p \le 0` (-0.5: AdaGrad-like rates).
      initial_accumulator_value: :math:`n_0 \ge 0`.
      l1_regularization_strength: :math:`\lambda_1 \ge 0`.
      l2_regularization_strength: :math:`\lambda_2 \ge 0`.
      l2_shrinkage_regularization_strength: :math:`\lambda_s \ge 0`, an L2
        penalty on the weights added to the gradient of the linear term.
      beta: :math:`\beta \ge 0`.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`FtrlState`;
      call ``update(grads, state, params)``.

    References:
      McMahan et al., 2013, Ad Click Prediction: a View from the Trenches,
      https://doi.org/10.1145/2487575.2488200

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.ftrl(learning_rate=1.0, initial_accumulator_value=0.0,
      ...                l1_regularization_strength=1.0)
      >>> w = jnp.zeros(3)
      >>> updates, state = opt.update(jnp.array([2.0, -0.5, 0.0]), opt.init(w), w)
      >>> updates  # |z| = 2 > l1: w = -(z - l1) / (sqrt(n) / lr); |z| <= l1: exactly 0
      Array([-0.5,  0. ,  0. ], dtype=float32)
    """
    return scale_by_ftrl(
        learning_rate=learning_rate,
        learning_rate_power=learning_rate_power,
        initial_accumulator_value=initial_accumulator_value,
        l1_regularization_strength=l1_regularization_strength,
        l2_regularization_strength=l2_regularization_strength,
        l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
        beta=beta,
    )
