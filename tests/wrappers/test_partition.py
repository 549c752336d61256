"""Tests for partition / multi_transform, freeze and selective_transform."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests.wrappers_common import assert_matches_optax, make_grads, make_params, state_leaf_count

LABELS = {"dense": {"w": "adam", "b": "sgd"}, "blocks": ["adam", {"scale": "frozen"}]}


def label_fn(params):
    return jax.tree.map(lambda x: "adam" if x.ndim >= 1 else "sgd", params)


def _transforms(lib):
    return {
        "adam": lib.adam(1e-2),
        "sgd": lib.sgd(0.1, momentum=0.9),
        "frozen": lib.set_to_zero(),
    }


@pytest.mark.parametrize(
    "which, jit",
    [("tree", False), ("tree", True), ("fn", True)],
    ids=["tree-eager", "tree-jit", "fn-jit"],
)
def test_partition_matches_optax(which, jit):
    labels = LABELS if which == "tree" else label_fn
    _, state = assert_matches_optax(
        gdt.partition(_transforms(gdt), labels),
        optax.partition(_transforms(optax), labels),
        make_grads(),
        jit=jit,
    )
    assert set(state.inner_states) == {"adam", "sgd", "frozen"}


def test_multi_transform_is_partition():
    assert gdt.multi_transform is gdt.partition
    assert gdt.MultiTransformState is gdt.PartitionState


def test_each_group_holds_state_for_its_leaves_only():
    params = make_params()
    state = gdt.partition(_transforms(gdt), LABELS).init(params)
    # adam: count + mu, nu for w and the two block leaves; sgd: one trace for b.
    assert state_leaf_count(state.inner_states["adam"]) == 1 + 2 * 3
    assert state_leaf_count(state.inner_states["sgd"]) == 1
    assert state_leaf_count(state.inner_states["frozen"]) == 0


def test_unknown_label_names_its_path():
    labels = {"dense": {"w": "adam", "b": "sgd"}, "blocks": ["adam", {"scale": "lbfgs"}]}
    with pytest.raises(ValueError, match=r"label at \['blocks'\]\[1\]\['scale'\] is 'lbfgs'"):
        gdt.partition(_transforms(gdt), labels).init(make_params())


def test_label_tree_mismatch_names_the_first_differing_path():
    labels = {"dense": {"w": "adam"}, "blocks": "sgd"}
    with pytest.raises(ValueError, match=r"label tree does not match params: \['dense'\]\['b'\]"):
        gdt.partition(_transforms(gdt), labels).init(make_params())


def test_partition_needs_a_mapping():
    with pytest.raises(TypeError, match="transforms"):
        gdt.partition([gdt.adam(1.0)], LABELS)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_freeze_matches_optax(jit):
    mask = {"dense": {"w": True, "b": False}, "blocks": [(False, True), True]}
    params, state = assert_matches_optax(
        gdt.chain(gdt.sgd(0.1, momentum=0.9), gdt.freeze(mask)),
        optax.chain(optax.sgd(0.1, momentum=0.9), optax.freeze(mask)),
        make_grads(),
        jit=jit,
    )
    np.testing.assert_array_equal(params["dense"]["w"], make_params()["dense"]["w"])
    assert state_leaf_count(state[1]) == 0  # freeze itself holds nothing


def test_freeze_and_selective_mask_mismatch_name_the_path():
    params = make_params()
    with pytest.raises(ValueError, match=r"freeze: mask does not match params: \['blocks'\]\[1\]"):
        gdt.freeze({"dense": True, "blocks": [True]}).init(params)
    with pytest.raises(ValueError, match=r"selective_transform: freeze_mask does not match params"):
        gdt.selective_transform(gdt.sgd(1.0), freeze_mask={"dense": True}).init(params)
    with pytest.raises(TypeError, match=r"freeze_mask leaf at \['dense'\] must be a bool"):
        bad = {"dense": 1, "blocks": False}
        gdt.selective_transform(gdt.sgd(1.0), freeze_mask=bad).init(params)


def test_freeze_whole_tree_with_one_bool():
    params = make_params()
    tx = gdt.freeze(True)
    updates, state = tx.update(params, tx.init(params))
    assert all(not np.asarray(u, np.float32).any() for u in jax.tree.leaves(updates))
    assert state_leaf_count(state) == 0


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_selective_transform_matches_optax(jit):
    mask = {"dense": True, "blocks": [(False, True), False]}
    params, state = assert_matches_optax(
        gdt.selective_transform(gdt.sgd(0.1, momentum=0.9), freeze_mask=mask),
        optax.selective_transform(optax.sgd(0.1, momentum=0.9), freeze_mask=mask),
        make_grads(),
        jit=jit,
    )
    for got, want in zip(jax.tree.leaves(params["dense"]), jax.tree.leaves(make_params()["dense"])):
        np.testing.assert_array_equal(got, want)


def test_frozen_leaves_hold_no_state_arrays():
    params = make_params()  # 5 leaves
    mask = {"dense": True, "blocks": [(False, True), False]}  # freezes 3 of them
    state = gdt.selective_transform(gdt.adam(1.0), freeze_mask=mask).init(params)
    # Adam's count + mu and nu for the 2 trainable leaves; nothing else.
    assert state_leaf_count(state) == 1 + 2 * 2
    unfrozen = gdt.adam(1.0).init(params)
    assert state_leaf_count(unfrozen) == 1 + 2 * 5
    mu = gdt.tree_get(state, "mu")
    assert isinstance(mu["dense"], gdt.MaskedNode)
    assert isinstance(mu["blocks"][0][1], gdt.MaskedNode)
    # A frozen leaf gets exactly zero updates.
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = gdt.selective_transform(gdt.adam(1.0), freeze_mask=mask).update(grads, state, params)
    assert not np.asarray(updates["dense"]["w"]).any()
    assert np.asarray(updates["blocks"][0][0]).all()
