"""ACProp: AdaBelief's centred second moment, used one step late (asynchronously)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, MaskOrFn, ScalarOrSchedule
from gdtransforms._core._combine import chain
from gdtransforms._core._moments import bias_correction_factor
from gdtransforms._transforms._belief import ScaleByBeliefState
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate

__all__ = ["ScaleByBeliefState", "acprop", "scale_by_acprop"]


def scale_by_acprop(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
) -> GradientTransformation:
    r"""Divides each gradient by the root of the previous step's centred second moment.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1 - \beta_2) (g_t - m_{t-1})^2 + \epsilon_{root}, \\
        u_t = \frac{g_t}{\sqrt{s_{t-1} / (1 - \beta_2^{t-1})} + \epsilon}
        \quad (t > 1), \qquad u_1 = \frac{g_1}{1 + \epsilon}.

    The denominator only uses gradients before :math:`g_t` (the asynchronous
    update of the paper); on the first step it is 1.

    Args:
      b1: :math:`\beta_1` in [0, 1), the decay of the gradients' average.
      b2: :math:`\beta_2` in [0, 1), the decay of the prediction error's average.
      eps: :math:`\epsilon \ge 0`, added to the denominator.
      eps_root: :math:`\epsilon_{root} \ge 0`, added to the second moment at
        every step.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByBeliefState`.

    References:
      Zhuang et al., 2021, Momentum Centering and Asynchronous Update for
      Adaptive Gradient Methods, https://arxiv.org/abs/2110.05454
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_eps_pair(eps, eps_root)

    def init_fn(params):
        _checks.check_params(params, "scale_by_acprop")
        zeros = _tree.zeros_like(params)
        return ScaleByBeliefState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=_tree.zeros_like(params))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByBeliefState, "scale_by_acprop")
        _checks.check_updates(updates, state.mu, "scale_by_acprop")
        first = state.count == 0
        count = _tree.safe_increment(state.count)
        # The previous step's correction; the first step divides by 1 instead.
        correction = bias_correction_factor(b2, jnp.where(first, count, state.count))

        def leaf(g, mu, nu):
            new_mu = (1 - b1) * g + b1 * mu
            new_nu = (1 - b2) * _tree.abs_sq(g - mu) + b2 * nu + eps_root
            nu_hat = jnp.where(first, 1, nu / correction.astype(nu.dtype))
            return g / (jnp.sqrt(nu_hat) + eps), new_mu, new_nu

        updates, mu, nu = _tree.map_unzip(leaf, updates, state.mu, state.nu, num_outputs=3)
        return updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def acprop(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""ACProp: :func:`scale_by_acprop`, coupled weight decay, then the learning rate.

    .. math:: \theta_{t} = \theta_{t-1} - \alpha_t \left( u_t + \lambda\, \theta_{t-1} \right)

    with :math:`u_t` from :func:`scale_by_acprop`.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon`, added to the denominator.
      eps_root: :math:`\epsilon_{root}`, added to the second moment.
      weight_decay: :math:`\lambda \ge 0`, multiplied by the learning rate.
      mask: a tree of bools (or a function of params) choosing the leaves to decay.

    Returns:
      A :class:`GradientTransformation`.

    References:
      Zhuang et al., 2021, https://arxiv.org/abs/2110.05454

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.acprop(learning_rate=0.1)
      >>> params = jnp.zeros(2)
      >>> updates, _ = opt.update(jnp.array([2.0, -3.0]), opt.init(params), params)
      >>> updates  # the first step divides by 1: -alpha * g
      Array([-0.2,  0.3], dtype=float32)
    """
    return chain(
        scale_by_acprop(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
