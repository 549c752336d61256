"""Margin and sparsemax losses on hand-derived values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=tol, atol=tol)


def test_hinge_and_perceptron():
    out = jnp.array([2.0, 0.5, -1.0])
    close(gdt.hinge_loss(out, jnp.ones(3)), [0.0, 0.5, 2.0])
    close(gdt.losses.perceptron_loss(out, jnp.ones(3)), [0.0, 0.0, 1.0])
    close(gdt.losses.perceptron_loss(out, -jnp.ones(3)), [2.0, 0.5, 0.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        gdt.losses.perceptron_loss(out, jnp.ones(2))


def test_binary_sparsemax_loss():
    # z = x for label 0, -x for label 1: 0 below -1, (z + 1)^2 / 4 inside, z above 1.
    x = jnp.array([-2.0, 0.0, 3.0, 3.0, 0.0])
    y = jnp.array([0, 0, 0, 1, 1])
    close(gdt.losses.sparsemax_loss(x, y), [0.0, 0.25, 3.0, 0.0, 0.25])


def test_multiclass_hinge_and_perceptron():
    s = jnp.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0]])
    y = jnp.array([0, 1])
    close(gdt.losses.multiclass_hinge_loss(s, y), [2.0, 0.0])  # max(1, 3, 1) - 1; max(2, 2, 1) - 2
    close(gdt.losses.multiclass_perceptron_loss(s, y), [1.0, 0.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        gdt.losses.multiclass_hinge_loss(s, jnp.array([0, 1, 2]))


def test_multiclass_sparsemax_loss():
    # sparsemax([0.5, 0.2, 0]) = [0.6, 0.3, 0.1] (threshold -0.1). For label 0:
    # <p, s> = 0.36, (1 - |p|^2) / 2 = 0.27, minus s_0 = 0.5 -> 0.13; gradient p - e_0.
    s = jnp.array([[0.5, 0.2, 0.0]])
    close(gdt.losses.multiclass_sparsemax_loss(s, jnp.array([0])), [0.13])
    close(jax.grad(lambda s: gdt.losses.multiclass_sparsemax_loss(s, jnp.array([0])).sum())(s), [[-0.4, 0.3, 0.1]])
    # sparsemax([1, 2, 0]) = [0, 1, 0]: zero loss for label 1, s_1 - s_0 = 1 for label 0.
    close(gdt.losses.multiclass_sparsemax_loss(jnp.array([[1.0, 2.0, 0.0]] * 2), jnp.array([1, 0])), [0.0, 1.0])


def test_multiclass_sparsemax_loss_in_bfloat16_has_a_gradient():
    # optax 0.2.8 raises a TypeError from its custom JVP here (docs/DIFFERENCES.md).
    s = jnp.array([[0.5, 0.2, 0.0], [1e4, -1e4, 0.0]], jnp.bfloat16)
    loss, grad = jax.value_and_grad(lambda s: gdt.losses.multiclass_sparsemax_loss(s, jnp.array([0, 1])).sum())(s)
    assert grad.dtype == jnp.bfloat16
    close(grad.astype(jnp.float32), [[-0.4, 0.3, 0.1], [1.0, -1.0, 0.0]], tol=1e-2)
    close(loss.astype(jnp.float32), 0.13 + 2e4, tol=1e-2)
