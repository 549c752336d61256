"""The contrib optimizers' states keep their dtypes from step to step (docs/DIFFERENCES.md).

optax's DoG, DoWG, Prodigy, D-Adaptation and MoMo create their scalar state in
the params' least precise dtype and return it as float32 after one step, so on
a tree with a bfloat16 leaf the jitted step compiles twice and ``lax.scan``
refuses the carry. Here every state leaf keeps its ``init`` dtype, and a scan
over steps runs. The updates keep each gradient leaf's dtype (the float32
scalars must not promote a bfloat16 or float16 update), so an update inside
``lax.cond`` whose other branch returns the params compiles, as optax's
``contrib/_common_test`` asks (``test_preserve_dtype``,
``test_state_shape_dtype_shard_stability``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

PARAMS = {"w": jnp.array([[0.5, -1.0], [2.0, 0.25]], jnp.float32), "b": jnp.array([1.0, -2.0], jnp.bfloat16)}
GRADS = jax.tree.map(
    lambda p: (0.1 * jnp.arange(1, p.size + 1, dtype=jnp.float32).reshape(p.shape)).astype(p.dtype), PARAMS
)

OPTIMIZERS = {
    "dog": lambda: gdt.contrib.dog(),
    "dowg": lambda: gdt.contrib.dowg(),
    "prodigy": lambda: gdt.contrib.prodigy(),
    "dadapt_adamw": lambda: gdt.contrib.dadapt_adamw(),
    "momo": lambda: gdt.contrib.momo(),
    "momo_adam": lambda: gdt.contrib.momo_adam(),
    "mechanize": lambda: gdt.contrib.mechanize(gdt.sgd(0.1)),
}


def _signature(tree):
    return [(jnp.asarray(x).dtype, jnp.shape(x)) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dtypes_are_stable_and_scan_runs(name):
    opt = OPTIMIZERS[name]()
    extra = {"value": jnp.asarray(1.5, jnp.float32)} if name.startswith("momo") else {}
    state = opt.init(PARAMS)
    scalar_dtypes = {jnp.asarray(x).dtype for x in jax.tree.leaves(state) if jnp.ndim(x) == 0}
    assert jnp.dtype(jnp.bfloat16) not in scalar_dtypes, "scalar state must be float32 or wider"
    updates, after = opt.update(GRADS, state, PARAMS, **extra)
    assert _signature(after) == _signature(state)
    assert _signature(updates) == _signature(GRADS), "updates must keep each gradient leaf's dtype"

    def body(carry, _):
        params, st = carry
        updates, st = opt.update(GRADS, st, params, **extra)
        return (gdt.apply_updates(params, updates), st), None

    (params, _), _ = jax.lax.scan(body, (PARAMS, state), None, length=3)
    assert _signature(params) == _signature(PARAMS)
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(params))
    assert not np.array_equal(np.asarray(params["w"]), np.asarray(PARAMS["w"])), "three steps must move the params"


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_update_inside_cond_keeps_the_params_dtype(name, dtype):
    """optax's test: one branch of a ``lax.cond`` updates, the other returns the params unchanged."""
    opt = OPTIMIZERS[name]()
    params = jnp.array([-1.0, 10.0, 1.0], dtype)
    loss = lambda x: jnp.sum((x - 2.0) ** 2)  # no zero gradient (float16 0 / (0 + eps) is another matter)
    # The value in another low-precision dtype, to confuse the dtypes (as optax's test does).
    confuse = jnp.bfloat16 if dtype == jnp.float16 else jnp.float16
    extra = {"value": loss(params).astype(confuse)} if name.startswith("momo") else {}

    @jax.jit
    def step(params, state, take):
        grads = jax.grad(loss)(params)
        updates, state = jax.lax.cond(
            take, lambda: opt.update(grads, state, params, **extra), lambda: (jnp.zeros_like(params), state)
        )
        return updates, gdt.apply_updates(params, updates), state

    state = opt.init(params)
    updates, new_params, new_state = step(params, state, jnp.asarray(True))
    assert updates.dtype == dtype and new_params.dtype == dtype
    assert _signature(new_state) == _signature(state)
    assert np.isfinite(np.asarray(updates, np.float32)).all() and np.any(np.asarray(updates, np.float32) != 0)
