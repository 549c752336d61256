"""Optimistic gradient methods, Polyak's step size and noisy SGD.

Each one only a ``chain`` of primitives, with no math of its own. Every
example below runs as written (the test suite runs them as doctests).
"""

from __future__ import annotations

import warnings
from typing import Any

import jax

from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule
from gdtransforms._core._combine import chain
from gdtransforms._optimizers._alias import sgd
from gdtransforms._transforms._adam import scale_by_adam
from gdtransforms._transforms._noise import add_noise
from gdtransforms._transforms._optimistic import scale_by_optimistic_gradient
from gdtransforms._transforms._scale import scale_by_learning_rate
from gdtransforms._transforms._step_size import scale_by_polyak

__all__ = [
    "noisy_sgd",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "polyak_sgd",
]

ArrayLike = jax.typing.ArrayLike


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
) -> GradientTransformation:
    r"""Optimistic gradient descent (:func:`scale_by_optimistic_gradient`).

    .. math:: \theta \leftarrow \theta - \eta \big((\alpha + \beta) g_t - \beta g_{t-1}\big)

    For saddle-point problems :math:`\min_x \max_y f(x, y)`: descend in
    :math:`x` with :math:`g = \nabla_x f` and ascend in :math:`y` with
    :math:`g = -\nabla_y f`.

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      alpha: :math:`\alpha \ge 0`.
      beta: :math:`\beta \ge 0`.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.optimistic_gradient_descent(learning_rate=0.1)
      >>> state = opt.init(jnp.zeros(1))
      >>> u1, state = opt.update(jnp.array([1.0]), state)
      >>> u2, state = opt.update(jnp.array([3.0]), state)
      >>> [round(float(u1[0]), 4), round(float(u2[0]), 4)]  # -0.1 * 1, -0.1 * (2 * 3 - 1)
      [-0.1, -0.5]

    References:
      Mokhtari et al., 2019, https://arxiv.org/abs/1901.08511
    """
    return chain(scale_by_optimistic_gradient(alpha=alpha, beta=beta), scale_by_learning_rate(learning_rate))  # type: ignore[arg-type]


def optimistic_adam(
    learning_rate: ArrayLike,
    optimism: ArrayLike | None = None,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam, first form (deprecated: use :func:`optimistic_adam_v2`).

    .. math:: \theta \leftarrow \theta - \big((\eta + o)\, a_t - o\, a_{t-1}\big)

    where :math:`a_t` is the Adam direction (NAdam's by default) and
    :math:`o` the optimism (the learning rate when ``None``). The learning
    rate cannot be a schedule here.

    Args:
      learning_rate: :math:`\eta \ge 0`, a number.
      optimism: :math:`o \ge 0`, or ``None`` for :math:`\eta`.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.
      mu_dtype: optional dtype of the first moment.
      nesterov: use NAdam's look-ahead first moment.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import warnings
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> with warnings.catch_warnings():
      ...     warnings.simplefilter("ignore", DeprecationWarning)
      ...     opt = gdt.optimistic_adam(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
      >>> updates.shape
      (1,)

    References:
      Daskalakis et al., 2018, https://arxiv.org/abs/1711.00141
    """
    warnings.warn(
        "`optimistic_adam` is deprecated; use `optimistic_adam_v2` instead.", category=DeprecationWarning, stacklevel=2
    )
    if callable(learning_rate):
        raise ValueError(
            "`learning_rate` of `optimistic_adam` cannot be a schedule; `optimistic_adam_v2` takes schedules"
        )
    if optimism is None:
        optimism = learning_rate
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
        scale_by_learning_rate(1.0),
    )


def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: ArrayLike = 1.0,
    beta: ArrayLike = 1.0,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam: the optimistic step on Adam's direction.

    .. math:: \theta \leftarrow \theta - \eta \big((\alpha + \beta) a_t - \beta a_{t-1}\big)

    where :math:`a_t` is the Adam direction (NAdam's by default).

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      alpha: :math:`\alpha \ge 0`.
      beta: :math:`\beta \ge 0`, the optimism.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.
      mu_dtype: optional dtype of the first moment.
      nesterov: use NAdam's look-ahead first moment.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.optimistic_adam_v2(learning_rate=0.1, nesterov=False)
      >>> updates, _ = opt.update(jnp.array([2.0, -3.0]), opt.init(jnp.zeros(2)))
      >>> [round(float(u), 4) for u in updates]  # the first step is -eta * alpha * sign(g)
      [-0.1, 0.1]

    References:
      Daskalakis et al., 2018, https://arxiv.org/abs/1711.00141
    """
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )


def polyak_sgd(
    max_learning_rate: ArrayLike = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: ArrayLike = 0.0,
    eps: ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""SGD with Polyak's step size (:func:`scale_by_polyak`).

    .. math:: \theta \leftarrow \theta - \min\left(\frac{f(\theta) - f^\star}{\|s g\|^2 + \epsilon},
        \gamma_{max}\right) s\, g

    ``update`` takes the loss as the keyword argument ``value``.

    Args:
      max_learning_rate: :math:`\gamma_{max} \ge 0`.
      scaling: :math:`s`, a number >= 0 or a schedule.
      f_min: :math:`f^\star`, a lower bound on the loss.
      eps: :math:`\epsilon \ge 0`.
      variant: ``"sps"`` or ``"sps+"`` (the gap clamped at 0).

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda w: jnp.sum(w**2)
      >>> opt = gdt.polyak_sgd()
      >>> w = jnp.array([1.0, 2.0])
      >>> updates, _ = opt.update(jax.grad(f)(w), opt.init(w), w, value=f(w))
      >>> updates  # step 5 / 20 = 0.25: -0.25 * g
      Array([-0.5, -1. ], dtype=float32)

    References:
      Loizou et al., 2021, https://arxiv.org/abs/2002.10542
    """
    return chain(
        sgd(learning_rate=scaling),
        scale_by_polyak(max_learning_rate=max_learning_rate, f_min=f_min, eps=eps, variant=variant),
    )


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: ArrayLike = 0.01,
    gamma: ArrayLike = 0.55,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    r"""SGD on gradients with annealed Gaussian noise (:func:`add_noise`).

    .. math:: \theta \leftarrow \theta - \alpha\,(g_t + \sigma_t \xi_t), \quad
        \sigma_t^2 = \eta / t^{\gamma}, \ \xi_t \sim \mathcal{N}(0, I)

    The same key gives the same noise as optax's ``noisy_sgd``.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      eta: :math:`\eta \ge 0`, the initial variance.
      gamma: :math:`\gamma \ge 0`, the annealing exponent.
      key: a ``jax.random.key`` or an integer seed.
      seed: deprecated, use ``key``.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.noisy_sgd(learning_rate=0.1, eta=0.0, key=jax.random.key(0))
      >>> updates, _ = opt.update(jnp.array([1.0]), opt.init(jnp.zeros(1)))
      >>> updates  # eta = 0: no noise
      Array([-0.1], dtype=float32)

    References:
      Neelakantan et al., 2015, https://arxiv.org/abs/1511.06807
    """
    return chain(add_noise(eta, gamma, key, seed=seed), scale_by_learning_rate(learning_rate))
