"""Tests for masked: mask trees and functions, mismatches, state of masked leaves."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from gdtransforms._core._checks import check_tree_prefix
from tests.wrappers_common import assert_matches_optax, make_grads, make_params, state_leaf_count

# A prefix of the params tree: one bool for the whole "dense" dict.
MASK = {"dense": True, "blocks": [(False, True), {"scale": False}]}


def mask_fn(params):
    return jax.tree.map(lambda x: x.ndim != 1, params)


@pytest.mark.parametrize(
    "which, jit",
    [("tree", False), ("tree", True), ("fn", True)],
    ids=["tree-eager", "tree-jit", "fn-jit"],
)
def test_masked_matches_optax(which, jit):
    mask = MASK if which == "tree" else mask_fn
    assert_matches_optax(
        gdt.chain(gdt.masked(gdt.adam(1e-2), mask), gdt.scale(0.5)),
        optax.chain(optax.masked(optax.adam(1e-2), mask), optax.scale(0.5)),
        make_grads(),
        jit=jit,
    )


def test_masked_leaves_hold_no_state_and_pass_through():
    params = make_params()
    tx = gdt.masked(gdt.adam(1.0), MASK)
    state = tx.init(params)
    # Adam's count + mu and nu for the 3 selected leaves (w, b and the bfloat16 one).
    assert state_leaf_count(state) == 1 + 2 * 3
    assert isinstance(state.inner_state[0].mu["blocks"][0][0], gdt.MaskedNode)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, state, params)
    np.testing.assert_array_equal(updates["blocks"][0][0], grads["blocks"][0][0])
    np.testing.assert_allclose(updates["dense"]["w"], -np.ones((3, 2)), rtol=1e-4)


def test_all_false_mask_is_identity_with_no_state():
    params = make_params()
    tx = gdt.masked(gdt.adam(1.0), False)
    state = tx.init(params)
    assert state_leaf_count(state) == 1  # Only Adam's step count.
    updates, _ = tx.update(params, state)
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
        np.testing.assert_array_equal(u, p)


@jax.tree_util.register_pytree_node_class
class Model:
    """A callable pytree, as an equinox module is (optax #913)."""

    def __init__(self, w, b):
        self.w, self.b = w, b

    def __call__(self, x):
        raise AssertionError("a mask tree must never be called")

    def tree_flatten(self):
        return (self.w, self.b), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


def test_callable_pytree_mask_is_a_tree_optax_913():
    params = Model(jnp.ones(2), jnp.ones(3))
    tx = gdt.masked(gdt.scale(-1.0), Model(True, False))
    updates, _ = tx.update(params, tx.init(params))
    np.testing.assert_array_equal(updates.w, [-1.0, -1.0])
    np.testing.assert_array_equal(updates.b, [1.0, 1.0, 1.0])


def test_partial_mask_is_a_function():
    mask = jax.tree_util.Partial(lambda p: jax.tree.map(lambda x: x.ndim == 2, p))
    params = make_params()
    tx = gdt.masked(gdt.scale(0.0), mask)
    updates, _ = tx.update(params, tx.init(params))
    assert not np.asarray(updates["dense"]["w"]).any()
    np.testing.assert_array_equal(updates["dense"]["b"], params["dense"]["b"])


@pytest.mark.parametrize(
    "mask, path",
    [
        ({"dense": True, "blocks": [(False, True)]}, "['blocks'][1]"),
        ({"dense": True, "blocks": [(False, True), {"scale": False}], "x": True}, "['x']"),
        (
            {"dense": {"w": True, "bias": True}, "blocks": False},
            "['dense']['bias'] is in the mask but not in the params; "
            "['dense']['b'] is in the params but not in the mask",
        ),
        ({"dense": True, "blocks": [(False,), {"scale": False}]}, "['blocks'][0][1]"),
        ({"dense": True, "blocks": [[False, True], {"scale": False}]}, "['blocks'][0]"),
    ],
)
def test_mask_mismatch_names_the_first_differing_path(mask, path):
    params = make_params()
    with pytest.raises(ValueError, match=r"masked: mask does not match params") as err:
        gdt.masked(gdt.adam(1.0), mask).init(params)
    assert path in str(err.value)
    # The updates are checked too (the mask may be right for params at init only).
    tx = gdt.masked(gdt.adam(1.0), MASK)
    state = tx.init(params)
    with pytest.raises(ValueError, match=r"\['dense'\]"):
        tx.update({"blocks": params["blocks"]}, state)


def test_mask_leaves_must_be_bools():
    params = {"a": jnp.ones(2), "b": jnp.ones(1)}
    with pytest.raises(TypeError, match=r"mask leaf at \['b'\] must be a bool"):
        gdt.masked(gdt.scale(1.0), {"a": True, "b": "yes"}).init(params)
    with pytest.raises(TypeError, match=r"mask leaf at \['a'\] must be a bool"):
        gdt.masked(gdt.scale(1.0), {"a": jnp.array([True, False]), "b": True}).init(params)


def test_mask_compatible_extra_args_masks_matching_trees():
    seen = {}

    def update(updates, state, params=None, *, tags=None, **extra_args):
        seen["tags"] = tags
        return jax.tree.map(lambda u, t: u * t, updates, tags), state

    inner = gdt.GradientTransformation(gdt.init_empty_state, update)
    params = {"a": jnp.ones(2), "b": jnp.ones(1)}
    tags = {"a": jnp.full(2, 3.0), "b": jnp.full(1, 5.0)}
    tx = gdt.masked(inner, {"a": True, "b": False}, mask_compatible_extra_args=True)
    updates, _ = tx.update(params, tx.init(params), tags=tags)
    assert isinstance(seen["tags"]["b"], gdt.MaskedNode)
    np.testing.assert_array_equal(updates["a"], [3.0, 3.0])
    np.testing.assert_array_equal(updates["b"], [1.0])


def test_tree_map_params_sees_masked_state_without_is_leaf():
    params = make_params()
    tx = gdt.masked(gdt.adam(1.0), MASK)
    state = tx.init(params)
    shapes = gdt.tree_map_params(tx, lambda x: jnp.zeros(()) + x.ndim, state)
    assert int(shapes.inner_state[0].mu["dense"]["w"]) == 2
    assert isinstance(shapes.inner_state[0].nu["blocks"][0][0], gdt.MaskedNode)
    assert int(shapes.inner_state[0].count) == 0


def test_check_tree_prefix_messages():
    with pytest.raises(ValueError, match=r"\['b'\] is in the t but not in the m"):
        check_tree_prefix({"a": 1}, {"a": 1, "b": 2}, prefix_name="m", tree_name="t", where="w")
    with pytest.raises(ValueError, match=r"\['c'\] is in the m but not in the t"):
        check_tree_prefix({"a": 1, "c": 1}, {"a": 1, "b": 2}, prefix_name="m", tree_name="t", where="w")
    with pytest.raises(ValueError, match=r"at \[0\] the m has a tuple node, the t a leaf"):
        check_tree_prefix([(1, 2)], [jnp.ones(2)], prefix_name="m", tree_name="t", where="w")
    check_tree_prefix({"a": True}, {"a": {"x": 1, "y": [2, 3]}}, prefix_name="m", tree_name="t", where="w")
