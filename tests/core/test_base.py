"""Tests for the base types and trivial transformations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_gradient_transformation_is_a_namedtuple_of_init_and_update():
    tx = gdt.identity()
    init, update = tx
    assert tx._fields == ("init", "update")
    assert init is tx.init and update is tx.update


def test_identity_returns_updates_and_ignores_extra_args():
    tx = gdt.identity()
    state = tx.init({"w": jnp.ones(3)})
    updates, new_state = tx.update({"w": jnp.arange(3.0)}, state, None, value=1.0)
    np.testing.assert_array_equal(updates["w"], [0.0, 1.0, 2.0])
    assert new_state == gdt.EmptyState()
    assert jax.tree.leaves(new_state) == []


def test_set_to_zero_zeroes_every_leaf_and_keeps_dtypes():
    tx = gdt.set_to_zero()
    grads = {"a": jnp.ones(2), "b": jnp.ones(3, jnp.bfloat16)}
    updates, _ = tx.update(grads, tx.init(grads))
    assert updates["b"].dtype == jnp.bfloat16
    assert all(float(jnp.abs(u).sum()) == 0.0 for u in jax.tree.leaves(updates))


def test_stateless_sees_params():
    tx = gdt.stateless(lambda u, p: jax.tree.map(lambda g, w: g + 2 * w, u, p))
    updates, state = tx.update({"w": jnp.ones(2)}, tx.init(None), {"w": jnp.full(2, 3.0)})
    np.testing.assert_array_equal(updates["w"], [7.0, 7.0])
    assert state == gdt.EmptyState()


def test_stateless_with_tree_map_with_and_without_params():
    tx = gdt.stateless_with_tree_map(lambda g, p: g * 2 if p is None else g * p)
    u, _ = tx.update({"w": jnp.ones(2)}, gdt.EmptyState())
    np.testing.assert_array_equal(u["w"], [2.0, 2.0])
    u, _ = tx.update({"w": jnp.ones(2)}, gdt.EmptyState(), {"w": jnp.full(2, 5.0)})
    np.testing.assert_array_equal(u["w"], [5.0, 5.0])


def test_with_extra_args_support_wraps_plain_update():
    calls = []

    def update(updates, state, params=None):
        calls.append(params)
        return updates, state

    tx = gdt.with_extra_args_support(gdt.GradientTransformation(gdt.init_empty_state, update))
    tx.update({"w": jnp.ones(1)}, gdt.EmptyState(), None, value=3.0)
    assert calls == [None]


def test_with_extra_args_support_rejects_non_transformations():
    with pytest.raises(TypeError, match="init"):
        gdt.with_extra_args_support(object())
