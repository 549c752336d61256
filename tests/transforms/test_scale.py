"""Scaling by a constant, a learning rate or a schedule."""

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def test_scale_multiplies_every_leaf():
    u, state = gdt.scale(-0.5).update({"a": jnp.array([2.0]), "b": [jnp.array(4.0)]}, gdt.EmptyState())
    np.testing.assert_array_equal(u["a"], [-1.0])
    np.testing.assert_array_equal(u["b"][0], -2.0)
    assert state == gdt.EmptyState()


def test_scale_keeps_bfloat16():
    u, _ = gdt.scale(0.1).update(jnp.ones(2, jnp.bfloat16), gdt.EmptyState())
    assert u.dtype == jnp.bfloat16


def test_scale_by_learning_rate_flips_sign_for_descent():
    u, _ = gdt.scale_by_learning_rate(0.1).update(jnp.array([2.0]), gdt.EmptyState())
    np.testing.assert_allclose(u, [-0.2])
    u, _ = gdt.scale_by_learning_rate(0.1, flip_sign=False).update(jnp.array([2.0]), gdt.EmptyState())
    np.testing.assert_allclose(u, [0.2])


def test_scale_by_learning_rate_none_is_identity():
    tx = gdt.scale_by_learning_rate(None)
    u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    np.testing.assert_array_equal(u, [2.0])


def test_scale_by_schedule_reads_the_step_count():
    tx = gdt.scale_by_schedule(lambda count: 1.0 / (1.0 + count))
    state = tx.init(jnp.zeros(1))
    seen = []
    for _ in range(3):
        u, state = tx.update(jnp.array([6.0]), state)
        seen.append(float(u[0]))
    np.testing.assert_allclose(seen, [6.0, 3.0, 2.0])
    assert state.count.dtype == jnp.int32 and int(state.count) == 3


def test_scale_by_schedule_jits_once_for_all_steps():
    tx = gdt.scale_by_learning_rate(lambda count: 0.1 * 0.5**count)
    step = jax.jit(tx.update)
    state = tx.init(jnp.zeros(1))
    for _ in range(4):
        u, state = step(jnp.array([1.0]), state)
    np.testing.assert_allclose(u, [-0.1 * 0.5**3])
    assert step._cache_size() == 1


def test_step_count_saturates_instead_of_wrapping():
    top = jnp.iinfo(jnp.int32).max
    assert int(gdt.safe_increment(jnp.int32(top))) == top
    assert int(gdt.safe_increment(jnp.int32(5))) == 6


def test_scale_by_float32_array_keeps_bfloat16_updates():
    u, _ = gdt.scale(jnp.float32(0.5)).update(jnp.ones(2, jnp.bfloat16), gdt.EmptyState())
    assert u.dtype == jnp.bfloat16
