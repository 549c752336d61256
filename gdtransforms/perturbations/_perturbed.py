"""Smoothing a function by random perturbations of its input (a Monte-Carlo, score-function estimator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gdtransforms._core._tree_math import tree_add_scale, tree_scale, tree_sum
from gdtransforms._core._tree_random import tree_random_like

__all__ = ["Gumbel", "Normal", "make_perturbed_fun"]


class Normal:
    r"""The standard normal noise, with log-density :math:`\log p(z) = -z^2/2` (up to a constant)."""

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = (), dtype: Any = float) -> jax.Array:
        """Draws ``jax.random.normal(key, sample_shape, dtype)``."""
        return jax.random.normal(key, sample_shape, dtype)

    def log_prob(self, inputs: jax.Array) -> jax.Array:
        """The unnormalised log-density, elementwise."""
        return -0.5 * inputs**2


class Gumbel:
    r"""The standard Gumbel noise, with log-density :math:`\log p(z) = -z - e^{-z}`."""

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = (), dtype: Any = float) -> jax.Array:
        """Draws ``jax.random.gumbel(key, sample_shape, dtype)``."""
        return jax.random.gumbel(key, sample_shape, dtype)

    def log_prob(self, inputs: jax.Array) -> jax.Array:
        """The log-density, elementwise."""
        return -inputs - jnp.exp(-inputs)


def _magic_box(x: jax.Array) -> jax.Array:
    """1 in value, with the derivative of :math:`e^{x}`: the DiCE operator."""
    return jnp.exp(x - jax.lax.stop_gradient(x))


def make_perturbed_fun(
    fun: Callable[[Any], Any],
    num_samples: int = 1000,
    sigma: jax.typing.ArrayLike = 0.1,
    noise: Any = Gumbel(),  # noqa: B008 - stateless, shared default as in optax
    use_baseline: bool = True,
) -> Callable[[jax.Array, Any], Any]:
    r"""A stochastic, differentiable estimate of a smoothed ``fun``.

    .. math:: f_\sigma(x) = \mathbb{E}_{z \sim \mu}\, f(x + \sigma z)
        \approx \frac{1}{N} \sum_{k=1}^{N} f(x + \sigma z_k)

    Only values of ``fun`` are used, so ``fun`` need not be differentiable.
    Each sample is weighted by the magic box of its log-density,
    :math:`\square(\ell_k) = e^{\ell_k - \bot(\ell_k)}` with
    :math:`\ell_k = \sum \log\mu\big((y_k - x)/\sigma\big)` and
    :math:`y_k = \bot(x + \sigma z_k)`, which is 1 in value and whose
    derivatives give the score-function (REINFORCE) estimates of every
    derivative of :math:`f_\sigma`. With ``use_baseline``, each term is
    :math:`\square(\ell_k) f(y_k) + (1 - \square(\ell_k)) f(x)`, the same value
    with less variance in the derivatives.

    Args:
      fun: a function from a tree of arrays to a tree of arrays.
      num_samples: :math:`N`, the number of perturbations averaged.
      sigma: :math:`\sigma`, the scale of the perturbation.
      noise: the distribution :math:`\mu`, an object with ``sample(key, shape,
        dtype)`` and ``log_prob(z)`` (:class:`Gumbel` by default, or
        :class:`Normal`).
      use_baseline: subtract the unperturbed value as a control variate.

    Returns:
      ``perturbed(key, x)``: the estimate of :math:`f_\sigma(x)`; the sample
      ``k`` uses the noise :func:`tree_random_like` draws from the ``k``-th key
      of ``jax.random.split(key, num_samples)``.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> smooth_relu = gdt.perturbations.make_perturbed_fun(lambda x: jnp.maximum(x, 0.0), 2000, 0.5)
      >>> float(jax.grad(smooth_relu, argnums=1)(jax.random.key(0), 3.0)) > 0.9
      True

    References:
      Berthet et al., `Learning with Differentiable Perturbed Optimizers
      <https://arxiv.org/abs/2002.08676>`_, 2020;
      Foerster et al., `DiCE: The Infinitely Differentiable Monte Carlo
      Estimator <https://arxiv.org/abs/1802.05098>`_, 2018.
    """

    def one_sample(key: jax.Array, x: Any, baseline: Any) -> Any:
        z = tree_random_like(key, x, sampler=noise.sample)
        y = jax.lax.stop_gradient(jax.tree.map(lambda xi, zi: xi + sigma * zi, x, z))
        # z recomputed from y so that it depends on x: d z / d x = -1 / sigma.
        z_of_x = jax.tree.map(lambda xi, yi: (yi - xi) / sigma, x, y)
        box = _magic_box(tree_sum(jax.tree.map(noise.log_prob, z_of_x)))  # type: ignore[arg-type]
        value = tree_scale(box, fun(y))
        if use_baseline:
            value = tree_add_scale(value, 1 - box, baseline)
        return value

    def perturbed(key: jax.Array, x: Any) -> Any:
        baseline = fun(jax.lax.stop_gradient(x)) if use_baseline else None
        keys = jax.random.split(key, num_samples)
        values = jax.vmap(one_sample, in_axes=(0, None, None))(keys, x, baseline)
        return jax.tree.map(lambda v: jnp.mean(v, axis=0), values)

    return perturbed
