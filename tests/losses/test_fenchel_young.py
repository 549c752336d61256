"""Fenchel-Young losses built from max functions."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

import gdtransforms as gdt


def test_logsumexp_gives_the_softmax_cross_entropy():
    # logsumexp([0, ln 3]) - <[0, 1], [0, ln 3]> = ln 4 - ln 3.
    fy = gdt.losses.make_fenchel_young_loss(logsumexp)
    x, y = jnp.array([[0.0, math.log(3.0)]]), jnp.array([[0.0, 1.0]])
    np.testing.assert_allclose(fy(x, y), [math.log(4.0 / 3.0)], rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda x: fy(x, y).sum())(x), [[0.25, -0.25]], rtol=1e-6)


def test_max_gives_the_perceptron_loss_over_leading_axes():
    fy = gdt.losses.make_fenchel_young_loss(jnp.max)
    s = jnp.array([[[1.0, 2.0, 0.0]], [[3.0, 2.0, 0.0]]])
    y = jax.nn.one_hot(jnp.array([[0], [0]]), 3)
    np.testing.assert_allclose(fy(s, y), [[1.0], [0.0]])
