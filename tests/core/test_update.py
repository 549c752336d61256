"""apply_updates, incremental_update and periodic_update."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def test_apply_updates_keeps_param_dtypes_and_none_leaves():
    params = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(2), "c": None}
    updates = {"a": jnp.full(2, 0.5, jnp.float32), "b": jnp.full(2, 0.5), "c": None}
    new = gdt.apply_updates(params, updates)
    assert new["a"].dtype == jnp.bfloat16 and new["b"].dtype == jnp.float32
    assert new["c"] is None
    np.testing.assert_array_equal(np.asarray(new["a"], np.float32), [1.5, 1.5])


def test_incremental_update_is_polyak_averaging():
    new = gdt.incremental_update({"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}, 0.25)
    np.testing.assert_allclose(new["w"], [0.25])


def test_periodic_update_refreshes_every_period():
    new, old = {"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}
    picked = [float(gdt.periodic_update(new, old, jnp.int32(s), 3)["w"][0]) for s in range(7)]
    assert picked == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
