"""The flat path: layouts, flat gradients, every optimizer on flat buffers."""

from __future__ import annotations

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests._trees import assert_trees_close, gradient_sequence, jit_level0, nested_params
from tests.parity.test_optax_parity import CASES, MATRIX_MASK

PARAMS = nested_params()
GRADS = gradient_sequence(PARAMS, 4)
# One buffer per (mask value, dtype), so that masks work on the buffers.
LAYOUT = gdt.flat_layout(PARAMS, groups=MATRIX_MASK)


def unflatten_all(tree):
    """Replaces every FlatParams inside ``tree`` by its original tree."""
    return jax.tree.map(lambda x: x.unflatten() if gdt.is_flat(x) else x, tree, is_leaf=gdt.is_flat)


# -- The layout ---------------------------------------------------------------


def test_layout_packs_leaves_in_tree_order_one_buffer_per_dtype():
    params = {"b": jnp.arange(2.0), "h": jnp.ones(3, jnp.bfloat16), "w": jnp.arange(6.0).reshape(2, 3)}
    flat = gdt.flatten_params(params)
    assert flat.keys() == ("float32", "bfloat16")
    np.testing.assert_array_equal(flat["float32"], [0, 1, 0, 1, 2, 3, 4, 5])
    assert flat["bfloat16"].dtype == jnp.bfloat16 and flat["bfloat16"].shape == (3,)
    slots = {s.path: (s.group, s.offset, s.size, s.shape) for s in flat.layout.slots}
    assert slots == {"['b']": (0, 0, 2, (2,)), "['h']": (1, 0, 3, (3,)), "['w']": (0, 2, 6, (2, 3))}
    back = flat.unflatten()
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, e in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(a, e)


def test_layout_roundtrip_of_nested_tree_with_groups():
    flat = LAYOUT.flatten(PARAMS)
    assert flat.keys() == ("False:float32", "True:float32", "False:bfloat16")
    assert LAYOUT.group_sizes == (4 + 1, 12 + 4, 3)
    assert_trees_close(flat.unflatten(), PARAMS, rtol=0, atol=0, bf16_tol=0)


def test_layout_is_static_hashable_and_equal_across_builds():
    other = gdt.flat_layout(jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), PARAMS), groups=MATRIX_MASK)
    assert other == LAYOUT and hash(other) == hash(LAYOUT)
    assert gdt.flat_layout(PARAMS) != LAYOUT
    assert jax.tree.structure(LAYOUT.flatten(PARAMS)) == jax.tree.structure(other.flatten(PARAMS))


def test_flat_params_and_state_survive_pickling():
    flat = LAYOUT.flatten(PARAMS)
    state = gdt.adam(0.1).init(flat)
    flat2, state2 = pickle.loads(pickle.dumps((flat, state)))
    assert flat2.layout == LAYOUT and hash(flat2.layout) == hash(LAYOUT)
    assert jax.tree.structure(state2) == jax.tree.structure(state)
    assert_trees_close(flat2.unflatten(), PARAMS, rtol=0, atol=0, bf16_tol=0)


def test_abstract_params_give_abstract_buffers_and_state():
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), PARAMS)
    flat = LAYOUT.flatten(abstract)
    assert all(isinstance(b, jax.ShapeDtypeStruct) for b in flat.buffers)
    state = gdt.adam(0.1).init(flat)
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(state[0].mu))
    assert jax.tree.leaves(state[0].mu)[1].shape == (16,)


def test_flat_gradient_equals_flattened_tree_gradient():
    def loss(tree):
        w, b = tree["dense"]["w"], tree["dense"]["b"]
        m, (h, s) = tree["layers"]
        return jnp.sum(jnp.tanh(w @ b)) + jnp.sum(m**3) + jnp.sum(h.astype(jnp.float32) ** 2) * s

    flat = LAYOUT.flatten(PARAMS)
    grad_flat = jax.jit(jax.grad(lambda f: loss(f.unflatten())))(flat)
    assert gdt.is_flat(grad_flat) and grad_flat.layout == LAYOUT
    expected = LAYOUT.flatten(jax.grad(loss)(PARAMS))
    for a, e in zip(grad_flat.buffers, expected.buffers):
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(e, np.float32), rtol=1e-6)


def test_layout_errors_name_the_leaf_and_what_was_expected():
    with pytest.raises(ValueError, match=r"\['dense'\]\['w'\] has shape \(4, 3\), expected \(3, 4\)"):
        LAYOUT.flatten({**PARAMS, "dense": {"w": jnp.ones((4, 3)), "b": jnp.ones(4)}})
    with pytest.raises(ValueError, match="missing the leaf"):
        LAYOUT.flatten({"dense": PARAMS["dense"]})
    bad_dtype = jax.tree.map(lambda x: x, PARAMS)
    bad_dtype["dense"]["b"] = bad_dtype["dense"]["b"].astype(jnp.float16)
    with pytest.raises(TypeError, match=r"\['dense'\]\['b'\] has dtype float16.*float32"):
        LAYOUT.flatten(bad_dtype)
    with pytest.raises(TypeError, match=r"leaf at \['a'\] is a str"):
        gdt.flat_layout({"a": "text"})
    with pytest.raises(ValueError, match="no leaves"):
        gdt.flat_layout({})
    with pytest.raises(TypeError, match="expected FlatParams, got dict"):
        LAYOUT.unflatten(PARAMS)
    with pytest.raises(ValueError, match="another layout"):
        LAYOUT.unflatten(gdt.flatten_params(PARAMS))
    with pytest.raises(KeyError, match="buffers are"):
        gdt.flatten_params(PARAMS)["float64"]


