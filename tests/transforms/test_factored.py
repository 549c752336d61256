"""scale_by_factored_rms: hand-derived steps, the state's shapes, optax #1791."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt


def test_first_two_steps_by_hand():
    tx = gdt.scale_by_factored_rms(min_dim_size_to_factor=2, epsilon=0.0)
    params = {"m": jnp.zeros((2, 3)), "v": jnp.zeros(2)}
    state = tx.init(params)
    # Step 0: the decay 1 - 1^-0.8 is 0, so the statistics are this step's.
    # m's g^2 is rank one, so row x column / mean(row) is g^2 itself: u = g / |g| = 1.
    g = {"m": jnp.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]), "v": jnp.array([3.0, -4.0])}
    u, state = tx.update(g, state, params)
    np.testing.assert_allclose(u["m"], np.ones((2, 3)), rtol=1e-6)
    np.testing.assert_allclose(u["v"], [1.0, -1.0], rtol=1e-6)
    np.testing.assert_allclose(state.v_row["m"], [1.0, 4.0])  # mean over the largest axis (3)
    np.testing.assert_allclose(state.v_col["m"], [2.5, 2.5, 2.5])  # mean over the other
    assert state.v["m"].shape == (1,) and state.v_row["v"].shape == (1,)
    # Step 1: decay 1 - 2^-0.8.
    beta = 1.0 - 2.0**-0.8
    u, state = tx.update({"m": jnp.ones((2, 3)), "v": jnp.array([0.0, 2.0])}, state, params)
    np.testing.assert_allclose(u["v"], [0.0, 2.0 / np.sqrt(beta * 16 + (1 - beta) * 4)], rtol=1e-6)
    np.testing.assert_allclose(state.v_row["m"], beta * np.array([1.0, 4.0]) + (1 - beta), rtol=1e-6)
    assert int(state.count) == 2


def test_state_holds_rows_plus_columns_not_the_matrix():
    params = {"w": jnp.zeros((256, 512)), "conv": jnp.zeros((3, 3, 128, 200)), "b": jnp.zeros(512)}
    state = gdt.scale_by_factored_rms().init(params)
    assert state.v_row["w"].shape == (256,) and state.v_col["w"].shape == (512,)
    assert state.v_row["conv"].shape == (3, 3, 128) and state.v_col["conv"].shape == (3, 3, 200)
    assert state.v["b"].shape == (512,)
    ours = jax.tree.map(lambda x: x.shape, state)
    theirs = jax.tree.map(lambda x: x.shape, optax.scale_by_factored_rms().init(params))
    assert ours == tuple(theirs)


def test_step_offset_ahead_of_the_count_stays_finite_optax_1791():
    """optax gives NaN from the first step for any decay_offset > 0; the clamp gives step 0's rate."""
    params = {"w": jnp.ones((4, 3))}
    g = {"w": jnp.full((4, 3), 0.5)}
    with_offset = gdt.adafactor(1e-3, decay_offset=3)
    u, state = with_offset.update(g, with_offset.init(params), params)
    base = gdt.adafactor(1e-3)
    expected, _ = base.update(g, base.init(params), params)
    np.testing.assert_array_equal(u["w"], expected["w"])
    for _ in range(5):
        u, state = with_offset.update(g, state, params)
        assert bool(jnp.all(jnp.isfinite(u["w"])))
    bad, _ = optax.adafactor(1e-3, decay_offset=3).update(g, optax.adafactor(1e-3).init(params), params)
    assert bool(jnp.all(jnp.isnan(bad["w"])))  # what the clamp fixes


def test_needs_params_and_checks_arguments():
    tx = gdt.scale_by_factored_rms()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    with pytest.raises(ValueError, match="decay_rate"):
        gdt.scale_by_factored_rms(decay_rate=-1.0)
    with pytest.raises(ValueError, match="min_dim_size_to_factor"):
        gdt.scale_by_factored_rms(min_dim_size_to_factor=-1)
    with pytest.raises(TypeError, match="min_dim_size_to_factor"):
        gdt.scale_by_factored_rms(min_dim_size_to_factor=1.5)
    with pytest.raises(TypeError, match="decay_rate_fn"):
        gdt.scale_by_factored_rms(decay_rate_fn=0.8)
    with pytest.raises(ValueError, match=r"\['b'\]"):
        params = {"a": jnp.ones(2), "b": jnp.ones(3)}
        tx.update({"a": jnp.ones(2), "b": jnp.ones(4)}, tx.init(params), params)
