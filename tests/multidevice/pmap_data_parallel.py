"""Data parallelism with ``jax.pmap``: gradients averaged with ``lax.pmean``.

10 steps of adam and of sgd with momentum on 8 devices (8 examples each) give
the same params on every device, equal to the 1-device run on the full batch
of 64.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt

STEPS = 10
n = c.NUM_DEVICES


def one_device_run(opt, params):
    @jax.jit
    def step(params, state, x, y):
        grads = jax.grad(c.mlp_loss)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    state = opt.init(params)
    for t in range(STEPS):
        params, state = step(params, state, *c.data(t))
    return params, state


def pmap_run(opt, params):
    def step(params, state, x, y):
        grads = jax.grad(c.mlp_loss)(params, x, y)
        grads = jax.lax.pmean(grads, axis_name="batch")
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    pstep = jax.pmap(step, axis_name="batch")
    replicate = lambda tree: jax.tree.map(lambda v: jnp.broadcast_to(v, (n, *jnp.shape(v))), tree)
    params = replicate(params)
    state = jax.pmap(opt.init)(params)
    for t in range(STEPS):
        x, y = c.data(t)
        params, state = pstep(params, state, x.reshape(n, -1, 16), y.reshape(n, -1, 8))
    return params, state


for name, opt in [("adam", gdt.adam(1e-2)), ("sgd+momentum", gdt.sgd(1e-2, momentum=0.9))]:
    params0 = c.mlp_params()
    ref_params, ref_state = one_device_run(opt, params0)
    dp_params, dp_state = pmap_run(opt, params0)
    # Every device holds bit-identical params and state.
    for leaf in jax.tree.leaves((dp_params, dp_state)):
        leaf = np.asarray(leaf)
        assert (leaf == leaf[:1]).all(), name
    first = lambda tree: jax.tree.map(lambda v: v[0], tree)
    # The mean of 8 per-device means is the full-batch mean up to rounding.
    c.assert_trees_close(first(dp_params), ref_params, rtol=1e-5, atol=1e-6, what=name)
    c.assert_trees_close(first(dp_state), ref_state, rtol=1e-5, atol=1e-6, what=name)
    if name == "adam":
        assert int(first(dp_state)[0].count) == STEPS
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(ref_params), jax.tree.leaves(params0)))
    assert moved > 1e-3, "the params must move for the comparison to mean something"
    c.check(f"pmap + pmean, {STEPS} steps of {name} == 1-device full batch")

print("ALL OK")