# -- Every optimizer on the buffers -----------------------------------------


def run_steps(tx, params, grads, convert):
    """Jitted steps of ``tx`` on ``convert(params)``: (updates, state, params) of each.

    Compiled at XLA backend optimization level 0 (``jit_level0``): the tree and
    the flat runs compared with each other compile alike.
    """
    step = jit_level0(lambda p, s, g: (lambda u, s: (gdt.apply_updates(p, u), s, u))(*tx.update(g, s, p)))
    params, state = convert(params), tx.init(convert(params))
    out = []
    for g in grads:
        params, state, updates = step(params, state, convert(g))
        out.append((updates, state, params))
    return out


# Every alias, and the primitives that need care on buffers (global norms,
# per-leaf norms, masks) or that no alias uses.
FLAT_CASES = sorted(
    name for name in CASES if not name.startswith(("scale", "add_decayed", "trace", "identity", "set_to_zero"))
) + ["add_decayed_weights_mask_fn", "scale_by_schedule", "scale_by_trust_ratio", "set_to_zero"]


# Aliases optax does not have, and per-leaf semantics under a mask.
EXTRA_CASES = {
    "ema_momentum": lambda m: m.ema_momentum(0.1, beta=0.9, debias=True),
    "lamb_masked": lambda m: m.lamb(0.01, weight_decay=0.1, mask=MATRIX_MASK),
    "chain_clip_adamw": lambda m: m.chain(
        m.clip_by_global_norm(0.5), m.adamw(0.01, weight_decay=0.1, mask=MATRIX_MASK)
    ),
}


@pytest.mark.parametrize("case", FLAT_CASES + sorted(EXTRA_CASES))
def test_flat_path_matches_tree_path(case):
    """Updates, state and params, step by step."""
    factory = CASES.get(case) or EXTRA_CASES[case]
    tree = run_steps(factory(gdt), PARAMS, GRADS, lambda t: t)
    flat = run_steps(factory(gdt), PARAMS, GRADS, LAYOUT.flatten)
    for t, (a, e) in enumerate(zip(flat, tree)):
        assert_trees_close(unflatten_all(a), e, msg=f"{case}, step {t}")


def test_optax_runs_unchanged_on_flat_buffers():
    tree = run_steps(optax.adam(0.01), PARAMS, GRADS, lambda t: t)
    flat = run_steps(optax.adam(0.01), PARAMS, GRADS, LAYOUT.flatten)
    assert_trees_close(unflatten_all(flat[-1][2]), tree[-1][2])


# -- Masks and per-leaf transformations --------------------------------------


def decay_matrices(p):
    return jax.tree.map(lambda x: x.ndim > 1, p)


def test_mask_function_sees_the_original_tree_on_flat_buffers():
    """A mask function that looks at ndim would see only 1-D buffers; on the
    flat path it is evaluated on the original tree instead."""
    layout = gdt.flat_layout(PARAMS, groups=decay_matrices)
    assert layout == LAYOUT
    tx = gdt.adamw(0.1, weight_decay=0.5, mask=decay_matrices)
    tree = run_steps(tx, PARAMS, GRADS, lambda t: t)
    flat = run_steps(tx, PARAMS, GRADS, layout.flatten)
    assert_trees_close(unflatten_all(flat[-1]), tree[-1])
    # Masked-out buffers hold no state.
    inner = flat[-1][1][1].inner_state
    assert [b for b in jax.tree.leaves(inner)] == []


def test_layout_mask_and_labels_are_per_buffer():
    assert LAYOUT.mask(MATRIX_MASK).buffers == (False, True, False)
    assert LAYOUT.mask(decay_matrices).buffers == (False, True, False)
    labels = {"dense": "a", "layers": "b"}  # a prefix of the params
    layout = gdt.flat_layout(PARAMS, groups=labels)
    assert layout.labels(labels).buffers == ("a", "b", "b")
    assert layout.group_keys == ("a:float32", "b:float32", "b:bfloat16")


def test_partition_with_labels_on_flat_buffers():
    labels = {"dense": "adam", "layers": "sgd"}  # a prefix of the params
    layout = gdt.flat_layout(PARAMS, groups=labels)
    tx = gdt.partition({"adam": gdt.adam(0.1), "sgd": gdt.sgd(0.1, momentum=0.9)}, labels)
    tree = run_steps(tx, PARAMS, GRADS, lambda t: t)
    flat = run_steps(tx, PARAMS, GRADS, layout.flatten)
    for t, (a, e) in enumerate(zip(flat, tree)):
        assert_trees_close(unflatten_all(a), e, msg=f"step {t}")
    with pytest.raises(ValueError, match="groups="):
        tx.init(LAYOUT.flatten(PARAMS))


