"""Tests for conditionally_mask and conditionally_transform."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests.wrappers_common import assert_matches_optax, make_grads


def every_third_skipped(step):
    return step % 3 != 2


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_conditionally_mask_matches_optax(jit):
    _, state = assert_matches_optax(
        gdt.conditionally_mask(gdt.sgd(0.1, momentum=0.9), every_third_skipped),
        optax.conditionally_mask(optax.sgd(0.1, momentum=0.9), every_third_skipped),
        make_grads(),
        jit=jit,
    )
    assert state._fields == optax.ConditionallyMaskState._fields
    assert int(state.step) == 24


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_conditionally_transform_matches_optax(jit):
    _, state = assert_matches_optax(
        gdt.chain(gdt.conditionally_transform(gdt.trace(0.9), every_third_skipped), gdt.scale(-1e-2)),
        optax.chain(optax.conditionally_transform(optax.trace(0.9), every_third_skipped), optax.scale(-1e-2)),
        make_grads(),
        jit=jit,
    )
    assert state[0]._fields == optax.ConditionallyTransformState._fields


def test_by_hand_mask_zeroes_and_transform_passes_through():
    mask = gdt.conditionally_mask(gdt.scale(3.0), lambda step: step >= 1)
    transform = gdt.conditionally_transform(gdt.scale(3.0), lambda step: step >= 1)
    g = jnp.array([1.0, -2.0])
    for tx, first in ((mask, [0.0, 0.0]), (transform, [1.0, -2.0])):
        state = tx.init(g)
        u0, state = tx.update(g, state)
        u1, state = tx.update(g, state)
        np.testing.assert_array_equal(u0, first)
        np.testing.assert_array_equal(u1, [3.0, -6.0])
        assert int(state.step) == 2


def test_forward_extra_args_reach_the_condition():
    tx = gdt.conditionally_mask(gdt.scale(-1.0), lambda step, loss=0.0: loss < 1.0, forward_extra_args=True)
    state = tx.init(jnp.zeros(1))
    u, state = tx.update(jnp.ones(1), state, loss=5.0)
    assert not np.asarray(u).any()
    u, state = jax.jit(lambda u, s: tx.update(u, s, loss=jnp.array(0.5)))(jnp.ones(1), state)
    np.testing.assert_array_equal(u, [-1.0])


def test_condition_must_be_a_bool_scalar():
    tx = gdt.conditionally_transform(gdt.scale(1.0), lambda step: step)
    with pytest.raises(ValueError, match="bool scalar"):
        tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    with pytest.raises(TypeError, match="should_transform_fn"):
        gdt.conditionally_mask(gdt.scale(1.0), True)
