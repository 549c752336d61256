"""Kullback-Leibler divergences and label smoothing on hand-derived values."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=tol, atol=tol)


def test_kl_divergence():
    # 0.5 ln(0.5 / 0.25) + 0.5 ln(0.5 / 0.75) = 0.5 ln(4 / 3).
    logq, p = jnp.log(jnp.array([0.25, 0.75])), jnp.array([0.5, 0.5])
    close(gdt.kl_divergence(logq, p), 0.5 * math.log(4.0 / 3.0))
    close(gdt.losses.kl_divergence_with_log_targets(logq, jnp.log(p)), 0.5 * math.log(4.0 / 3.0))
    # d/d(log q) = -p.
    close(jax.grad(gdt.kl_divergence)(logq, p), [-0.5, -0.5])


def test_kl_zero_target_is_zero_even_against_a_zero_prediction():
    # 0 log(0 / q) = 0 for every q; optax 0.2.8 gives NaN for q = 0 (docs/DIFFERENCES.md).
    logq, p = jnp.array([-jnp.inf, 0.0]), jnp.array([0.0, 1.0])
    close(gdt.kl_divergence(logq, p), 0.0)
    close(jax.grad(gdt.kl_divergence)(logq, p), [0.0, -1.0])


def test_generalized_kl():
    # 2 ln(2 / 1) + 2 ln(2 / 2) + (1 + 2) - (2 + 2) = 2 ln 2 - 1.
    logq, p = jnp.log(jnp.array([1.0, 2.0])), jnp.array([2.0, 2.0])
    close(gdt.generalized_kl_divergence(logq, p), 2 * math.log(2.0) - 1.0)
    with pytest.warns(DeprecationWarning, match="generalized_kl_divergence"):
        close(gdt.convex_kl_divergence(logq, p), 2 * math.log(2.0) - 1.0)


def test_where_and_axis():
    logq, p = jnp.log(jnp.array([[0.25, 0.75], [0.5, 0.5]])), jnp.array([[0.5, 0.5], [0.5, 0.5]])
    close(gdt.kl_divergence(logq, p, axis=None), 0.5 * math.log(4.0 / 3.0))
    # Only the first entry of each row: 0.5 ln 2, 0.
    close(gdt.kl_divergence(logq, p, where=jnp.array([[True, False], [True, False]])), [0.5 * math.log(2.0), 0.0])


def test_smooth_labels():
    y = jnp.array([0.0, 1.0, 0.0, 0.0])
    close(gdt.smooth_labels(y, 0.2), [0.05, 0.85, 0.05, 0.05])
    # With where, K counts the included classes only (every entry is still smoothed).
    close(gdt.smooth_labels(y, 0.2, where=jnp.array([True, True, False, False])), [0.1, 0.9, 0.1, 0.1])


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 3\)"):
        gdt.kl_divergence(jnp.zeros((4, 3)), jnp.zeros((5, 3)))
