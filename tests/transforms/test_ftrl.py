"""FTRL-Proximal: two steps by hand, Keras' rule in NumPy for 20 steps, sparsity, inject, flat, jit."""

from __future__ import annotations

import functools
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from tests._trees import gradient_sequence, history, nested_params

STEPS = 20
PARAMS = nested_params()  # float32 leaves, a bfloat16 leaf and a scalar leaf
GRADS = gradient_sequence(PARAMS, STEPS)  # step 3 is all zeros


def _sparsify(grads, t):
    """Zero about a third of the entries, a different third each step (sparse features)."""
    rng = np.random.default_rng(100 + t)
    return jax.tree.map(lambda g: jnp.where(jnp.asarray(rng.random(np.shape(g)) < 0.33), 0, g).astype(g.dtype), grads)


SPARSE_GRADS = [_sparsify(g, t) for t, g in enumerate(GRADS)]


def test_defaults_are_keras():
    expected = dict(
        learning_rate=0.001,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
    )
    for factory in (gdt.ftrl, gdt.scale_by_ftrl):
        params = inspect.signature(factory).parameters
        assert {k: p.default for k, p in params.items()} == expected


# -- Two steps by hand ------------------------------------------------------------------


def test_two_steps_by_hand_with_l1_and_l2():
    # lr = 1, n0 = 0, l1 = 1, l2 = 0.5, beta = 1: the denominator is (1 + sqrt(n)) + 2 * 0.5.
    opt = gdt.ftrl(
        learning_rate=1.0,
        initial_accumulator_value=0.0,
        l1_regularization_strength=1.0,
        l2_regularization_strength=0.5,
        beta=1.0,
    )
    w0 = jnp.array([2.0, -1.0, 0.3])
    state = opt.init(w0)
    u1, state = opt.update(jnp.array([3.0, 0.5, 0.0]), state, w0)
    # a: n = 9, sigma = 3, z = 3 - 3 * 2 = -3, |z| > 1: w = (-1 + 3) / (1 + 3 + 1) = 0.4.
    # b: n = 0.25, sigma = 0.5, z = 0.5 - 0.5 * (-1) = 1 <= l1: w = 0.
    # c: zero gradient: nothing moves.
    np.testing.assert_allclose(u1, [0.4 - 2.0, 0.0 + 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(state.z, [-3.0, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(state.n, [9.0, 0.25, 0.0], rtol=1e-6)
    w1 = w0 + u1
    u2, state = opt.update(jnp.array([4.0, -4.0, 1.0]), state, w1)
    # a: n = 25, sigma = 5 - 3 = 2, z = -3 + 4 - 2 * 0.4 = 0.2 <= l1: w = 0.
    # b: n = 16.25, sigma = sqrt(16.25) - 0.5, z = 1 - 4 - sigma * 0 = -3: w = (-1 + 3) / (2 + sqrt(16.25)).
    # c: n = 1, sigma = 1, z = 1 - 0.3 = 0.7 <= l1: w = 0.
    w2_b = 2.0 / (2.0 + math.sqrt(16.25))
    np.testing.assert_allclose(u2, [-0.4, w2_b - 0.0, -0.3], rtol=1e-6)
    np.testing.assert_allclose(state.z, [0.2, -3.0, 0.7], rtol=1e-5)
    np.testing.assert_allclose(state.n, [25.0, 16.25, 1.0], rtol=1e-6)
    assert int(state.count) == 2


def test_l1_gives_exact_zeros_and_l2_shrinks():
    w = jnp.zeros(4)
    g = jnp.array([0.05, -0.2, 1.0, -3.0])
    plain, _ = gdt.ftrl(0.1).update(g, gdt.ftrl(0.1).init(w), w)
    l1, _ = gdt.ftrl(0.1, l1_regularization_strength=0.5).update(g, gdt.ftrl(0.1).init(w), w)
    l2, _ = gdt.ftrl(0.1, l2_regularization_strength=5.0).update(g, gdt.ftrl(0.1).init(w), w)
    assert np.all(plain != 0)
    np.testing.assert_array_equal(l1[:2], [0.0, 0.0])  # |z| <= l1
    assert np.all(np.abs(l2) < np.abs(plain))


# -- Keras' rule in NumPy ---------------------------------------------------------------


def keras_ftrl_step(w, g, z, n, *, lr, p, l1, l2, l2s, beta):
    """Keras' Ftrl.update_step, transcribed in float64, for the entries present in a sparse gradient.

    new_accum = accum + g^2
    linear += (g + 2 l2s w) - (new_accum^(-p) - accum^(-p)) / lr * w
    quadratic = new_accum^(-p) / lr + 2 (l2 + beta / (2 lr))
    w = (clip(linear, -l1, l1) - linear) / quadratic
    """
    present = g != 0
    l2_reg = l2 + beta / (2.0 * lr)
    new_n = n + g * g
    new_z = z + (g + 2 * l2s * w) - (new_n ** (-p) - n ** (-p)) / lr * w
    quadratic = new_n ** (-p) / lr + 2 * l2_reg
    new_w = (np.clip(new_z, -l1, l1) - new_z) / quadratic
    return np.where(present, new_w, w), np.where(present, new_z, z), np.where(present, new_n, n)


def _as(x, dtype):
    return np.asarray(jnp.asarray(x, dtype), np.float64)


def keras_reference(hp, grads_seq):
    """(updates, z, n, params) after each step, each leaf rounded to its dtype as the library stores it."""
    lr_of = hp["learning_rate"] if callable(hp["learning_rate"]) else (lambda t, v=hp["learning_rate"]: v)
    leaves, treedef = jax.tree.flatten(PARAMS)
    dtypes = [leaf.dtype for leaf in leaves]
    w = [np.asarray(leaf, np.float64) for leaf in leaves]
    z = [np.zeros_like(x) for x in w]
    n = [_as(np.full_like(x, hp["initial_accumulator_value"]), d) for x, d in zip(w, dtypes)]
    out = []
    for t, grads in enumerate(grads_seq):
        lr = float(np.float32(lr_of(t)))
        updates = []
        for i, g in enumerate(treedef.flatten_up_to(grads)):
            new_w, z[i], n[i] = keras_ftrl_step(
                w[i],
                np.asarray(g, np.float64),
                z[i],
                n[i],
                lr=lr,
                p=hp["learning_rate_power"],
                l1=hp["l1_regularization_strength"],
                l2=hp["l2_regularization_strength"],
                l2s=hp["l2_shrinkage_regularization_strength"],
                beta=hp["beta"],
            )
            u = _as(new_w - w[i], dtypes[i])
            z[i], n[i] = _as(z[i], dtypes[i]), _as(n[i], dtypes[i])
            w[i] = _as(w[i] + u, dtypes[i])
            updates.append(u)
        out.append([treedef.unflatten(x) for x in (updates, list(z), list(n), list(w))])
    return out


def _schedule(count):
    return 0.05 / (1.0 + 0.2 * count)


CONFIGS = {
    "l1_l2": dict(
        learning_rate=0.1,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.01,
        l2_regularization_strength=0.1,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
    ),
    "shrinkage_power_beta_schedule": dict(
        learning_rate=_schedule,
        learning_rate_power=-0.3,
        initial_accumulator_value=0.5,
        l1_regularization_strength=0.002,
        l2_regularization_strength=0.05,
        l2_shrinkage_regularization_strength=0.2,
        beta=0.5,
    ),
    "power_zero": dict(
        learning_rate=0.02,
        learning_rate_power=0.0,
        initial_accumulator_value=0.0,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
    ),
}


def _assert_leaf(actual, expected, where, scale_of=0.0):
    """Relative to the step's values; an update (a difference of two weights) relative to the weights."""
    actual = jnp.asarray(actual)
    low = actual.dtype == jnp.bfloat16
    rtol = 2e-2 if low else 2e-5
    scale = max(float(np.max(np.abs(expected), initial=0.0)), float(np.max(np.abs(scale_of), initial=0.0)), 1e-30)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=rtol * scale, err_msg=where)


@functools.cache
def _trajectory(name, jit, sparse):
    hp = CONFIGS[name]
    return history(gdt.ftrl(**hp), PARAMS, SPARSE_GRADS if sparse else GRADS, jit=jit)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_matches_keras_rule_for_20_steps(name, jit, sparse):
    grads_seq = SPARSE_GRADS if sparse else GRADS
    expected = keras_reference(CONFIGS[name], grads_seq)
    ours = _trajectory(name, jit, sparse)
    for t, ((updates, state, params), (e_u, e_z, e_n, e_w)) in enumerate(zip(ours, expected)):
        assert int(state.count) == t + 1
        pairs = [("updates", updates, e_u), ("z", state.z, e_z), ("n", state.n, e_n), ("params", params, e_w)]
        for what, a, e in pairs:
            for i, (x, y, w) in enumerate(zip(jax.tree.leaves(a), jax.tree.leaves(e), jax.tree.leaves(e_w))):
                _assert_leaf(x, y, f"{name}, step {t}, {what}, leaf {i}", w if what == "updates" else 0.0)
        assert [x.dtype for x in jax.tree.leaves(updates)] == [x.dtype for x in jax.tree.leaves(PARAMS)]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_jit_equals_eager(name):
    # To a few float32 ulps of the weights (~1): XLA fuses the jitted step differently.
    for t, (a, b) in enumerate(zip(_trajectory(name, False, True), _trajectory(name, True, True))):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert x.dtype == y.dtype
            tol = 1e-2 if x.dtype == jnp.bfloat16 else 1e-6
            np.testing.assert_allclose(
                np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=tol, atol=tol, err_msg=f"step {t}"
            )


def test_a_one_percent_error_fails():
    hp = dict(CONFIGS["l1_l2"], learning_rate=0.1 * 1.01)
    expected = keras_reference(CONFIGS["l1_l2"], GRADS[:2])
    updates = history(gdt.ftrl(**hp), PARAMS, GRADS[:2], jit=False)[1][0]
    with pytest.raises(AssertionError):
        for x, y, w in zip(jax.tree.leaves(updates), jax.tree.leaves(expected[1][0]), jax.tree.leaves(expected[1][3])):
            _assert_leaf(x, y, "", w)


# -- Sparse gradients ---------------------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_zero_gradient_entries_keep_state_and_weight(jit):
    opt = gdt.ftrl(0.1, l1_regularization_strength=0.01, l2_shrinkage_regularization_strength=0.5)
    update = jax.jit(opt.update) if jit else opt.update
    w = jnp.array([0.5, -1.0, 2.0, 0.25])
    state = opt.init(w)
    first, state = update(jnp.array([1.0, 2.0, -1.0, 0.5]), state, w)
    w = w + first
    g = jnp.array([0.0, -0.5, 0.0, 3.0])  # entries 0 and 2 absent
    updates, new_state = update(g, state, w)
    idle = np.array([0, 2])
    np.testing.assert_array_equal(np.asarray(updates)[idle], 0.0)
    np.testing.assert_array_equal(np.asarray(new_state.z)[idle], np.asarray(state.z)[idle])
    np.testing.assert_array_equal(np.asarray(new_state.n)[idle], np.asarray(state.n)[idle])
    assert np.all(np.asarray(updates)[[1, 3]] != 0)
    # A first step with nothing present leaves the initial weights (Keras' dense rule would zero them).
    w0 = jnp.array([0.7, -0.3])
    u0, s0 = update(jnp.zeros(2), opt.init(w0), w0)
    np.testing.assert_array_equal(u0, 0.0)
    np.testing.assert_array_equal(s0.n, np.float32(0.1))


# -- Arguments and trees ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, error",
    [
        ("learning_rate", 0.0, ValueError),
        ("learning_rate", -0.1, ValueError),
        ("learning_rate", "fast", TypeError),
        ("learning_rate_power", 0.5, ValueError),
        ("initial_accumulator_value", -0.1, ValueError),
        ("l1_regularization_strength", -1.0, ValueError),
        ("l2_regularization_strength", -1.0, ValueError),
        ("l2_shrinkage_regularization_strength", -1.0, ValueError),
        ("beta", -1.0, ValueError),
        ("beta", jnp.ones(2), ValueError),
    ],
)
def test_bad_arguments_are_named(name, value, error):
    for factory in (gdt.ftrl, gdt.scale_by_ftrl):
        with pytest.raises(error, match=f"`{name}`"):
            factory(**{name: value})


def test_missing_params_and_wrong_trees_raise_clearly():
    opt = gdt.ftrl(0.1)
    state = opt.init(PARAMS)
    with pytest.raises(ValueError, match="needs the current parameters"):
        opt.update(GRADS[0], state)
    bad = {**GRADS[0], "dense": {"w": jnp.ones((3, 5)), "b": GRADS[0]["dense"]["b"]}}
    with pytest.raises(ValueError, match=r"\['dense'\]\['w'\]"):
        opt.update(bad, state, PARAMS)
    with pytest.raises(TypeError, match="FtrlState"):
        opt.update(GRADS[0], gdt.adam(0.1).init(PARAMS), PARAMS)
    with pytest.raises(TypeError, match="params"):
        opt.init({"w": jnp.ones(2, jnp.int32)})


def test_schedule_is_read_at_the_step_count():
    w = jnp.array([1.0])
    g = jnp.array([2.0])
    opt = gdt.ftrl(lambda count: 0.5 * (count + 1), initial_accumulator_value=0.0)
    state = opt.init(w)
    _, state = opt.update(g, state, w)
    u2, _ = opt.update(g, state, w)
    # step 1 used lr 0.5: z = 2 - (2 / 0.5) * 1 = -2; step 2 at lr 1: z = -2 + 2 - (sqrt(8) - 2) * 1.
    z2 = -(math.sqrt(8.0) - 2.0)
    np.testing.assert_allclose(u2, [-z2 / math.sqrt(8.0) - 1.0], rtol=1e-6)


# -- inject_hyperparams and the flat path --------------------------------------------------


INJECT = {
    "defaults": dict(learning_rate=0.1),
    "schedule": dict(learning_rate=_schedule, l1_regularization_strength=0.01, beta=0.2),
    "all": dict(CONFIGS["l1_l2"], l2_shrinkage_regularization_strength=0.1, beta=0.3, learning_rate_power=-0.4),
}


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(INJECT))
def test_bit_identical_under_inject_hyperparams(name, jit):
    kwargs = INJECT[name]
    plain = history(gdt.ftrl(**kwargs), PARAMS, SPARSE_GRADS[:8], jit=jit)
    injected = history(gdt.inject_hyperparams(gdt.ftrl)(**kwargs), PARAMS, SPARSE_GRADS[:8], jit=jit)
    for t, ((u1, s1, p1), (u2, s2, p2)) in enumerate(zip(plain, injected)):
        for x, y in zip(jax.tree.leaves((u1, s1, p1)), jax.tree.leaves((u2, s2.inner_state, p2))):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f"{name}, step {t}")