def test_mask_that_splits_a_buffer_is_refused():
    layout = gdt.flat_layout(PARAMS)  # one float32 buffer holds matrices and vectors
    with pytest.raises(ValueError, match=r"buffer 'float32' mixes .*groups="):
        layout.mask(MATRIX_MASK)
    tx = gdt.adamw(0.1, mask=decay_matrices)
    with pytest.raises(ValueError, match="groups="):
        tx.init(layout.flatten(PARAMS))
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda p: layout.mask(jax.tree.map(lambda x: x.sum() > 0, p)).buffers)(PARAMS)


def test_masked_with_tree_mask_on_flat_buffers():
    tx = gdt.masked(gdt.scale(-2.0), MATRIX_MASK)
    flat = LAYOUT.flatten(GRADS[0])
    updates, _ = tx.update(flat, tx.init(flat))
    expected = jax.tree.map(lambda g, m: g * -2.0 if m else g, GRADS[0], MATRIX_MASK)
    assert_trees_close(updates.unflatten(), expected)


def test_leafwise_gives_per_leaf_results_on_buffers_and_is_transparent_on_trees():
    def per_leaf_norm(u, p):
        return jax.tree.map(lambda x: jnp.full_like(x, jnp.linalg.norm(x.astype(jnp.float32))), u)

    tx = gdt.leafwise(gdt.stateless(per_leaf_norm))
    on_tree, _ = tx.update(GRADS[1], tx.init(PARAMS))
    flat = LAYOUT.flatten(GRADS[1])
    on_flat, _ = tx.update(flat, tx.init(flat))
    assert_trees_close(on_flat.unflatten(), on_tree)
    # Element-wise reading of a buffer would give one norm per buffer instead.
    plain, _ = gdt.stateless(per_leaf_norm).update(flat, gdt.EmptyState())
    assert float(plain["True:float32"][0]) != float(on_tree["dense"]["w"][0, 0])


def test_lamb_trust_ratio_is_per_leaf_on_buffers():
    tx = gdt.lamb(0.1)
    flat = LAYOUT.flatten(PARAMS)
    updates, _ = jax.jit(tx.update)(LAYOUT.flatten(GRADS[1]), tx.init(flat), flat)
    norms = jax.tree.map(lambda u: float(jnp.linalg.norm(u.astype(jnp.float32))), updates.unflatten())
    expected = jax.tree.map(lambda p: 0.1 * float(jnp.linalg.norm(p.astype(jnp.float32))), PARAMS)
    # Loose: the bfloat16 leaf's updates are rounded to bfloat16.
    assert_trees_close(norms, expected, rtol=3e-3, check_dtypes=False)


# -- The train step ---------------------------------------------------------


def mlp_loss(tree, x, y):
    w, b = tree["dense"]["w"], tree["dense"]["b"]
    m, (h, s) = tree["layers"]
    hidden = jnp.tanh(x @ w + b[None])
    return jnp.mean((hidden[:, :2] @ m * s + h[None, :2].astype(jnp.float32) - y) ** 2)


X, Y = jnp.ones((5, 3)) * 0.3, jnp.zeros((5, 2))


def test_flat_train_step_compiles_once_and_matches_tree_step():
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    opt = gdt.adamw(0.05, weight_decay=0.1, mask=decay_matrices)
    step = gdt.make_train_step(mlp_loss, opt)
    flat = LAYOUT.flatten(PARAMS)
    state = opt.init(flat)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for _ in range(3):
            flat, state, loss = step(flat, state, X, Y)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert len(compiles) == 1
    tree_step = gdt.make_train_step(mlp_loss, opt)
    params, tree_state = jax.tree.map(jnp.copy, PARAMS), opt.init(PARAMS)
    for _ in range(3):
        params, tree_state, tree_loss = tree_step(params, tree_state, X, Y)
    assert_trees_close(flat.unflatten(), params)
    np.testing.assert_allclose(loss, tree_loss, rtol=1e-6)


def test_train_step_donates_by_default_and_has_aux():
    opt = gdt.sgd(0.1, momentum=0.9)
    flat = LAYOUT.flatten(PARAMS)
    state = opt.init(flat)
    step = gdt.make_train_step(lambda t, x, y: (mlp_loss(t, x, y), {"n": 1.0}), opt, has_aux=True)
    new_flat, new_state, loss, aux = step(flat, state, X, Y)
    assert all(b.is_deleted() for b in flat.buffers)
    assert float(aux["n"]) == 1.0 and np.isfinite(loss)
    kept = LAYOUT.flatten(PARAMS)
    gdt.make_train_step(mlp_loss, opt, donate=False)(kept, opt.init(kept), X, Y)
    assert not any(b.is_deleted() for b in kept.buffers)
    with pytest.raises(TypeError, match="loss_fn"):
        gdt.make_train_step(None, opt)
