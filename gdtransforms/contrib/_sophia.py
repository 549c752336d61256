"""Sophia: momentum over a clipped diagonal-Hessian preconditioner, and Hutchinson's estimator."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import (
    GradientTransformation,
    Params,
    ScalarOrSchedule,
    Updates,
    require_params,
    with_extra_args_support,
)
from gdtransforms._core._combine import chain
from gdtransforms._core._flat_params import leafwise
from gdtransforms._core._moments import bias_correction, update_moment
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate

__all__ = ["HutchinsonState", "SophiaState", "hutchinson_estimator_diag_hessian", "scale_by_sophia", "sophia"]


class HutchinsonState(NamedTuple):
    """The random key of :func:`hutchinson_estimator_diag_hessian`."""

    key: jax.Array


def _lower(a: Any, b: Any) -> Any:
    if jnp.promote_types(a, b) == a:
        return b
    if jnp.promote_types(a, b) == b:
        return a
    raise ValueError(f"hutchinson_estimator_diag_hessian: params mix {a} and {b}, neither promotes to the other")


def hutchinson_estimator_diag_hessian(random_seed: jax.Array | None = None) -> GradientTransformation:
    r"""Estimates the Hessian's diagonal with Rademacher probes (Hutchinson).

    .. math:: \hat h = z \odot (\nabla^2 f(\theta)\, z), \qquad z_i = \pm 1,\quad
        \mathbb{E}[\hat h] = \mathrm{diag}\,\nabla^2 f(\theta)

    ``update`` needs ``params`` and the objective ``obj_fn(params) -> loss``;
    the incoming updates are ignored. Each call splits the key, then one key
    per leaf, as optax does, so the same key draws the same probes.

    Args:
      random_seed: the key (default ``jax.random.PRNGKey(0)``).

    Returns:
      A :class:`GradientTransformation` whose state is :class:`HutchinsonState`.

    References:
      Hutchinson, 1989, https://doi.org/10.1080/03610918908812806
    """

    def init_fn(params):
        del params
        return HutchinsonState(key=jax.random.PRNGKey(0) if random_seed is None else random_seed)

    def update_fn(updates, state, params=None, obj_fn=None, **extra_args):
        del updates, extra_args
        params = require_params(params)
        if obj_fn is None:
            raise ValueError("hutchinson_estimator_diag_hessian: `update` needs `obj_fn=` (params -> loss)")
        key, subkey = jax.random.split(state.key)
        leaves, treedef = jax.tree.flatten(params)
        keys = jax.random.split(subkey, len(leaves))
        low = functools.reduce(_lower, [jnp.asarray(x).dtype for x in leaves]) if leaves else jnp.float32
        signs = [
            jax.random.rademacher(k, jnp.shape(x), jnp.float32).astype(low).astype(jnp.asarray(x).dtype)
            for k, x in zip(keys, leaves)
        ]
        probe = treedef.unflatten(signs)
        hvp = jax.jvp(jax.grad(obj_fn), (params,), (probe,))[1]
        return jax.tree.map(operator.mul, hvp, probe), HutchinsonState(key=key)

    # One key per leaf: on flat buffers it draws per leaf view, as on the tree.
    return leafwise(GradientTransformation(init_fn, update_fn))


_DEFAULT_ESTIMATOR = hutchinson_estimator_diag_hessian()


class SophiaState(NamedTuple):
    """Sophia's step count, momentum, EMA of the Hessian diagonal and the estimator's state."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates
    nu: Updates
    hessian_fn_state: Any


