"""Tests for weight averaging: ema_params, polyak_params, target-network updates."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests.wrappers_common import assert_trees_close, make_grads, make_params, run

# docs/notes.md §2's London temperatures, as the successive params.
TEMPS = [40.0, 49.0, 45.0, 47.0]


def _ema_history(debias):
    opt = gdt.ema_params(0.98, debias=debias)
    params = jnp.array(TEMPS[0])
    state = opt.init(params)
    history = [float(gdt.averaged_params(state))]
    for new in TEMPS[1:]:
        updates, state = opt.update(jnp.array(new) - params, state, params)
        params = gdt.apply_updates(params, updates)
        history.append(float(gdt.averaged_params(state)))
    return history, state


def test_ema_params_by_hand_with_bias_correction():
    history, state = _ema_history(debias=True)
    b = 0.98
    v0 = (1 - b) * 40.0  # the initial params count as the first value
    v1 = b * v0 + (1 - b) * 49.0  # = 0.0196 * 40 + 0.02 * 49 (docs/notes.md §2 check value)
    v2 = b * v1 + (1 - b) * 45.0
    v3 = b * v2 + (1 - b) * 47.0
    assert v1 == pytest.approx(0.0196 * 40.0 + 0.02 * 49.0)
    expected = [v0 / (1 - b), v1 / 0.0396, v2 / (1 - b**3), v3 / (1 - b**4)]
    np.testing.assert_allclose(history, expected, rtol=1e-6)
    np.testing.assert_allclose(history[:3], [40.0, 44.545454, 44.700040], rtol=1e-6)
    assert int(state.count) == 3
    np.testing.assert_allclose(float(state.weight), 1 - b**4, rtol=1e-6)


def test_ema_params_by_hand_without_bias_correction():
    history, state = _ema_history(debias=False)
    # The lecture's biased average: v_t itself, far below the temperatures.
    np.testing.assert_allclose(history, [0.8, 1.764, 2.62872, 3.5161456], rtol=1e-6)
    assert float(state.weight) == 1.0


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_ema_params_on_the_nested_tree_against_float64(jit):
    decay = 0.9
    params, all_updates, states = run(
        gdt.chain(gdt.sgd(0.1, momentum=0.9), gdt.ema_params(decay)), make_grads(), jit=jit
    )
    # The params trajectory of that run.
    thetas = [make_params()]
    for u in all_updates:
        thetas.append(gdt.apply_updates(thetas[-1], u))
    n = len(thetas)
    weights = [(1 - decay) * decay ** (n - 1 - k) for k in range(n)]
    expected = jax.tree.map(
        lambda *xs: sum(w * np.asarray(x, np.float64) for w, x in zip(weights, xs)) / sum(weights),
        *thetas,
    )
    averaged = gdt.averaged_params(states[-1], like=params)
    for a, p in zip(jax.tree.leaves(averaged), jax.tree.leaves(params)):
        assert a.dtype == p.dtype  # cast back to each param's dtype
    got = jax.tree.map(lambda x: np.asarray(x, np.float64), gdt.averaged_params(states[-1]))
    for g, e, p in zip(jax.tree.leaves(got), jax.tree.leaves(expected), jax.tree.leaves(params)):
        # Under jit XLA may keep bfloat16 sums in float32 (excess precision).
        rtol = 4e-3 if p.dtype == jnp.bfloat16 else 1e-5
        np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-6)
    # The accumulator is float32, also for the bfloat16 leaf.
    ema_state = states[-1][1]
    assert {x.dtype for x in jax.tree.leaves(ema_state.ema)} == {jnp.dtype(jnp.float32)}


def test_ema_params_with_a_scheduled_decay_stays_unbiased():
    opt = gdt.ema_params(lambda count: 0.5 + 0.4 * (count % 2))
    params = {"w": jnp.array([3.0, -1.0])}
    state = opt.init(params)
    for _ in range(5):
        _, state = opt.update({"w": jnp.zeros(2)}, state, params)
    np.testing.assert_allclose(gdt.averaged_params(state)["w"], [3.0, -1.0], rtol=1e-6)


def test_ema_params_skips_the_steps_apply_if_finite_skips():
    opt = gdt.apply_if_finite(gdt.chain(gdt.sgd(1.0), gdt.ema_params(0.5)), 5)
    params = jnp.array([2.0])
    state = opt.init(params)
    for g in (1.0, jnp.nan, jnp.nan, 1.0):
        updates, state = opt.update(jnp.array([g]), state, params)
        params = gdt.apply_updates(params, updates)
    ema_state = gdt.tree_get(state, "EmaParamsState")
    assert int(ema_state.count) == 2
    # theta = 2, 1, 0: v = 0.5 * (0.5 * 0.5 * 2 + 0.5 * 1) + 0.5 * 0 = 0.5, weight 0.875.
    np.testing.assert_allclose(gdt.averaged_params(state), [0.5 / 0.875], rtol=1e-6)


def test_polyak_params_uniform_mean_by_hand():
    opt = gdt.polyak_params()
    params = jnp.array([1.0])
    state = opt.init(params)
    means = [float(gdt.averaged_params(state)[0])]
    for _ in range(3):
        updates, state = opt.update(jnp.array([2.0]), state, params)
        params = gdt.apply_updates(params, updates)
        means.append(float(gdt.averaged_params(state)[0]))
    assert means == [1.0, 2.0, 3.0, 4.0]  # means of 1; 1, 3; 1, 3, 5; 1, 3, 5, 7
    assert int(state.n_averaged) == 4


def test_swa_start_and_every():
    opt = gdt.chain(gdt.sgd(1.0), gdt.polyak_params(start=2, every=2))
    params = jnp.array([0.0])
    state = opt.init(params)
    means = []
    for _ in range(6):  # params 1, 2, ..., 6 (the gradient is -1)
        updates, state = opt.update(jnp.array([-1.0]), state, params)
        params = gdt.apply_updates(params, updates)
        means.append(float(gdt.averaged_params(state)[0]))
    # Before t = 2 the current params; then the mean of theta_2, theta_4, theta_6.
    assert means == [1.0, 2.0, 2.0, 3.0, 3.0, 4.0]


def test_averaged_params_needs_exactly_one_averaging_state():
    params = jnp.zeros(1)
    with pytest.raises(ValueError, match="holds no ema_params/polyak_params"):
        gdt.averaged_params(gdt.adam(1.0).init(params))
    both = gdt.chain(gdt.ema_params(0.9), gdt.polyak_params()).init(params)
    with pytest.raises(ValueError, match=r"holds 2 .*\[0\].*\[1\]"):
        gdt.averaged_params(both)
    np.testing.assert_array_equal(gdt.averaged_params(both[1]), [0.0])


def test_averaging_bad_arguments_and_missing_params():
    with pytest.raises(ValueError, match="decay"):
        gdt.ema_params(1.0)
    with pytest.raises(ValueError, match="every"):
        gdt.polyak_params(every=0)
    with pytest.raises(ValueError, match="start"):
        gdt.polyak_params(start=-1)
    opt = gdt.ema_params(0.9)
    with pytest.raises(ValueError, match="params"):
        opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))


def test_abstract_init_and_tree_map_params():
    params = make_params()
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
    state = gdt.ema_params(0.9).init(abstract)
    assert isinstance(state.ema["dense"]["w"], jax.ShapeDtypeStruct)
    assert state.ema["blocks"][0][1].dtype == jnp.float32
    opt = gdt.chain(gdt.adam(1.0), gdt.ema_params(0.9))
    shapes = gdt.tree_map_params(opt, lambda x: x.shape, opt.init(params))
    assert shapes[1].ema["dense"]["w"] == (3, 2)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_target_network_updates_match_optax(jit):
    online = make_params()
    opt = gdt.sgd(0.1, momentum=0.9)
    opt_state = opt.init(online)

    def step(online, opt_state, target_soft, target_hard, g, t, lib):
        updates, opt_state = opt.update(g, opt_state, online)
        online = gdt.apply_updates(online, updates)
        target_soft = lib.incremental_update(online, target_soft, 0.1)
        target_hard = lib.periodic_update(online, target_hard, t, 5)
        return online, opt_state, target_soft, target_hard

    results = {}
    for lib in (gdt, optax):
        fn = jax.jit(step, static_argnums=6) if jit else step
        state = (online, opt_state, online, online)
        with contextlib.nullcontext() if jit else jax.disable_jit():
            for t, g in enumerate(make_grads()):
                state = fn(*state, g, jnp.asarray(t + 1), lib)
        results[lib.__name__] = state
    assert_trees_close(results["gdtransforms"], results["optax"], "target networks")
    # The hard target was refreshed at step 20 and kept since.
    soft, hard = results["gdtransforms"][2], results["gdtransforms"][3]
    assert not np.allclose(np.asarray(hard["dense"]["w"]), np.asarray(online["dense"]["w"]))
    assert np.isfinite(np.asarray(soft["dense"]["w"])).all()