def test_injected_rate_can_change_without_recompiling():
    opt = gdt.inject_hyperparams(gdt.ftrl)(learning_rate=0.1, l1_regularization_strength=0.01)
    step = jax.jit(opt.update)
    state = opt.init(PARAMS)
    _, state = step(GRADS[0], state, PARAMS)
    state.hyperparams["l1_regularization_strength"] = 100.0
    updates, state = step(GRADS[1], state, PARAMS)
    assert step._cache_size() == 1
    new = gdt.apply_updates(PARAMS, updates)
    for leaf in jax.tree.leaves(new):  # |z| <= l1 everywhere: every weight is exactly 0
        np.testing.assert_array_equal(np.asarray(leaf, np.float32), 0.0)


def test_flat_path_equals_tree_path():
    hp = CONFIGS["shrinkage_power_beta_schedule"]
    tree = _trajectory("shrinkage_power_beta_schedule", True, True)
    flat = history(gdt.ftrl(**hp), gdt.flatten_params(PARAMS), SPARSE_GRADS, jit=True)
    for t, ((u1, _, p1), (u2, s2, p2)) in enumerate(zip(tree, flat)):
        assert gdt.is_flat(s2.z)
        for a, b in [(u1, u2.unflatten()), (p1, p2.unflatten())]:
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
                assert x.dtype == y.dtype
                np.testing.assert_allclose(
                    np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=1e-6, atol=1e-7, err_msg=f"step {t}"
                )
