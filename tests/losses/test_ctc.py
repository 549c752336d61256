"""The CTC loss on hand-derived values."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

# Two classes, blank 0 and label 1; logits [0, ln 3] give p(blank) = 1/4, p(1) = 3/4 per frame.
A, B = 0.75, 0.25


def frames(t):
    return jnp.tile(jnp.array([0.0, math.log(3.0)]), (1, t, 1))


def loss(t, labels, frame_pad=None):
    pad = jnp.zeros((1, t)) if frame_pad is None else jnp.asarray([frame_pad], jnp.float32)
    labels = jnp.asarray([labels], jnp.int32)
    return gdt.ctc_loss(frames(t), pad, labels, jnp.zeros(labels.shape))


def test_ctc_by_hand():
    np.testing.assert_allclose(loss(1, [1]), [-math.log(A)], rtol=1e-5)
    # "1" in two frames: 11, 1-, -1.
    np.testing.assert_allclose(loss(2, [1]), [-math.log(A * A + 2 * A * B)], rtol=1e-5)
    # "11" in three frames needs a blank between: 1-1 only.
    np.testing.assert_allclose(loss(3, [1, 1]), [-math.log(A * B * A)], rtol=1e-5)
    # ... and is impossible in two frames: about -log_epsilon.
    assert loss(2, [1, 1])[0] > 1e4
    # A padded frame changes nothing.
    np.testing.assert_allclose(loss(3, [1], frame_pad=[0, 0, 1]), loss(2, [1]), rtol=1e-5)


def test_forward_probs_shapes_and_padded_labels():
    labels = jnp.array([[1, 1, 0]], jnp.int32)
    value, blank, label = gdt.ctc_loss_with_forward_probs(
        frames(4), jnp.zeros((1, 4)), labels, jnp.array([[0.0, 1.0, 1.0]])
    )
    assert blank.shape == (4, 1, 4) and label.shape == (4, 1, 3)
    np.testing.assert_allclose(value, loss(4, [1]), rtol=1e-5)  # the padded labels are ignored


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(1, 2\)"):
        gdt.ctc_loss(jnp.zeros((2, 3, 4)), jnp.zeros((2, 3)), jnp.zeros((1, 2), jnp.int32), jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match="logit_paddings"):
        gdt.ctc_loss(jnp.zeros((2, 3, 4)), jnp.zeros((2, 4)), jnp.zeros((2, 2), jnp.int32), jnp.zeros((2, 2)))
