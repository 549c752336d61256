"""A diagonal Gaussian parameterised by its mean and log standard deviation."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

__all__ = ["MultiNormalDiagFromLogScale", "multi_normal"]


class MultiNormalDiagFromLogScale:
    r"""A Gaussian :math:`\mathcal N(\mu, \operatorname{diag}(e^{2s}))` exposing :math:`(\mu, s)`.

    Args:
      loc: the mean :math:`\mu`.
      log_scale: :math:`s`, the log of the standard deviation (broadcast with ``loc``).
    """

    def __init__(self, loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike) -> None:
        self._log_scale = jnp.asarray(log_scale)
        self._scale = jnp.exp(log_scale)
        self._mean = jnp.asarray(loc)
        self._param_shape = jax.lax.broadcast_shapes(self._mean.shape, self._scale.shape)

    def sample(self, shape: Sequence[int], key: jax.Array) -> jax.Array:
        """Samples of shape ``shape + param_shape``: :math:`\\mu + e^s \\varepsilon`."""
        full = (*shape, *self._param_shape)
        noise = jax.random.normal(key, shape=full)
        return noise * jnp.broadcast_to(self._scale, full) + jnp.broadcast_to(self._mean, full)

    def log_prob(self, x: jax.typing.ArrayLike) -> jax.Array:
        """The log density of ``x``, summed over the parameter axes."""
        per_coordinate = norm.logpdf(x, loc=self._mean, scale=self._scale)
        axes = [-(i + 1) for i in range(len(self._param_shape))]
        return jnp.sum(per_coordinate, axis=axes)

    @property
    def log_scale(self) -> jax.Array:
        return self._log_scale

    @property
    def params(self) -> Sequence[jax.Array]:
        return [self._mean, self._log_scale]


def multi_normal(loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike) -> MultiNormalDiagFromLogScale:
    """A diagonal Gaussian with mean ``loc`` and standard deviation ``exp(log_scale)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> dist = gdt.multi_normal(jnp.zeros(2), jnp.zeros(2))
      >>> dist.sample((5,), jax.random.PRNGKey(0)).shape
      (5, 2)
    """
    return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)
