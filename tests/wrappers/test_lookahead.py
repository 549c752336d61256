"""Tests for lookahead."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests.wrappers_common import assert_trees_close, make_grads, make_params, run


def _synced(container=gdt.LookaheadParams):
    return container.init_synced(make_params())


@pytest.mark.parametrize(
    "reset_state, jit",
    [(False, False), (False, True), (True, True)],
    ids=["keep-eager", "keep-jit", "reset-jit"],
)
def test_lookahead_matches_optax(reset_state, jit):
    # The gradients are taken as given (the loop does not differentiate), so
    # both runs see the same ones.
    grads = make_grads()
    ours = gdt.lookahead(gdt.adam(1e-2), sync_period=5, slow_step_size=0.5, reset_state=reset_state)
    ref = optax.lookahead(optax.adam(1e-2), sync_period=5, slow_step_size=0.5, reset_state=reset_state)
    params, updates, states = run(ours, grads, jit=jit, params=_synced())
    ref_params, ref_updates, ref_states = run(ref, grads, jit=jit, params=_synced(optax.LookaheadParams))
    assert len(updates) >= 20
    for t in range(len(grads)):
        assert_trees_close(updates[t], ref_updates[t], f"updates at step {t}")
        assert_trees_close(states[t], ref_states[t], f"state at step {t}")
    assert_trees_close(params, ref_params, "final params")
    assert isinstance(params, gdt.LookaheadParams)


@pytest.mark.parametrize(
    "slow_step_size, expected",
    [
        # fast 4 -> 2 -> (1, then sync: slow = 4 + 0.5 (1 - 4) = 2.5, fast = slow)
        #  -> 1.25 -> (0.625, sync: slow = 2.5 + 0.5 (0.625 - 2.5) = 1.5625)
        (0.5, [(2.0, 4.0), (2.5, 2.5), (1.25, 2.5), (1.5625, 1.5625)]),
        # 0 is accepted, as in optax: at each sync the fast weights return to the slow ones.
        (0.0, [(2.0, 4.0), (4.0, 4.0), (2.0, 4.0), (4.0, 4.0)]),
    ],
)
def test_lookahead_by_hand(slow_step_size, expected):
    # f(x) = x^2 / 2, grad = x; fast sgd with rate 0.5 halves x each step.
    opt = gdt.lookahead(gdt.sgd(0.5), sync_period=2, slow_step_size=slow_step_size)
    params = gdt.LookaheadParams.init_synced(jnp.array([4.0]))
    state = opt.init(params)
    history = []
    for _ in range(4):
        updates, state = opt.update(params.fast, state, params)
        params = gdt.apply_updates(params, updates)
        history.append((float(params.fast[0]), float(params.slow[0])))
    assert history == expected


def test_lookahead_takes_optax_lookahead_params():
    opt = gdt.lookahead(gdt.sgd(0.5), sync_period=2, slow_step_size=0.5)
    params = optax.LookaheadParams.init_synced(jnp.array([4.0]))
    updates, _ = opt.update(params.fast, opt.init(params), params)
    assert isinstance(updates, optax.LookaheadParams)


def test_lookahead_accepts_plain_params_at_init():
    opt = gdt.lookahead(gdt.adam(1.0), 2, 0.5)
    params = make_params()
    a = opt.init(params)
    b = opt.init(gdt.LookaheadParams.init_synced(params))
    assert jax.tree.structure(a) == jax.tree.structure(b)


@pytest.mark.parametrize("sync_period", [0, -3])
def test_sync_period_must_be_positive(sync_period):
    with pytest.raises(ValueError, match="sync_period"):
        gdt.lookahead(gdt.sgd(1.0), sync_period, 0.5)


@pytest.mark.parametrize("slow_step_size", [-0.5, 1.5, float("nan")])  # 0.0 is allowed, as in optax
def test_slow_step_size_must_be_in_0_1(slow_step_size):
    with pytest.raises(ValueError, match="slow_step_size"):
        gdt.lookahead(gdt.sgd(1.0), 2, slow_step_size)


def test_slow_step_size_one_and_bad_params():
    opt = gdt.lookahead(gdt.sgd(1.0), 1, 1.0)  # (0, 1] includes 1
    state = opt.init(jnp.zeros(2))
    with pytest.raises(TypeError, match="LookaheadParams"):
        opt.update(jnp.ones(2), state, jnp.zeros(2))
    with pytest.raises(ValueError, match="params"):
        opt.update(jnp.ones(2), state)
    with pytest.raises(TypeError, match="sync_period"):
        gdt.lookahead(gdt.sgd(1.0), 2.0, 0.5)
    np.testing.assert_array_equal(gdt.LookaheadParams.init_synced(1).slow, 1)
