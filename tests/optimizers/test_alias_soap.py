"""soap: the alias against the NumPy transcription, weight decay, inject_hyperparams, schedules."""

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from tests._trees import gradient_sequence, nested_params
from tests.transforms.soap_numpy import run_soap_iterates
from tests.transforms.test_soap import PARAMS, f32, grads_jax, grads_np

KWARGS = dict(
    learning_rate=0.05,
    b1=0.9,
    b2=0.95,
    shampoo_beta=0.8,
    weight_decay=0.1,
    precondition_frequency=3,
    max_precond_dim=4,
    precondition_1d=True,
)


def test_first_call_is_weight_decay_only():
    # The first call builds the bases; its update is the decoupled decay alone.
    opt = gdt.soap(learning_rate=0.1, weight_decay=0.5)
    w = jnp.array([[1.0, -2.0], [0.5, 3.0]])
    updates, _ = opt.update(jnp.array([[1.0, 2.0], [3.0, 4.0]]), opt.init(w), w)
    np.testing.assert_allclose(updates, -0.1 * 0.5 * np.asarray(w), rtol=1e-6)


def test_defaults_are_the_authors():
    import inspect

    sig = inspect.signature(gdt.soap).parameters
    defaults = {k: v.default for k, v in sig.items()}
    assert defaults["learning_rate"] == 3e-3 and defaults["b1"] == 0.95 and defaults["b2"] == 0.95
    assert defaults["shampoo_beta"] is None and defaults["eps"] == 1e-8 and defaults["weight_decay"] == 0.01
    assert defaults["precondition_frequency"] == 10 and defaults["max_precond_dim"] == 10000
    assert defaults["precondition_1d"] is False and defaults["normalize_grads"] is False


def test_iterates_match_the_numpy_transcription_for_20_steps():
    opt = gdt.soap(**KWARGS)
    hyper = {k: v for k, v in KWARGS.items() if k not in ("learning_rate", "weight_decay")}
    ref = run_soap_iterates(PARAMS, grads_np, 20, KWARGS["learning_rate"], KWARGS["weight_decay"], **hyper)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    params, p_prev = f32(PARAMS), PARAMS
    state = opt.init(params)
    lr, wd = KWARGS["learning_rate"], KWARGS["weight_decay"]
    for t, (u_ref, p_ref) in enumerate(ref):
        updates, state = step(grads_jax(params, jnp.float32(t)), state, params)
        params = gdt.apply_updates(params, updates)
        for k in PARAMS:
            want = -lr * (u_ref[k] + wd * p_prev[k])
            err_u = np.max(np.abs(np.asarray(updates[k], np.float64) - want)) / np.max(np.abs(want))
            # The iterates move by lr * u each step: a 1% error in u is ~5e-4 of them here.
            err_p = np.max(np.abs(np.asarray(params[k], np.float64) - p_ref[k])) / max(np.max(np.abs(p_ref[k])), 1.0)
            assert err_u < 1e-4 and err_p < 1e-5, (t, k, err_u, err_p)
        p_prev = p_ref


# -- inject_hyperparams ---------------------------------------------------------------

TREE = nested_params()  # float32 leaves, a bfloat16 leaf and a scalar
GRADS = gradient_sequence(TREE, 8)  # bases built, refreshed after steps 3 and 6
INJECT_KWARGS = dict(learning_rate=0.02, b1=0.9, b2=0.95, weight_decay=0.01, precondition_frequency=3)


def _trajectory(opt, jit):
    update = jax.jit(opt.update) if jit else opt.update
    params, state, out = TREE, opt.init(TREE), []
    for grads in GRADS:
        updates, state = update(grads, state, params)
        params = gdt.apply_updates(params, updates)
        out.append((updates, params))
    return out, state


