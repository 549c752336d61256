"""ADOPT: Adam with the current gradient left out of its own normalisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule
from gdtransforms._core._combine import chain
from gdtransforms._transforms._adam import ScaleByAdamState
from gdtransforms._transforms._scale import scale_by_learning_rate

__all__ = ["adopt", "scale_by_adopt"]


def _quarter_power(count: jax.Array) -> jax.Array:
    return count**0.25


def scale_by_adopt(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
) -> GradientTransformation:
    r"""Normalises each gradient by the second moment of the gradients before it.

    .. math::
        n_t = \operatorname{clip}_{c(t-1)}\!\left(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)}\right), \qquad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, n_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad u_t = m_t

    for :math:`t > 1`; the first step only sets :math:`v_1 = g_1^2` (and
    returns :math:`u_1 = m_1 = 0`). :math:`\operatorname{clip}_c` clips to
    :math:`[-c, c]`, with :math:`c(t) = t^{1/4}` by default; with
    ``nesterov`` the update is :math:`\beta_1 m_t + (1 - \beta_1) n_t`.

    Args:
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon > 0`, the floor of the denominator.
      mu_dtype: optional dtype of the first moment.
      nesterov: use the Nesterov form of the update.
      use_clipping: clip the normalised gradient to :math:`[-c, c]`.
      clip_value_fn: :math:`c`, a function of the number of previous steps.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`~gdtransforms.ScaleByAdamState`.

    References:
      Taniguchi et al., 2024, ADOPT: Modified Adam Can Converge with Any
      beta2 with the Optimal Rate, https://arxiv.org/abs/2411.02853
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_positive("eps", eps)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)
    if use_clipping and not callable(clip_value_fn):
        raise TypeError(f"`clip_value_fn` must be a function of the step count, got {clip_value_fn!r}")

    def init_fn(params):
        _checks.check_params(params, "scale_by_adopt")
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32), mu=_tree.zeros_like(params, mu_dtype), nu=_tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByAdamState, "scale_by_adopt")
        _checks.check_updates(updates, state.mu, "scale_by_adopt")
        # On the first step nu becomes g^2 and mu stays 0 (as the paper's init).
        # Decays as weakly typed float32 (as optax's jnp.where), built with
        # Python operators so that injected hyperparameters stay exact.
        later = jnp.where(state.count > 0, 1.0, 0.0)
        b1_t = b1 * later + (1 - later)
        b2_t = b2 * later
        bound = clip_value_fn(state.count) if use_clipping else None

        def leaf(g, mu, nu):
            new_nu = (1 - b2_t) * (g**2) + b2_t * nu
            root = jnp.sqrt(nu)
            normalised = g / jnp.maximum(root, eps + jnp.zeros_like(root))
            if bound is not None:
                normalised = jnp.clip(normalised, -bound, bound)
            new_mu = (1 - b1_t) * normalised + b1_t * mu
            u = (1 - b1_t) * normalised + b1_t * new_mu if nesterov else new_mu
            return u, _tree.cast(new_mu, mu_dtype), new_nu

        updates, mu, nu = _tree.map_unzip(leaf, updates, state.mu, state.nu, num_outputs=3)
        return updates, ScaleByAdamState(count=_tree.safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def adopt(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
) -> GradientTransformation:
    r"""ADOPT: :func:`scale_by_adopt` then the learning rate.

    .. math:: \theta_t = \theta_{t-1} - \alpha_t\, m_t

    Args:
      learning_rate: :math:`\alpha`, a number >= 0 or a schedule.
      b1: :math:`\beta_1` in [0, 1).
      b2: :math:`\beta_2` in [0, 1).
      eps: :math:`\epsilon > 0`, the floor of the denominator.
      mu_dtype: optional dtype of the first moment.
      nesterov: use the Nesterov form of the update.
      use_clipping: clip the normalised gradient (recommended from scratch).
      clip_value_fn: the clipping bound as a function of the step count.

    Returns:
      A :class:`GradientTransformation`.

    References:
      Taniguchi et al., 2024, https://arxiv.org/abs/2411.02853

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.adopt(learning_rate=0.1)
      >>> params, state = jnp.zeros(2), opt.init(jnp.zeros(2))
      >>> u1, state = opt.update(jnp.array([2.0, -4.0]), state)  # only records g^2
      >>> u2, state = opt.update(jnp.array([2.0, -4.0]), state)  # -alpha (1 - b1) g / |g|
      >>> bool((u1 == 0).all()), u2
      (True, Array([-0.01,  0.01], dtype=float32))
    """
    return chain(
        scale_by_adopt(
            b1=b1,
            b2=b2,
            eps=eps,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            use_clipping=use_clipping,
            clip_value_fn=clip_value_fn,
        ),
        scale_by_learning_rate(learning_rate),
    )
