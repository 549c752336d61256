"""The listwise ranking softmax loss on hand-derived values."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=tol, atol=tol)


def test_ranking_softmax_loss():
    # -log softmax(s)_0 = log(e^2 + e + e^3) - 2.
    s, y = jnp.array([2.0, 1.0, 3.0]), jnp.array([1.0, 0.0, 0.0])
    expected = math.log(math.exp(2) + math.exp(1) + math.exp(3)) - 2
    close(gdt.losses.ranking_softmax_loss(s, y), expected)
    # Masking the third item: log(e^2 + e) - 2; weights scale the labels.
    close(gdt.losses.ranking_softmax_loss(s, y, where=jnp.array([True, True, False])), math.log(math.e**2 + math.e) - 2)
    close(gdt.losses.ranking_softmax_loss(s, y, weights=jnp.array([2.0, 1.0, 1.0])), 2 * expected)


def test_masked_lists():
    s = jnp.array([[2.0, 1.0, 3.0], [1.0, 1.0, 1.0]])
    y = jnp.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    where = jnp.array([[True, True, True], [False, False, False]])
    first = math.log(math.exp(2) + math.exp(1) + math.exp(3)) - 2
    close(gdt.losses.ranking_softmax_loss(s, y, where=where, reduce_fn=None), [first, 0.0])
    close(gdt.losses.ranking_softmax_loss(s, y, where=where), first)  # the mean leaves the empty list out
    close(gdt.losses.ranking_softmax_loss(s, y, where=jnp.zeros((2, 3), bool)), 0.0)  # no valid list: 0, not NaN