def _assert_identical(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype
        assert jnp.array_equal(x, y), (x, y)


def test_inject_hyperparams_is_bit_identical_eagerly():
    plain, plain_state = _trajectory(gdt.soap(**INJECT_KWARGS), jit=False)
    injected, injected_state = _trajectory(gdt.inject_hyperparams(gdt.soap)(**INJECT_KWARGS), jit=False)
    _assert_identical(plain, injected)
    _assert_identical(plain_state, injected_state.inner_state)


def test_inject_hyperparams_jitted_state_is_bit_identical_updates_within_one_ulp():
    # Jitted, the state (moments, factors, bases) is bit-identical; XLA fuses
    # the plain program's literal hyperparameters differently from the
    # injected ones, so an update may be one ulp off (seen on the scalar leaf
    # at one step in 12), and the params then an ulp or two.
    plain, plain_state = _trajectory(gdt.soap(**INJECT_KWARGS), jit=True)
    injected, injected_state = _trajectory(gdt.inject_hyperparams(gdt.soap)(**INJECT_KWARGS), jit=True)
    _assert_identical(plain_state[0], injected_state.inner_state[0])
    for x, y in zip(jax.tree.leaves(plain), jax.tree.leaves(injected)):
        assert x.dtype == y.dtype
        np.testing.assert_array_max_ulp(np.asarray(x, np.float32), np.asarray(y, np.float32), maxulp=2)


def test_injected_values_change_without_recompiling():
    opt = gdt.inject_hyperparams(gdt.soap)(**INJECT_KWARGS)
    update = jax.jit(opt.update)
    state = opt.init(TREE)
    _, state = update(GRADS[0], state, TREE)
    before, _ = update(GRADS[1], state, TREE)
    state.hyperparams["b1"] = 0.5
    state.hyperparams["learning_rate"] = 0.04
    state.hyperparams["precondition_frequency"] = 1
    after, new_state = update(GRADS[1], state, TREE)
    assert update._cache_size() == 1
    # Against the plain optimizer built with the new values, one step after the same first call.
    plain = gdt.soap(**dict(INJECT_KWARGS, b1=0.5, learning_rate=0.04, precondition_frequency=1))
    p_state = plain.init(TREE)
    _, p_state = plain.update(GRADS[0], p_state, TREE)
    expected, p_state = plain.update(GRADS[1], p_state, TREE)
    for x, y in zip(jax.tree.leaves(after), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.float32(x), np.float32(y), rtol=1e-5, atol=1e-7)
    assert not np.allclose(np.float32(before["dense"]["w"]), np.float32(after["dense"]["w"]))
    # precondition_frequency=1 refreshed the bases after step 1.
    w_bases = new_state.inner_state[0].eigenbases["dense"]["w"][0]
    np.testing.assert_allclose(w_bases, p_state[0].eigenbases["dense"]["w"][0], rtol=1e-5, atol=1e-6)


def test_learning_rate_and_weight_decay_schedules():
    lr = gdt.linear_schedule(0.05, 0.0, 10)
    wd = gdt.constant_schedule(0.1)
    opt = gdt.soap(learning_rate=lr, weight_decay=wd)
    w = {"w": jnp.asarray(PARAMS["w"], jnp.float32)}
    state = opt.init(w)
    updates, state = opt.update(grads_jax(w, 0.0), state, w)
    np.testing.assert_allclose(updates["w"], -0.05 * 0.1 * w["w"], rtol=1e-6)  # schedule at count 0
    updates, state = opt.update(grads_jax(w, 1.0), state, w)
    assert updates["w"].shape == (4, 4)
    sched, _ = gdt.inject_hyperparams(gdt.soap)(learning_rate=lr, weight_decay=0.1).update(
        grads_jax(w, 0.0), gdt.inject_hyperparams(gdt.soap)(learning_rate=lr, weight_decay=0.1).init(w), w
    )
    np.testing.assert_allclose(sched["w"], -0.05 * 0.1 * w["w"], rtol=1e-6)


def test_max_precond_dim_under_inject_uses_the_built_value():
    opt = gdt.inject_hyperparams(gdt.soap)(learning_rate=0.1, max_precond_dim=3)
    state = opt.init({"w": jnp.zeros((2, 4))})
    assert [f.shape for f in state.inner_state[0].preconditioners["w"]] == [(2, 2), (0, 0)]


def test_flat_path_run_equals_the_tree_run():
    params = f32({k: PARAMS[k] for k in ("w", "r", "b", "s")})
    opt = gdt.soap(learning_rate=0.05, weight_decay=0.1, precondition_frequency=2)
    flat = gdt.flatten_params(params)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    tree_state, flat_state, tree_p = opt.init(params), opt.init(flat), params
    for t in range(6):
        u, tree_state = step(grads_jax(tree_p, jnp.float32(t)), tree_state, tree_p)
        tree_p = gdt.apply_updates(tree_p, u)
        g = flat.layout.flatten(grads_jax(flat.unflatten(), jnp.float32(t)))
        u_flat, flat_state = step(g, flat_state, flat)
        flat = gdt.apply_updates(flat, u_flat)
    for k, v in flat.unflatten().items():
        np.testing.assert_allclose(v, tree_p[k], rtol=1e-6, atol=1e-7)
