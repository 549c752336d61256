"""Data parallelism with ``jax.pmap`` (``lax.pmean``) and ``jax.shard_map`` (``lax.psum``).

10 steps of adam and of sgd with momentum on 8 devices (8 examples each) give
the same params on every device, equal to the 1-device run on the full batch
of 64.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import gdtransforms as gdt

STEPS = 10
n = c.NUM_DEVICES
batches = [c.data(t) for t in range(STEPS)]
mesh = Mesh(np.array(jax.devices()), ("data",))


def one_device_run(opt, params):
    @jax.jit
    def step(params, state, x, y):
        grads = jax.grad(c.mlp_loss)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    state = opt.init(params)
    for x, y in batches:
        params, state = step(params, state, x, y)
    return params, state


def pmap_run(opt, params):
    def step(params, state, x, y):
        grads = jax.grad(c.mlp_loss)(params, x, y)
        grads = jax.lax.pmean(grads, axis_name="batch")
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    pstep = jax.pmap(step, axis_name="batch")
    # Inputs with a leading device axis, placed as pmap places its outputs so
    # that the step compiles once.
    split = NamedSharding(Mesh(np.array(jax.devices()), ("batch",)), P("batch"))
    replicate = lambda tree: jax.device_put(jax.tree.map(lambda v: np.broadcast_to(v, (n, *np.shape(v))), tree), split)
    state = replicate(opt.init(params))
    params = replicate(params)
    for x, y in batches:
        params, state = pstep(params, state, *jax.device_put((x.reshape(n, -1, 16), y.reshape(n, -1, 8)), split))
    return params, state


def shard_map_run(opt, params, check_vma):
    """One jitted shard_map step: params and state replicated, batch split.

    With ``check_vma=True`` (JAX's default) the gradient of replicated params
    is summed over the devices by JAX itself, so the psum goes on the loss;
    with ``check_vma=False`` each device gets its local gradient and the step
    psums the gradients (psumming them under ``check_vma=True`` too would
    count every example ``n`` times).
    """

    def local_step(params, state, x, y):
        if check_vma:
            grads = jax.grad(lambda p: jax.lax.psum(c.mlp_loss(p, x, y), "data") / n)(params)
        else:
            grads = jax.grad(c.mlp_loss)(params, x, y)  # this device's 8 examples
            grads = jax.tree.map(lambda g: jax.lax.psum(g, "data") / n, grads)
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    step = jax.jit(
        jax.shard_map(
            local_step,
            mesh=mesh,
            in_specs=(P(), P(), P("data"), P("data")),
            out_specs=(P(), P()),
            check_vma=check_vma,
        )
    )
    params = jax.device_put(params, NamedSharding(mesh, P()))
    state = jax.device_put(opt.init(params), NamedSharding(mesh, P()))
    for x, y in batches:
        params, state = step(params, state, *jax.device_put((x, y), NamedSharding(mesh, P("data"))))
    return params, state


for name, opt in [("adam", gdt.adam(1e-2)), ("sgd+momentum", gdt.sgd(1e-2, momentum=0.9))]:
    params0 = c.mlp_params()
    ref_params, ref_state = one_device_run(opt, params0)
    moved = max(
        np.abs(np.asarray(a) - np.asarray(b)).max()
        for a, b in zip(jax.tree.leaves(ref_params), jax.tree.leaves(params0))
    )
    assert moved > 1e-2, "the params must move for the comparison to mean something"

    dp_params, dp_state = pmap_run(opt, params0)
    # Every device holds bit-identical params and state.
    for leaf in jax.tree.leaves((dp_params, dp_state)):
        leaf = np.asarray(leaf)
        assert (leaf == leaf[:1]).all(), name
    first = lambda tree: jax.tree.map(lambda v: np.asarray(v)[0], tree)
    # The mean of 8 per-device means is the full-batch mean up to rounding.
    c.assert_trees_close(first(dp_params), ref_params, rtol=1e-5, atol=1e-6, bf16_tol=1e-5, msg=name)
    c.assert_trees_close(first(dp_state), ref_state, rtol=1e-5, atol=1e-6, bf16_tol=1e-5, msg=name)
    if name == "adam":
        assert int(first(dp_state)[0].count) == STEPS
    c.check(f"pmap + pmean, {STEPS} steps of {name} == 1-device full batch, same params on every device")

    check_vma = name == "adam"
    sm_params, sm_state = shard_map_run(opt, params0, check_vma)
    for leaf in jax.tree.leaves((sm_params, sm_state)):
        assert leaf.sharding.is_fully_replicated
        shards = [np.asarray(s.data) for s in leaf.addressable_shards]
        assert all((s == shards[0]).all() for s in shards), name
    c.assert_trees_close(sm_params, ref_params, rtol=1e-5, atol=1e-6, bf16_tol=1e-5, msg=name)
    c.assert_trees_close(sm_state, ref_state, rtol=1e-5, atol=1e-6, bf16_tol=1e-5, msg=name)
    c.check(f"shard_map + psum (check_vma={check_vma}), {STEPS} steps of {name} == 1-device full batch")

print("ALL OK")
