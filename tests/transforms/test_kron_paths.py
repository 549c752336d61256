"""kron under inject_hyperparams (bit for bit) and on the flat path (equal to the tree).

Each jitted kron step takes seconds to compile, so the plain trajectory is
computed once and shared.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from tests._trees import assert_trees_close, gradient_sequence, nested_params, trajectory

STEPS = 20
PARAMS = nested_params()  # float32 leaves, a bfloat16 leaf, a scalar leaf
GRADS = gradient_sequence(PARAMS, STEPS)
# The default probability schedule (a schedule under inject), decay, momentum and factor step changed.
KWARGS = dict(learning_rate=0.05, b1=0.8, weight_decay=1e-2, preconditioner_lr=0.2)


@functools.cache
def _plain_jitted():
    return trajectory(gdt.kron(**KWARGS), PARAMS, GRADS, jit=True)


def _assert_identical(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x, np.float32), np.asarray(y, np.float32))


def test_inject_hyperparams_is_bit_identical_jitted():
    """20 jitted steps on the nested tree (float32, bfloat16 and scalar leaves)."""
    injected, state = trajectory(gdt.inject_hyperparams(gdt.kron)(**KWARGS), PARAMS, GRADS, jit=True)
    plain, plain_state = _plain_jitted()
    _assert_identical(plain, injected)
    _assert_identical(plain_state, state.inner_state)
    assert float(state.hyperparams["preconditioner_update_probability"]) == 1.0
    # The bfloat16 leaf's updates stay bfloat16; the zero-gradient step (t = 3) leaves all finite.
    assert plain[0][0]["layers"][1][0].dtype == jnp.bfloat16
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(plain))


def test_inject_hyperparams_is_bit_identical_eager():
    """Eagerly (every op dispatched alone), a numeric probability: factors move at steps 2 and 4."""
    params = {"s": jnp.float32(0.5), "w": jnp.asarray([[1.0, -2.0], [0.5, 3.0]], jnp.float32)}
    grads = [jax.tree.map(lambda p, t=t: jnp.cos(p * (t + 1)), params) for t in range(4)]
    kwargs = dict(learning_rate=0.05, weight_decay=1e-2, preconditioner_update_probability=0.5)
    plain, plain_state = trajectory(gdt.kron(**kwargs), params, grads, jit=False)
    injected, state = trajectory(gdt.inject_hyperparams(gdt.kron)(**kwargs), params, grads, jit=False)
    _assert_identical(plain, injected)
    _assert_identical(plain_state, state.inner_state)


def test_injected_hyperparameters_change_without_recompiling():
    """A numeric probability under jit: bit-identical to the plain step; rates settable, one compile."""
    params = {"s": jnp.float32(0.5), "w": jnp.asarray([[1.0, -2.0], [0.5, 3.0]], jnp.float32)}
    grads = jax.tree.map(jnp.cos, params)
    opt = gdt.inject_hyperparams(gdt.kron)(learning_rate=0.05, preconditioner_update_probability=1.0)
    plain = gdt.kron(learning_rate=0.05, preconditioner_update_probability=1.0)
    step = jax.jit(opt.update)
    state = opt.init(params)
    u1, new_state = step(grads, state, params)
    u0, plain_state = jax.jit(plain.update)(grads, plain.init(params), params)
    _assert_identical((u0, plain_state), (u1, new_state.inner_state))
    state.hyperparams["learning_rate"] = 0.1
    u2, _ = step(grads, state, params)
    assert_trees_close(u2, jax.tree.map(lambda u: 2 * u, u1), rtol=1e-6)
    state.hyperparams["preconditioner_update_probability"] = 0.5  # then not due at the first step
    _, s3 = step(grads, state, params)
    _assert_identical(s3.inner_state[0].Qs_preconditioners, state.inner_state[0].Qs_preconditioners)
    assert int(s3.inner_state[0].update_counter) == 1
    assert step._cache_size() == 1


def test_flat_path_equals_the_tree():
    """On flat buffers kron runs leaf by leaf (leafwise): the same updates, params and factors."""
    opt = gdt.kron(**KWARGS)
    tree_run, tree_state = _plain_jitted()
    flat = gdt.flatten_params(PARAMS)
    layout = flat.layout
    step = jax.jit(opt.update)
    params, state = flat, opt.init(flat)
    for t in range(STEPS):
        updates, state = step(layout.flatten(GRADS[t]), state, params)
        params = gdt.apply_updates(params, updates)
        assert_trees_close(updates.unflatten(), tree_run[t][0], rtol=1e-5, atol=1e-6, msg=f"updates {t}")
        assert_trees_close(params.unflatten(), tree_run[t][1], rtol=1e-5, atol=1e-6, msg=f"params {t}")
    assert_trees_close(state[0].Qs_preconditioners, tree_state[0].Qs_preconditioners, rtol=1e-5, atol=1e-6)
