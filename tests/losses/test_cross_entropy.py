"""Cross-entropy losses on hand-derived values (see each test's comment)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

LN2, LN3 = math.log(2.0), math.log(3.0)


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=tol, atol=tol)


def test_top_level_names_are_the_losses():
    assert gdt.softmax_cross_entropy is gdt.losses.softmax_cross_entropy
    assert gdt.sigmoid_binary_cross_entropy is gdt.losses.sigmoid_binary_cross_entropy


def test_sigmoid_binary_cross_entropy():
    # sigmoid(ln 3) = 3/4: -ln(3/4) for label 1, -ln(1/4) for label 0; logit 0 gives ln 2.
    x = jnp.array([LN3, LN3, 0.0, 1e4, 1e4, -1e4])
    y = jnp.array([1.0, 0.0, 0.3, 1.0, 0.0, 0.0])
    close(gdt.sigmoid_binary_cross_entropy(x, y), [-math.log(0.75), -math.log(0.25), LN2, 0.0, 1e4, 0.0])
    # d/dx = sigmoid(x) - y.
    close(jax.grad(lambda x: gdt.sigmoid_binary_cross_entropy(x, y).sum())(x), [-0.25, 0.75, 0.2, 0.0, 1.0, 0.0])


def test_softmax_cross_entropy_and_its_gradient():
    # softmax([0, ln 3]) = [1/4, 3/4].
    logits = jnp.array([[0.0, LN3], [0.0, LN3]])
    labels = jnp.array([[0.0, 1.0], [0.5, 0.5]])
    close(gdt.softmax_cross_entropy(logits, labels), [-math.log(0.75), -0.5 * (math.log(0.25) + math.log(0.75))])
    # d/dx = softmax(x) - y for labels that sum to 1.
    close(jax.grad(lambda x: gdt.softmax_cross_entropy(x, labels).sum())(logits), [[0.25, -0.25], [-0.25, 0.25]])


def test_softmax_cross_entropy_where_and_axis():
    # The masked class (logit 100) takes no part: softmax over [0, ln 3] again.
    logits = jnp.array([[0.0, LN3, 100.0]])
    where = jnp.array([[True, True, False]])
    close(gdt.softmax_cross_entropy(logits, jnp.array([[0.0, 1.0, 0.0]]), where=where), [-math.log(0.75)])
    # Class axis 0, label on the logit of 100: log(1 + 4 e^-100) = 0 in float32.
    close(gdt.softmax_cross_entropy(logits.T, jnp.array([[0.0], [0.0], [1.0]]), axis=0), [0.0])


def test_integer_labels():
    logits = jnp.array([[0.0, LN3, 100.0], [1.0, 2.0, 3.0]])
    where = jnp.array([[True, True, False], [False, False, False]])
    out = gdt.softmax_cross_entropy_with_integer_labels(logits, jnp.array([1, 0]), where=where)
    close(out, [-math.log(0.75), 0.0])  # a fully masked example has loss 0
    # A tuple of axes: zeros over 2 x 3 classes give ln 6 for every flat label.
    close(
        gdt.softmax_cross_entropy_with_integer_labels(jnp.zeros((2, 3, 4)), jnp.zeros(4, jnp.int32), axis=(0, 1)),
        [math.log(6.0)] * 4,
    )


def test_safe_softmax_cross_entropy_keeps_zero_log_zero_finite():
    logits = jnp.array([-jnp.inf, 0.0, 0.0])
    labels = jnp.array([0.0, 0.5, 0.5])
    close(gdt.losses.safe_softmax_cross_entropy(logits, labels), LN2)
    close(jax.grad(lambda x: gdt.losses.safe_softmax_cross_entropy(x, labels))(logits), [0.0, 0.0, 0.0])
    assert np.isnan(gdt.softmax_cross_entropy(logits, labels))  # the plain one gives 0 * -inf, as optax


def test_sigmoid_focal_loss():
    # At logit 0, p_t = 1/2: the cross-entropy ln 2 times (1/2)^gamma, times alpha_t.
    x, y = jnp.zeros(2), jnp.array([1.0, 0.0])
    close(gdt.sigmoid_focal_loss(x, y), [LN2 / 4] * 2)
    close(gdt.sigmoid_focal_loss(x, y, alpha=0.25), [0.25 * LN2 / 4, 0.75 * LN2 / 4])
    close(gdt.sigmoid_focal_loss(x, y, gamma=0.0), [LN2, LN2])
    # Logits of +-1e4 give finite values and gradients.
    big = jnp.array([1e4, -1e4, 1e4])
    labels = jnp.array([1.0, 1.0, 0.0])
    assert np.isfinite(gdt.sigmoid_focal_loss(big, labels)).all()
    assert np.isfinite(jax.grad(lambda x: gdt.sigmoid_focal_loss(x, labels).sum())(big)).all()


def test_poly_loss():
    # CE = -ln(3/4) plus epsilon * (1 - 3/4).
    logits, labels = jnp.array([0.0, LN3]), jnp.array([0.0, 1.0])
    close(gdt.losses.poly_loss_cross_entropy(logits, labels), -math.log(0.75) + 2.0 * 0.25)
    close(gdt.losses.poly_loss_cross_entropy(logits, labels, epsilon=-1.0), -math.log(0.75) - 0.25)


@pytest.mark.parametrize(
    "call",
    [
        lambda: gdt.softmax_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((5, 3))),
        lambda: gdt.sigmoid_binary_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((5, 3))),
        lambda: gdt.losses.poly_loss_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((5, 3))),
        lambda: gdt.sigmoid_focal_loss(jnp.zeros((4, 3)), jnp.zeros((5, 3))),
    ],
)
def test_shape_mismatch_names_both_shapes(call):
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 3\)"):
        call()


def test_integer_label_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(5,\).*\(4, 3\)"):
        gdt.softmax_cross_entropy_with_integer_labels(jnp.zeros((4, 3)), jnp.zeros(5, jnp.int32))
    with pytest.raises(TypeError, match="integer"):
        gdt.softmax_cross_entropy_with_integer_labels(jnp.zeros((4, 3)), jnp.zeros(4))
    with pytest.raises(TypeError, match="floating"):
        gdt.softmax_cross_entropy(jnp.zeros((4, 3), jnp.int32), jnp.zeros((4, 3)))


def test_broadcast_labels_work_without_rank_promotion():
    # The suite runs with jax_numpy_rank_promotion="raise"; (3,) labels still broadcast over (2, 3).
    labels = jnp.array([0.0, 1.0, 0.0])
    out = gdt.softmax_cross_entropy(jnp.zeros((2, 3)), labels)
    close(out, [math.log(3.0)] * 2)
