"""Dice losses on hand-derived values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=tol, atol=tol)


P = jnp.array([[1.0, 0.0, 0.5, 0.5]])  # one image of 4 pixels, foreground probabilities
T = jnp.array([[1.0, 0.0, 1.0, 0.0]])


def test_binary_dice_from_probabilities():
    # I = 1.5, sum p = sum t = 2: 1 - (1.5 + 1) / (1.5 + 0.25 + 0.25 + 1) = 1/6. optax 0.2.8
    # raises here, asking a single channel to sum to 1 (docs/DIFFERENCES.md).
    close(gdt.losses.binary_dice_loss(P, T, apply_sigmoid=False), [1 / 6])
    close(gdt.losses.dice_loss(P[..., None], T[..., None], apply_softmax=False), [1 / 6])
    # Tversky: alpha weighs the 0.5 of false positive mass, beta the 0.5 of false negative mass.
    close(gdt.losses.dice_loss(P, T[..., None], apply_softmax=False, alpha=1.0, beta=0.0, smooth=0.0), [1 - 1.5 / 2.0])


def test_probability_check_is_eager_only():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gdt.losses.binary_dice_loss(P * 2, T, apply_sigmoid=False)
    with pytest.raises(ValueError, match="sum to 1"):
        gdt.losses.dice_loss(jnp.ones((1, 4, 2)), jnp.ones((1, 4, 2)), apply_softmax=False)
    # Under jit the values cannot be inspected (optax raises a tracer error instead).
    out = jax.jit(lambda p: gdt.losses.binary_dice_loss(p, T, apply_sigmoid=False))(P)
    close(out, [1 / 6])


def test_perfect_multiclass_prediction_has_zero_loss():
    t = jax.nn.one_hot(jnp.array([[0, 1, 2, 1]]), 3)
    close(gdt.losses.dice_loss(t, t, apply_softmax=False), [0.0])
    close(gdt.losses.multiclass_generalized_dice_loss(t, t, apply_softmax=False), 0.0)
    close(gdt.losses.dice_loss(t, t, apply_softmax=False, reduction="none"), [[0.0, 0.0, 0.0]])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"\(1, 4, 3\).*\(1, 5, 3\)"):
        gdt.losses.dice_loss(jnp.zeros((1, 4, 3)), jnp.zeros((1, 5, 3)))
    with pytest.raises(ValueError, match="reduction"):
        gdt.losses.dice_loss(jnp.zeros((1, 4, 3)), jnp.zeros((1, 4, 3)), reduction="max")
