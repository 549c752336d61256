"""Optimizers of the notes' first lectures: SGD, both momentum forms, AdaGrad, RMSprop.

Each one only a ``chain`` of primitives, with no math of its own. Every
example below runs as written (the test suite runs them as doctests).
"""

from __future__ import annotations

from typing import Any

import jax

from gdtransforms._core import _checks
from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule, identity
from gdtransforms._core._combine import chain
from gdtransforms._transforms._accumulation import ema, trace
from gdtransforms._transforms._adaptive import scale_by_rms, scale_by_rss, scale_by_stddev
from gdtransforms._transforms._scale import scale_by_learning_rate

__all__ = ["adagrad", "ema_momentum", "rmsprop", "sgd"]

ArrayLike = jax.typing.ArrayLike


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum.

    .. math::
        v \leftarrow \mu v + g, \qquad \theta \leftarrow \theta - \eta v

    the heavy-ball form of docs/notes.md §3 (``momentum=None``: plain
    :math:`\theta \leftarrow \theta - \eta g`). For the EMA form
    :math:`v \leftarrow \beta v + (1 - \beta) g` see :func:`ema_momentum`;
    the two differ only by a rescaled learning rate, :math:`\eta_{ema} = \eta / (1 - \beta)`.

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      momentum: :math:`\mu` in [0, 1), or ``None`` for no momentum.
      nesterov: use Nesterov's accelerated gradient (docs/notes.md §4).
      accumulator_dtype: optional dtype of the momentum buffer.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda w: jnp.sum(w**2 / 20.0 * jnp.array([1.0, 20.0]))
      >>> opt = gdt.sgd(learning_rate=0.1, momentum=0.9)
      >>> w = jnp.array([-7.0, 2.0]); state = opt.init(w)
      >>> for _ in range(300):
      ...     updates, state = opt.update(jax.grad(f)(w), state)
      ...     w = gdt.apply_updates(w, updates)
      >>> print(f"{float(f(w)):.4f}")
      0.0000
    """
    if momentum is not None:
        _checks.check_decay("momentum", momentum)  # Named as the caller knows it.
    momentum_tx = (
        identity()
        if momentum is None
        else trace(decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
    )
    return chain(momentum_tx, scale_by_learning_rate(learning_rate))


def ema_momentum(
    learning_rate: ScalarOrSchedule,
    beta: ArrayLike = 0.9,
    debias: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Momentum in the EMA form of Andrew Ng's lectures (docs/notes.md §3).

    .. math::
        v \leftarrow \beta v + (1 - \beta) g, \qquad \theta \leftarrow \theta - \alpha v

    Usually without bias correction. It equals heavy-ball :func:`sgd` with
    ``momentum=beta`` and learning rate :math:`\alpha (1 - \beta)`.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      beta: :math:`\beta` in [0, 1).
      debias: divide :math:`v` by :math:`1 - \beta^t`.
      accumulator_dtype: optional dtype of :math:`v`.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.ema_momentum(learning_rate=1.0, beta=0.9)
      >>> state = opt.init(jnp.zeros(1))
      >>> updates, state = opt.update(jnp.ones(1), state)
      >>> updates  # -(1 - 0.9) * 1
      Array([-0.1], dtype=float32)
    """
    _checks.check_decay("beta", beta)
    return chain(
        ema(decay=beta, debias=debias, accumulator_dtype=accumulator_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
) -> GradientTransformation:
    r"""AdaGrad (docs/notes.md §5).

    .. math:: h \leftarrow h + g^2, \qquad \theta \leftarrow \theta - \eta\, g / \sqrt{h + \epsilon}

    Args:
      learning_rate: :math:`\eta`, a number >= 0 or a schedule.
      initial_accumulator_value: :math:`h_0 \ge 0`.
      eps: :math:`\epsilon \ge 0`.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adagrad(learning_rate=1.0, initial_accumulator_value=0.0, eps=0.0)
      >>> updates, _ = opt.update(jnp.array([3.0, -4.0]), opt.init(jnp.zeros(2)))
      >>> updates  # the first step is -eta * sign(g)
      Array([-1.,  1.], dtype=float32)
    """
    return chain(
        scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
        scale_by_learning_rate(learning_rate),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""RMSprop (docs/notes.md §6), optionally centered and with momentum.

    .. math::
        S \leftarrow \beta S + (1 - \beta) g^2, \qquad
        \theta \leftarrow \theta - \alpha\, g / \sqrt{S + \epsilon}

    ``centered`` subtracts the squared mean gradient from :math:`S`;
    ``momentum`` adds a heavy-ball trace after the learning rate.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      decay: :math:`\beta` in [0, 1).
      eps: :math:`\epsilon > 0`.
      initial_scale: :math:`S_0 \ge 0`.
      eps_in_sqrt: put :math:`\epsilon` inside the root (else outside).
      centered: use :func:`scale_by_stddev` instead of :func:`scale_by_rms`.
      momentum: heavy-ball momentum in [0, 1), or ``None``.
      nesterov: Nesterov momentum (with ``momentum``).
      bias_correction: bias-correct the averages.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.rmsprop(learning_rate=0.01)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
      >>> [round(float(u), 5) for u in updates]  # -0.01 * 2 / sqrt(0.1 * 4)
      [-0.03162]
    """
    if momentum is not None:
        _checks.check_decay("momentum", momentum)
    scaling = scale_by_stddev if centered else scale_by_rms
    return chain(
        scaling(
            decay=decay,
            eps=eps,
            initial_scale=initial_scale,
            eps_in_sqrt=eps_in_sqrt,
            bias_correction=bias_correction,
        ),
        scale_by_learning_rate(learning_rate),
        identity() if momentum is None else trace(decay=momentum, nesterov=nesterov),
    )