def scale_by_sophia(
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: jax.typing.ArrayLike | None = 1.0,
    update_interval: jax.typing.ArrayLike = 10,
    hessian_diagonal_fn: GradientTransformation = _DEFAULT_ESTIMATOR,
    mu_dtype: Any | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: jax.typing.ArrayLike = 0,
) -> GradientTransformation:
    r"""Sophia's scaling: bias-corrected momentum over a clipped Hessian estimate.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        u_t = \mathrm{clip}\!\left(\frac{m_t / (1 - \beta_1^t)}{\max(\gamma h_{t-1}, \epsilon)}, \pm c\right), \\
        h_t = \beta_2 h_{t-1} + (1 - \beta_2)\, \hat h_t \ \text{every}\ k \text{-th step (from step 0)},

    where :math:`\hat h_t` comes from ``hessian_diagonal_fn`` (which gets the
    extra keyword arguments of ``update``, e.g. ``obj_fn``).

    Args:
      b1: :math:`\beta_1`.
      b2: :math:`\beta_2`.
      eps: :math:`\epsilon > 0`.
      gamma: :math:`\gamma`.
      clip_threshold: :math:`c`, or ``None`` for no clipping.
      update_interval: :math:`k`.
      hessian_diagonal_fn: the estimator (default Hutchinson's).
      mu_dtype: optional dtype of the momentum.
      verbose: print the share of unclipped entries every
        ``print_win_rate_every_n_steps`` steps.
      print_win_rate_every_n_steps: see ``verbose``.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`SophiaState`.

    References:
      Liu et al., 2023, https://arxiv.org/abs/2305.14342
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    _checks.check_positive("eps", eps)
    _checks.check_non_negative("gamma", gamma)
    if clip_threshold is not None:
        _checks.check_positive("clip_threshold", clip_threshold)
    if not _checks.is_deferred(update_interval):
        _checks.check_int_at_least("update_interval", update_interval, 1)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)
    hess = with_extra_args_support(hessian_diagonal_fn)

    def init_fn(params):
        _checks.check_params(params, "scale_by_sophia")
        return SophiaState(
            count=jnp.zeros([], jnp.int32),
            mu=_tree.zeros_like(params, mu_dtype),
            nu=_tree.zeros_like(params),
            hessian_fn_state=hess.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        params = require_params(params)
        _checks.check_state(state, SophiaState, "scale_by_sophia")
        _checks.check_updates(updates, state.nu, "scale_by_sophia")
        count = _tree.safe_increment(state.count)
        mu = update_moment(updates, state.mu, b1, 1)
        mu_hat = bias_correction(mu, b1, count)
        out = jax.tree.map(lambda m, h: m / jnp.maximum(gamma * h, eps), mu_hat, state.nu)
        if clip_threshold is not None:
            if verbose:
                kept = sum(jnp.sum(jnp.abs(u) < clip_threshold) for u in jax.tree.leaves(out))
                rate = kept / sum(jnp.size(u) for u in jax.tree.leaves(out))
                jax.lax.cond(
                    count % print_win_rate_every_n_steps == 0,
                    lambda: jax.debug.print("Sophia win rate (unclipped share): {}", rate),
                    lambda: None,
                )
            out = jax.tree.map(lambda u: jnp.clip(u, -clip_threshold, clip_threshold), out)

        def refresh(hess_state, nu):
            diag, hess_state = hess.update(updates, hess_state, params, **extra_args)
            return hess_state, update_moment(diag, nu, b2, 1)

        hess_state, nu = jax.lax.cond(
            state.count % update_interval == 0, refresh, lambda h, n: (h, n), state.hessian_fn_state, state.nu
        )
        return out, SophiaState(count=count, mu=_tree.cast(mu, mu_dtype), nu=nu, hessian_fn_state=hess_state)

    return GradientTransformation(init_fn, update_fn)


def sophia(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 1e-4,
    weight_decay_mask: Any | Callable[[Params], Any] | None = None,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: jax.typing.ArrayLike | None = 1.0,
    update_interval: jax.typing.ArrayLike = 10,
    hessian_diagonal_fn: GradientTransformation = _DEFAULT_ESTIMATOR,
    mu_dtype: Any | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: jax.typing.ArrayLike = 0,
) -> GradientTransformation:
    r"""Sophia: a clipped, diagonal second-order optimizer.

    .. math:: \theta_t = \theta_{t-1} - \eta\left(u_t + \lambda \theta_{t-1}\right)

    with :math:`u_t` from :func:`scale_by_sophia`. Pass the objective to
    ``update`` for the default estimator: ``opt.update(g, state, params,
    obj_fn=lambda p: loss(p, batch))``.

    Args:
      learning_rate: :math:`\eta`.
      b1: momentum decay.
      b2: decay of the Hessian-diagonal EMA (updated every ``update_interval`` steps).
      eps: floor of the denominator.
      weight_decay: :math:`\lambda`.
      weight_decay_mask: which leaves to decay.
      gamma: scale of the Hessian estimate.
      clip_threshold: clip of the preconditioned step, or ``None``.
      update_interval: steps between Hessian estimates.
      hessian_diagonal_fn: the estimator (default :func:`hutchinson_estimator_diag_hessian`).
      mu_dtype: optional dtype of the momentum.
      verbose: print the win rate.
      print_win_rate_every_n_steps: how often.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> loss = lambda p: jnp.sum(p["w"] ** 2)
      >>> params = {"w": jnp.array([1.0, -2.0])}
      >>> opt = gdt.contrib.sophia(learning_rate=0.1, weight_decay=0.0)
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.array([2.0, -4.0])}, state, params, obj_fn=loss)
      >>> updates["w"]  # h is still 0 at the first step: the clip decides
      Array([-0.1,  0.1], dtype=float32)

    References:
      Liu et al., 2023, https://arxiv.org/abs/2305.14342
    """
    return chain(
        scale_by_sophia(
            b1=b1,
            b2=b2,
            eps=eps,
            gamma=gamma,
            clip_threshold=clip_threshold,
            update_interval=update_interval,
            hessian_diagonal_fn=hessian_diagonal_fn,
            mu_dtype=mu_dtype,
            verbose=verbose,
            print_win_rate_every_n_steps=print_win_rate_every_n_steps,
        ),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
