"""ZeRO-style state sharding, and init on abstract (ShapeDtypeStruct) params.

- ``jax.eval_shape(opt.init, params)`` and ``opt.init`` on ShapeDtypeStruct
  leaves allocate no param-sized buffer; with ``jax.jit(opt.init,
  out_shardings=...)`` the state is created directly sharded.
- ZeRO: params replicated, Adam's mu/nu split over the data axis with
  ``gdt.zero_state_shardings``: each device holds 1/8 of the state, and 10
  data-parallel steps give the numbers of the replicated run.
- Under explicit sharding (``jax.set_mesh``), init and update follow the
  params' shardings with no helper.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

import gdtransforms as gdt

n = c.NUM_DEVICES
STEPS = 10
mesh = Mesh(np.array(jax.devices()), ("data",))
replicated = NamedSharding(mesh, P())
opt = gdt.adam(1e-2)

# ---------------------------------------------------------------- abstract init
params = c.mlp_params(hidden=256, shift=8)
row = NamedSharding(mesh, P("data"))
abstract_params = jax.tree.map(
    lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype, sharding=row if p.ndim else replicated), params
)
live_before = {id(a) for a in jax.live_arrays()}
abstract_state = jax.eval_shape(opt.init, abstract_params)
direct_state = opt.init(abstract_params)
new_arrays = [a for a in jax.live_arrays() if id(a) not in live_before]
concrete_state = opt.init(params)
for name, state in [("eval_shape", abstract_state), ("init on ShapeDtypeStructs", direct_state)]:
    assert jax.tree.structure(state) == jax.tree.structure(concrete_state), name
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(concrete_state)):
        assert (a.shape, a.dtype) == (b.shape, b.dtype), name
assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(abstract_state))
# opt.init on abstract leaves: every param-shaped leaf stays abstract and keeps
# the param's sharding; only the int32 step count is a concrete scalar.
mirrored = [leaf for leaf in jax.tree.leaves(direct_state) if leaf.shape]
assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in mirrored)
assert all(leaf.sharding == row for leaf in mirrored)
assert all(a.size == 1 for a in new_arrays), [a.shape for a in new_arrays]
assert direct_state[0].count.dtype == jnp.int32 and direct_state[0].count.shape == ()
c.check("eval_shape(opt.init) / opt.init on ShapeDtypeStructs allocate nothing param-sized")

# jit(opt.init, out_shardings=...): the state is born sharded.
fsdp_params = jax.device_put(params, jax.tree.map(lambda s: s.sharding, abstract_params))
state = jax.jit(opt.init, out_shardings=gdt.state_shardings(abstract_state, abstract_params))(fsdp_params)
for leaf in jax.tree.leaves(state):
    shard_shapes = {s.data.shape for s in leaf.addressable_shards}
    expected = {(leaf.shape[0] // n, *leaf.shape[1:])} if leaf.ndim else {()}
    assert shard_shapes == expected, (leaf.shape, shard_shapes)
c.check("jit(opt.init, out_shardings=gdt.state_shardings(...)) creates the state sharded")

# ------------------------------------------------------------------------ ZeRO
params = jax.device_put(params, replicated)
zero = gdt.zero_state_shardings(abstract_state, mesh, "data")
zero_state = jax.jit(opt.init, out_shardings=zero)(params)
repl_state = jax.jit(opt.init, out_shardings=replicated)(params)


def bytes_per_device(tree):
    total = {d: 0 for d in jax.devices()}
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            total[shard.device] += shard.data.nbytes
    return total


zero_bytes, repl_bytes = bytes_per_device(zero_state), bytes_per_device(repl_state)
moments = lambda s: (s[0].mu, s[0].nu)
zero_moments, repl_moments = bytes_per_device(moments(zero_state)), bytes_per_device(moments(repl_state))
scalars = 4 * 3  # the count, and mu and nu of the scalar param: replicated
for d in jax.devices():
    assert zero_moments[d] * n == repl_moments[d] + (n - 1) * 8, (zero_moments[d], repl_moments[d])
    assert zero_bytes[d] * n == repl_bytes[d] + (n - 1) * scalars, (zero_bytes[d], repl_bytes[d])
d0 = jax.devices()[0]
print(
    f"state bytes per device: replicated {repl_bytes[d0]}, ZeRO {zero_bytes[d0]} "
    f"(ratio {zero_bytes[d0] / repl_bytes[d0]:.4f}; 1/8 = 0.125 plus {scalars} B of replicated scalars)"
)


def step(params, state, x, y):
    grads = jax.grad(c.mlp_loss)(params, x, y)
    updates, state = opt.update(grads, state, params)
    return gdt.apply_updates(params, updates), state


batch = NamedSharding(mesh, P("data"))
zero_step = jax.jit(step, in_shardings=(replicated, zero, batch, batch), out_shardings=(replicated, zero))
repl_step = jax.jit(step, in_shardings=(replicated, replicated, batch, batch), out_shardings=(replicated, replicated))
zero_params, repl_params = params, params
for t in range(STEPS):
    x, y = jax.device_put(c.data(t), batch)
    zero_params, zero_state = zero_step(zero_params, zero_state, x, y)
    repl_params, repl_state = repl_step(repl_params, repl_state, x, y)
assert bytes_per_device(zero_state) == zero_bytes  # still sharded after the steps
for leaf, sharding in zip(jax.tree.leaves(zero_state), jax.tree.leaves(zero)):
    assert leaf.sharding == sharding
c.assert_trees_close(zero_params, repl_params, rtol=1e-6, atol=1e-7, bf16_tol=1e-6, msg="ZeRO params")
c.assert_trees_close(zero_state, repl_state, rtol=1e-6, atol=1e-7, bf16_tol=1e-6, msg="ZeRO state")
assert int(zero_state[0].count) == STEPS
c.check(f"ZeRO: state bytes per device = 1/{n} of replicated, {STEPS} steps == replicated run")

# ------------------------------------------------------- explicit sharding mode
explicit = jax.make_mesh((n,), ("data",), axis_types=(AxisType.Explicit,))
with jax.set_mesh(explicit):
    w = jax.device_put(np.arange(64, dtype=np.float32).reshape(16, 4), NamedSharding(explicit, P("data")))
    tx = gdt.sgd(0.1, momentum=0.9)
    tx_state = jax.jit(tx.init)(w)
    updates, tx_state = jax.jit(tx.update)(w, tx_state)
    assert tx_state[0].trace.sharding.spec == P("data", None), tx_state[0].trace.sharding
    assert updates.sharding.spec == P("data", None)
    np.testing.assert_allclose(np.asarray(updates), -0.1 * np.arange(64, dtype=np.float32).reshape(16, 4), rtol=1e-6)
c.check("explicit sharding: init and update follow the params' sharding with no helper")

print("ALL OK")
