"""Per-example clipping and DP aggregation by hand."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

PER_EXAMPLE = [jnp.array([[0.0, 0.0, 0.0], [0.0, 3.0, 4.0], [4.0, 0.0, 3.0]])]  # norms 0, 5, 5


def test_per_example_global_norm_clip_by_hand():
    total, clipped = gdt.per_example_global_norm_clip(PER_EXAMPLE, 1.0)
    np.testing.assert_allclose(total[0], [0.8, 0.6, 1.4], rtol=1e-6)  # each example to norm 1
    assert int(clipped) == 2
    total, clipped = gdt.per_example_global_norm_clip(PER_EXAMPLE, jnp.inf)
    np.testing.assert_allclose(total[0], [4.0, 3.0, 7.0])
    with pytest.raises(ValueError, match="batch"):
        gdt.per_example_global_norm_clip([jnp.ones((3, 2)), jnp.ones((2, 2))], 1.0)


def test_per_example_layer_norm_clip_splits_the_bound():
    grads = [jnp.array([[3.0, 4.0]]), jnp.array([[0.0, 1.0]])]
    totals, counts = gdt.per_example_layer_norm_clip(grads, np.sqrt(2.0))  # 1 per layer
    np.testing.assert_allclose(totals[0], [[0.6, 0.8]][0], rtol=1e-6)
    np.testing.assert_allclose(totals[1], [0.0, 1.0])
    assert [int(c) for c in counts] == [1, 0]


def test_aggregate_without_noise_is_the_clipped_mean():
    tx = gdt.contrib.differentially_private_aggregate(1.0, 0.0, key=0)
    u, state = tx.update({"w": PER_EXAMPLE[0]}, tx.init(None))
    np.testing.assert_allclose(u["w"], np.array([0.8, 0.6, 1.4]) / 3, rtol=1e-6)
    assert jnp.issubdtype(state.rng_key.dtype, jax.dtypes.prng_key)


def test_aggregate_noise_has_the_right_scale_and_moves_the_key():
    tx = gdt.contrib.differentially_private_aggregate(2.0, 1.5, key=jax.random.key(1))
    zeros = {"w": jnp.zeros((4, 2000))}
    u1, state = tx.update(zeros, tx.init(None))
    u2, _ = tx.update(zeros, state)
    np.testing.assert_allclose(float(jnp.std(u1["w"])), 2.0 * 1.5 / 4, rtol=0.05)
    assert not bool(jnp.array_equal(u1["w"], u2["w"]))


def test_aggregate_arguments():
    with pytest.raises(ValueError, match="noise_multiplier"):
        gdt.contrib.differentially_private_aggregate(1.0, -1.0, key=0)
    with pytest.raises(ValueError, match="one of"), pytest.warns(DeprecationWarning):
        gdt.contrib.differentially_private_aggregate(1.0, 1.0, key=0, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdt.contrib.differentially_private_aggregate(1.0, 1.0)
    assert caught, "a missing key warns"
