"""Tests for MultiSteps (gradient accumulation)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests.wrappers_common import (
    assert_matches_optax,
    make_grads,
    make_params,
    state_leaf_count,
)

NAN_STEPS = (2, 7, 8, 13, 19)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_multisteps_skip_not_finite_matches_optax_with_nan_steps(jit):
    grads = make_grads(nan_steps=NAN_STEPS, inf_steps=(16,))
    ours = gdt.MultiSteps(gdt.adam(1e-2), every_k_schedule=3, should_skip_update_fn=gdt.skip_not_finite)
    ref = optax.MultiSteps(optax.adam(1e-2), every_k_schedule=3, should_skip_update_fn=optax.skip_not_finite)
    params, state = assert_matches_optax(
        ours.gradient_transformation(),
        ref.gradient_transformation(),
        grads,
        jit=jit,
    )
    assert state._fields == optax.MultiStepsState._fields
    # 24 mini-steps, 6 skipped: 18 accumulated, 6 updates.
    assert int(state.gradient_step) == 6 and int(state.mini_step) == 0
    assert int(gdt.tree_get(state.inner_opt_state, "count")) == 6
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(params))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_multisteps_sum_and_growing_schedule_match_optax(jit):
    schedule = lambda step: 2 + step // 2  # noqa: E731  k = 2, 2, 3, 3, 4, ...
    ours = gdt.MultiSteps(gdt.sgd(0.1, momentum=0.9), schedule, use_grad_mean=False)
    ref = optax.MultiSteps(optax.sgd(0.1, momentum=0.9), schedule, use_grad_mean=False)
    assert_matches_optax(
        ours.gradient_transformation(),
        ref.gradient_transformation(),
        make_grads(),
        jit=jit,
    )


def test_multisteps_by_hand_mean_of_k_gradients():
    opt = gdt.MultiSteps(gdt.sgd(1.0), every_k_schedule=3)
    state = opt.init(jnp.zeros(2))
    outs = []
    for g in ([1.0, 2.0], [3.0, -4.0], [5.0, 8.0], [1.0, 1.0]):
        updates, state = opt.update(jnp.array(g), state)
        outs.append((np.asarray(updates), bool(opt.has_updated(state))))
    np.testing.assert_array_equal(outs[0][0], [0.0, 0.0])
    np.testing.assert_array_equal(outs[1][0], [0.0, 0.0])
    np.testing.assert_allclose(outs[2][0], [-3.0, -2.0])  # -(mean of the three)
    assert [o[1] for o in outs] == [False, False, True, False]
    np.testing.assert_allclose(state.acc_grads, [1.0, 1.0])


def test_multisteps_keeps_exactly_one_extra_buffer():
    params = make_params()
    inner = gdt.adam(1e-2)
    opt = gdt.MultiSteps(inner, every_k_schedule=4)
    state = opt.init(params)
    n_params = len(jax.tree.leaves(params))
    # mini_step + gradient_step + the inner state + one accumulator per leaf.
    assert state_leaf_count(state) == 2 + state_leaf_count(inner.init(params)) + n_params
    # The accumulator is float32, also for the bfloat16 leaf.
    assert {x.dtype for x in jax.tree.leaves(state.acc_grads)} == {jnp.dtype(jnp.float32)}


def test_multisteps_in_a_chain_and_inner_runs_only_when_applying():
    calls = []

    def update(updates, state, params=None, **extra_args):
        calls.append(not isinstance(updates, jax.core.Tracer))  # eval_shape traces
        return updates, state

    counting = gdt.GradientTransformation(gdt.init_empty_state, update)
    opt = gdt.chain(gdt.MultiSteps(counting, 4).gradient_transformation(), gdt.scale(-1.0))
    state = opt.init(jnp.zeros(1))
    for _ in range(8):
        _, state = opt.update(jnp.ones(1), state)
    assert sum(calls) == 2  # Eagerly, the inner update ran only at the 2 updates.


def test_skip_large_updates_records_the_norm():
    skip = functools.partial(gdt.skip_large_updates, max_squared_norm=10.0)
    opt = gdt.MultiSteps(gdt.sgd(1.0), 2, should_skip_update_fn=skip)
    state = opt.init(jnp.zeros(2))
    updates, state = opt.update(jnp.array([3.0, 4.0]), state)  # 25 >= 10: skipped
    assert bool(state.skip_state["should_skip"])
    assert float(state.skip_state["norm_squared"]) == 25.0
    assert int(state.mini_step) == 0 and not np.asarray(state.acc_grads).any()
    _, state = opt.update(jnp.array([1.0, 2.0]), state)
    assert not bool(state.skip_state["should_skip"]) and int(state.mini_step) == 1


def test_skip_not_finite_counts():
    skip, info = gdt.skip_not_finite({"a": jnp.array([jnp.nan, jnp.inf, 1.0])}, 0, None)
    assert bool(skip) and int(info["num_not_finite"]) == 2


def test_accumulator_recovers_after_a_nan_cycle():
    # Without a skip function the NaN reaches the update; the accumulator is
    # reset to exact zeros afterwards (optax leaves 0 * NaN = NaN in it).
    opt = gdt.MultiSteps(gdt.sgd(1.0), 2)
    state = opt.init(jnp.zeros(1))
    for g in (jnp.nan, 1.0):
        updates, state = opt.update(jnp.array([g]), state)
    assert np.isnan(np.asarray(updates)).all()
    np.testing.assert_array_equal(state.acc_grads, [0.0])
    for g in (1.0, 3.0):
        updates, state = opt.update(jnp.array([g]), state)
    np.testing.assert_allclose(updates, [-2.0])


@pytest.mark.parametrize("k", [0, -2])
def test_every_k_schedule_must_be_positive(k):
    with pytest.raises(ValueError, match="every_k_schedule"):
        gdt.MultiSteps(gdt.sgd(1.0), k)


def test_bad_arguments():
    with pytest.raises(TypeError, match="every_k_schedule"):
        gdt.MultiSteps(gdt.sgd(1.0), 2.5)
    opt = gdt.MultiSteps(gdt.sgd(1.0), lambda step: 0)
    with pytest.raises(ValueError, match="every_k_schedule"):
        opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))
    bad = gdt.MultiSteps(gdt.sgd(1.0), 2, should_skip_update_fn=lambda u, s, p: (1.0, ()))
    with pytest.raises(ValueError, match="bool scalar"):
        bad.update(jnp.ones(1), bad.init(jnp.zeros(1)))
    assert bad.inner_opt is not None
