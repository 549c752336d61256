"""``check_outputs``: a finite overflow no longer freezes a parameter (issue 13, item 11).

A gradient of 1e30 is finite, but Adam squares it: ``nu`` becomes inf in
float32, the update of that parameter is 0 from then on, and apply_if_finite
(which checks only the incoming gradients, as optax does) never notices. With
``check_outputs=True`` the step is skipped and the parameter keeps training.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

BIG = jnp.array([1e30, 1.0], jnp.float32)  # finite, but its square is not
NORMAL = jnp.array([1.0, 1.0], jnp.float32)


def _train(opt, grads):
    params = jnp.zeros(2)
    state, step = opt.init(params), jax.jit(opt.update)
    for g in grads:
        updates, state = step(g, state, params)
        params = gdt.apply_updates(params, updates)
    return params, state


def _moved_after_the_overflow(opt, every=1):
    before, _ = _train(opt, [BIG] * every)
    after, state = _train(opt, [BIG] * every + [NORMAL] * (4 * every))
    return np.asarray(after - before), state


def test_apply_if_finite_default_keeps_optax_behaviour_and_freezes():
    moved, state = _moved_after_the_overflow(gdt.apply_if_finite(gdt.adam(0.1), 3))
    assert moved[0] == 0.0 and moved[1] != 0.0  # parameter 0 is frozen for good
    assert not np.isfinite(np.asarray(state.inner_state[0].nu)[0])
    assert int(state.total_notfinite) == 0  # and nothing noticed


def test_apply_if_finite_check_outputs_skips_the_overflow():
    moved, state = _moved_after_the_overflow(gdt.apply_if_finite(gdt.adam(0.1), 3, check_outputs=True))
    assert moved[0] < 0 and moved[1] < 0  # both keep descending
    assert np.isfinite(np.asarray(state.inner_state[0].nu)).all()
    assert int(state.total_notfinite) == 1


def test_multisteps_default_freezes_and_check_outputs_does_not():
    frozen, _ = _moved_after_the_overflow(gdt.MultiSteps(gdt.adam(0.1), every_k_schedule=2), every=2)
    assert frozen[0] == 0.0
    opt = gdt.MultiSteps(gdt.adam(0.1), every_k_schedule=2, check_outputs=True)
    moved, state = _moved_after_the_overflow(opt, every=2)
    assert moved[0] < 0 and moved[1] < 0
    assert np.isfinite(np.asarray(state.inner_opt_state[0].nu)).all()
    assert int(state.gradient_step) == 4  # the overflowing cycle was dropped


def test_check_outputs_changes_nothing_on_finite_runs():
    grads = [NORMAL * (i + 1) for i in range(4)]
    for make in (
        lambda c: gdt.apply_if_finite(gdt.adam(0.1), 3, check_outputs=c),
        lambda c: gdt.MultiSteps(gdt.adam(0.1), every_k_schedule=2, check_outputs=c),
    ):
        a, _ = _train(make(False), grads)
        b, _ = _train(make(True), grads)
        np.testing.assert_array_equal(a, b)


def test_check_outputs_must_be_a_bool():
    with pytest.raises(TypeError, match="`check_outputs` must be a bool"):
        gdt.apply_if_finite(gdt.sgd(0.1), 1, check_outputs="yes")
    with pytest.raises(TypeError, match="`check_outputs` must be a bool"):
        gdt.MultiSteps(gdt.sgd(0.1), 2, check_outputs=1)
