"""Adaptive optimizers beyond Adam: AdaBelief, AdaDelta, Adan, NovoGrad, RAdam, Yogi.

Each one only a ``chain`` of primitives, with no math of its own. Every
example below runs as written (the test suite runs them as doctests).
"""

from __future__ import annotations

import jax

from gdtransforms._core._base import GradientTransformation, MaskOrFn, ScalarOrSchedule
from gdtransforms._core._combine import chain
from gdtransforms._transforms._adadelta import scale_by_adadelta
from gdtransforms._transforms._adan import scale_by_adan
from gdtransforms._transforms._belief import scale_by_belief
from gdtransforms._transforms._novograd import scale_by_novograd
from gdtransforms._transforms._radam import scale_by_radam
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate
from gdtransforms._transforms._yogi import scale_by_yogi

__all__ = ["adabelief", "adadelta", "adan", "novograd", "radam", "yogi"]

ArrayLike = jax.typing.ArrayLike


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdaBelief: Adam scaled by the belief in the gradient (:func:`scale_by_belief`).

    .. math:: \theta \leftarrow \theta - \alpha\, \frac{\hat m}{\sqrt{\hat s} + \epsilon}

    with :math:`s` the average of :math:`(g - m)^2`. The paper's defaults are
    ``eps=1e-8, eps_root=0``; these are optax's.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon`, outside the root.
      eps_root: added to :math:`s` at every step.
      nesterov: use the look-ahead first moment.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adabelief(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([2.0, -3.0]), opt.init(jnp.zeros(2)))
      >>> # The first step: m = 0.1 g and s = 0.001 (0.9 g)^2, so -alpha * sign(g) / 0.9.
      >>> [round(float(u), 4) for u in updates]
      [-0.1111, 0.1111]

    References:
      Zhuang et al., 2020, https://arxiv.org/abs/2010.07468
    """
    return chain(
        scale_by_belief(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""AdaDelta (:func:`scale_by_adadelta`), with weight decay added to the gradient.

    .. math:: \theta \leftarrow \theta - \alpha\,
        \frac{\sqrt{E[u^2] + \epsilon}}{\sqrt{E[g^2] + \epsilon}}\, (g + \lambda \theta)

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule; ``None``
        leaves the AdaDelta step unscaled (but still ascent-signed, as optax).
      rho: :math:`\rho` in [0, 1).
      eps: :math:`\epsilon > 0`.
      weight_decay: :math:`\lambda \ge 0`, a number or a schedule.
      weight_decay_mask: which leaves to decay (a tree of bools or a function
        of params).

    Returns:
      A :class:`GradientTransformation`; its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adadelta(learning_rate=1.0, rho=0.9, eps=1e-6)
      >>> w = jnp.zeros(1)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(w), w)
      >>> print(f"{float(updates[0]):.6f}")  # -sqrt(1e-6) / sqrt(0.1 * 4 + 1e-6) * 2
      -0.003162

    References:
      Zeiler, 2012, https://arxiv.org/abs/1212.5701
    """
    return chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        scale_by_adadelta(rho=rho, eps=eps),
        scale_by_learning_rate(learning_rate),
    )


def adan(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Adan: adaptive Nesterov momentum (:func:`scale_by_adan`) with decoupled weight decay.

    .. math:: \theta \leftarrow \theta - \alpha \left(
        \frac{\hat m + (1 - \beta_2) \hat v}{\sqrt{\hat n + \epsilon_{root}} + \epsilon} + \lambda \theta \right)

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1), the gradient average's decay.
      b2: :math:`\beta_2` in [0, 1), the gradient difference average's decay.
      b3: :math:`\beta_3` in [0, 1), the squared term's decay.
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.
      weight_decay: :math:`\lambda \ge 0`, a number or a schedule.
      mask: which leaves to decay.

    Returns:
      A :class:`GradientTransformation`; its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adan(learning_rate=0.1)
      >>> w = jnp.zeros(2)
      >>> updates, _ = opt.update(jnp.array([2.0, -3.0]), opt.init(w), w)
      >>> [round(float(u), 4) for u in updates]  # the first step is about -alpha * sign(g)
      [-0.1, 0.1]

    References:
      Xie et al., 2022, https://arxiv.org/abs/2208.06677
    """
    return chain(
        scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.25,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""NovoGrad: layer-wise normalised gradients with momentum (:func:`scale_by_novograd`).

    .. math:: \theta \leftarrow \theta - \alpha\, m, \quad
        m \leftarrow \beta_1 m + \frac{g}{\sqrt{v + \epsilon_{root}} + \epsilon} + \lambda \theta

    with :math:`v` the average of each layer's squared gradient norm.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.
      weight_decay: :math:`\lambda \ge 0`.

    Returns:
      A :class:`GradientTransformation`; its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.novograd(learning_rate=0.1)
      >>> w = jnp.zeros(2)
      >>> updates, _ = opt.update(jnp.array([3.0, 4.0]), opt.init(w), w)
      >>> [round(float(u), 4) for u in updates]  # -alpha * g / ||g||
      [-0.06, -0.08]

    References:
      Ginsburg et al., 2019, https://arxiv.org/abs/1905.11286
    """
    return chain(
        scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay),
        scale_by_learning_rate(learning_rate),
    )


def radam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    threshold: ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""RAdam: Adam with its warm-up built in (:func:`scale_by_radam`).

    .. math:: \theta \leftarrow \theta - \alpha\, r_t \frac{\hat m}{\sqrt{\hat v} + \epsilon}
        \ \text{once } \rho_t \ge \text{threshold}, \text{ else } \theta - \alpha\, \hat m

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon`, outside the root.
      eps_root: :math:`\epsilon_{root}`, inside the root.
      threshold: the :math:`\rho_t` from which the adaptive step is used.
      nesterov: use the look-ahead first moment.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.radam(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([2.0, -3.0]), opt.init(jnp.zeros(2)))
      >>> [round(float(u), 4) for u in updates]  # early steps are momentum steps: -alpha * g
      [-0.2, 0.3]

    References:
      Liu et al., 2020, https://arxiv.org/abs/1908.03265
    """
    return chain(
        scale_by_radam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def yogi(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-3,
) -> GradientTransformation:
    r"""Yogi: Adam with an additive second moment (:func:`scale_by_yogi`).

    .. math:: \theta \leftarrow \theta - \alpha\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}, \quad
        v \leftarrow v - (1 - \beta_2) \operatorname{sign}(v - g^2) g^2

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon > 0`.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.yogi(learning_rate=0.1)
      >>> updates, _ = opt.update(jnp.array([2.0, -3.0]), opt.init(jnp.zeros(2)))
      >>> [round(float(u), 3) for u in updates]  # about -alpha * sign(g)
      [-0.1, 0.1]

    References:
      Zaheer et al., 2018, https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
    """
    return chain(scale_by_yogi(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))
