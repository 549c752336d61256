"""add_noise: the annealed standard deviation, and optax's random numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt


def test_noise_has_the_annealed_scale_and_optax_draws():
    eta, gamma = 0.5, 0.55
    key = jax.random.key(3)
    tx = gdt.add_noise(eta, gamma, key=key)
    g = {"a": jnp.zeros(4), "b": jnp.zeros((2, 2), jnp.bfloat16)}
    state = tx.init(g)
    for t in (1, 2):
        u, state = tx.update(g, state)
        # By hand: the key is split, its second half split once per leaf.
        next_key, sample = jax.random.split(key)
        keys = jax.random.split(sample, 2)
        std = np.sqrt(eta / t**gamma)
        np.testing.assert_allclose(u["a"], std * jax.random.normal(keys[0], (4,)), rtol=1e-6)
        assert u["b"].dtype == jnp.bfloat16
        key = next_key
        assert int(state.count) == t


def test_same_seed_same_numbers_as_optax():
    g = {"a": jnp.ones(5), "b": jnp.ones(3)}
    ours, theirs = gdt.add_noise(0.1, 0.55, key=7), optax.add_noise(0.1, 0.55, key=7)
    s1, s2 = ours.init(g), theirs.init(g)
    for _ in range(3):
        u1, s1 = ours.update(g, s1)
        u2, s2 = theirs.update(g, s2)
        for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2)):
            np.testing.assert_array_equal(a, b)


def test_key_arguments():
    with pytest.warns(UserWarning, match="key"):
        gdt.add_noise(0.1, 0.5)
    with pytest.warns(DeprecationWarning, match="seed"):
        tx = gdt.add_noise(0.1, 0.5, seed=4)
    np.testing.assert_array_equal(jax.random.key_data(tx.init(None).rng_key), jax.random.key_data(jax.random.key(4)))
    with pytest.raises(ValueError, match="key"), pytest.warns(DeprecationWarning):
        gdt.add_noise(0.1, 0.5, key=1, seed=2)
