"""Tests for apply_if_finite and zero_nans."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests.wrappers_common import assert_matches_optax, make_grads, make_params

# Streaks of at most 2 non-finite steps: below max_consecutive_errors=2, so
# the wrapper never gives up and optax's counters are right too.
NAN_STEPS = (3, 8, 9, 15, 20)
INF_STEPS = (12, 21)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_apply_if_finite_matches_optax_with_nan_steps(jit):
    grads = make_grads(nan_steps=NAN_STEPS, inf_steps=INF_STEPS)
    _, state = assert_matches_optax(
        gdt.apply_if_finite(gdt.adam(1e-2), 2),
        optax.apply_if_finite(optax.adam(1e-2), 2),
        grads,
        jit=jit,
    )
    assert int(state.total_notfinite) == len(NAN_STEPS) + len(INF_STEPS)
    assert state._fields == optax.ApplyIfFiniteState._fields


def test_nan_gradient_never_reaches_params_or_state():
    tx = gdt.apply_if_finite(gdt.adam(1e-2), max_consecutive_errors=3)
    grads = make_grads(steps=20, nan_steps=(1, 2, 3, 7, 11, 12), inf_steps=(16,))
    params = make_params()
    state = tx.init(params)
    step = jax.jit(lambda p, s, g: tx.update(g, s, p))
    for t, g in enumerate(grads):
        bad = any(not np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(g))
        updates, new_state = step(params, state, g)
        new_params = gdt.apply_updates(params, updates)
        for leaf in jax.tree.leaves((new_params, new_state, updates)):
            assert np.isfinite(np.asarray(leaf, np.float32)).all(), f"non-finite at step {t}"
        if bad:
            # Skipped: zero updates, params and inner state bit-identical.
            for u in jax.tree.leaves(updates):
                assert not np.asarray(u, np.float32).any()
            for a, b in zip(
                jax.tree.leaves((new_params, new_state.inner_state)), jax.tree.leaves((params, state.inner_state))
            ):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            assert not bool(new_state.last_finite)
        params, state = new_params, new_state
    assert int(state.total_notfinite) == 7
    # The inner Adam counted only the 13 finite steps.
    assert int(gdt.tree_get(state, "count")) == 13


def test_give_up_resets_the_streak_optax_1746():
    # max_consecutive_errors=1: a streak of 5 NaN steps is skipped, applied
    # (give up, streak reset), skipped, applied, skipped.
    tx = gdt.apply_if_finite(gdt.sgd(1.0), 1)
    ref = optax.apply_if_finite(optax.sgd(1.0), 1)
    params = jnp.zeros(2)
    state, ref_state = tx.init(params), ref.init(params)
    nan = jnp.array([jnp.nan, 1.0])
    applied, streaks, ref_streaks = [], [], []
    for _ in range(5):
        updates, state = tx.update(nan, state)
        with jax.disable_jit():  # optax's lax.cond would compile at every eager call
            _, ref_state = ref.update(nan, ref_state)
        applied.append(bool(np.isnan(np.asarray(updates)).any()))
        streaks.append(int(state.notfinite_count))
        ref_streaks.append(int(ref_state.notfinite_count))
    assert applied == [False, True, False, True, False]
    assert streaks == [1, 0, 1, 0, 1]
    assert ref_streaks == [1, 2, 3, 4, 5]  # optax's counter runs away (#1746).
    assert int(state.total_notfinite) == 5
    # A finite step after the streak ends it.
    _, state = tx.update(jnp.ones(2), state)
    assert int(state.notfinite_count) == 0 and bool(state.last_finite)


def test_max_consecutive_errors_zero_applies_everything():
    tx = gdt.apply_if_finite(gdt.sgd(1.0), 0)
    updates, state = tx.update(jnp.array([jnp.inf]), tx.init(jnp.zeros(1)))
    assert np.isinf(np.asarray(updates)).all()
    assert int(state.notfinite_count) == 0 and int(state.total_notfinite) == 1


def test_apply_if_finite_bad_arguments():
    with pytest.raises(ValueError, match="max_consecutive_errors"):
        gdt.apply_if_finite(gdt.sgd(1.0), -1)
    with pytest.raises(TypeError, match="max_consecutive_errors"):
        gdt.apply_if_finite(gdt.sgd(1.0), 1.5)


def test_apply_if_finite_forwards_extra_args_and_keeps_dtypes():
    seen = []

    def update(updates, state, params=None, *, value=None, **extra_args):
        seen.append(value)
        return jax.tree.map(lambda u: u.astype(jnp.float32), updates), state

    tx = gdt.apply_if_finite(gdt.GradientTransformation(gdt.init_empty_state, update), 1)
    grads = {"a": jnp.ones(2, jnp.bfloat16)}
    state = tx.init(grads)
    # The inner transformation changes the dtype; the skip branch follows it.
    updates, state = tx.update({"a": jnp.array([jnp.nan, 1], jnp.bfloat16)}, state, value=3.0)
    assert updates["a"].dtype == jnp.float32 and not np.asarray(updates["a"]).any()
    assert 3.0 in seen


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_zero_nans_matches_optax(jit):
    grads = make_grads(nan_steps=NAN_STEPS, inf_steps=INF_STEPS)
    _, state = assert_matches_optax(
        gdt.chain(gdt.zero_nans(), gdt.sgd(0.1, momentum=0.9)),
        optax.chain(optax.zero_nans(), optax.sgd(0.1, momentum=0.9)),
        grads[:20] + [grads[3]],
        jit=jit,
    )
    # The last step had a NaN in the bfloat16 leaf only.
    found = state[0].found_nan
    assert bool(found["blocks"][0][1]) and not bool(found["blocks"][0][0])
    assert not bool(found["dense"]["w"])


def test_zero_nans_by_hand():
    tx = gdt.zero_nans()
    updates, state = tx.update(
        {"a": jnp.array([1.0, jnp.nan, jnp.inf]), "b": jnp.ones(1)},
        tx.init({"a": jnp.zeros(3), "b": jnp.zeros(1)}),
    )
    np.testing.assert_array_equal(updates["a"], [1.0, 0.0, np.inf])
    assert bool(state.found_nan["a"]) and not bool(state.found_nan["b"])
