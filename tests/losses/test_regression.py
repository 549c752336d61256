"""Regression losses on hand-derived values."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=tol, atol=tol)


def test_squared_and_l2():
    close(gdt.squared_error(jnp.array([3.0, -1.0]), jnp.array([1.0, 1.0])), [4.0, 4.0])
    close(gdt.l2_loss(jnp.array([3.0, -1.0])), [4.5, 0.5])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        gdt.l2_loss(jnp.zeros(2), jnp.zeros(3))


def test_huber():
    # Quadratic inside delta, delta * (|e| - delta / 2) outside.
    close(gdt.huber_loss(jnp.array([0.5, 3.0, -3.0])), [0.125, 2.5, 2.5])
    close(gdt.huber_loss(jnp.array([3.0]), jnp.array([1.0]), delta=0.5), [0.5 * (2.0 - 0.25)])


def test_log_cosh_is_finite_for_large_errors():
    close(gdt.log_cosh(jnp.array([0.0, 1e4, -1e4])), [0.0, 1e4 - math.log(2.0), 1e4 - math.log(2.0)])
    close(jax.grad(lambda x: gdt.log_cosh(x).sum())(jnp.array([0.0, 1e4, -1e4])), [0.0, 1.0, -1.0])


def test_cosine():
    a, b = jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0])
    close(gdt.cosine_similarity(a, b), 1 / math.sqrt(2.0))
    close(gdt.cosine_distance(a, b), 1 - 1 / math.sqrt(2.0))
    close(gdt.cosine_similarity(a, b, where=jnp.array([True, False])), 1.0)
    # epsilon floors the squared norm: a zero vector gives 0, not NaN.
    close(gdt.cosine_similarity(jnp.zeros(2), b, epsilon=1e-6), 0.0)
