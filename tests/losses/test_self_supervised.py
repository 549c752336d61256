"""NT-Xent and the triplet margin loss on hand-derived values."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=tol, atol=tol)


def test_ntxent_by_hand():
    # Pairs (0, 1) and (2, 3); each ordered positive pair (i, j) costs
    # log(e^{s_ij} + sum over i's negatives of e^{s_ik}) - s_ij, with s the cosine similarity.
    x = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = unit @ unit.T
    pairs = [(0, 1, [2, 3]), (1, 0, [2, 3]), (2, 3, [0, 1]), (3, 2, [0, 1])]
    expected = np.mean(
        [math.log(math.exp(s[i, j]) + sum(math.exp(s[i, k]) for k in neg)) - s[i, j] for i, j, neg in pairs]
    )
    close(gdt.ntxent(jnp.asarray(x), jnp.array([0, 0, 1, 1]), temperature=1.0), expected)


def test_ntxent_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(3,\)"):
        gdt.ntxent(jnp.zeros((4, 2)), jnp.zeros(3, jnp.int32))


def test_triplet_margin_loss():
    a, p, n = jnp.array([[0.0, 0.0]]), jnp.array([[3.0, 4.0]]), jnp.array([[0.0, 1.0]])
    close(gdt.losses.triplet_margin_loss(a, p, n, eps=0.0), [5.0 - 1.0 + 1.0])
    close(gdt.losses.triplet_margin_loss(a, n, p, eps=0.0), [0.0])


def test_triplet_odd_norm_degree_uses_absolute_differences():
    # L1 distances 3 and 6: max(3 - 6 + 1, 0) = 0. optax 0.2.8 sums signed differences and
    # gives 8 here, and NaN for norm_degree=3 (docs/DIFFERENCES.md).
    a, p, n = jnp.array([[0.0, 0.0]]), jnp.array([[1.0, -2.0]]), jnp.array([[3.0, 3.0]])
    close(gdt.losses.triplet_margin_loss(a, p, n, norm_degree=1, eps=0.0), [0.0])
    d_pos, d_neg = (1 + 8) ** (1 / 3), (27 + 27) ** (1 / 3)
    close(gdt.losses.triplet_margin_loss(a, p, n, norm_degree=3, margin=5.0, eps=0.0), [d_pos - d_neg + 5.0])
