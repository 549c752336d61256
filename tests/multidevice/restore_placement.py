"""restore_state places every leaf like the target, so the next jitted update runs (issue 13, item 7).

- Into ``opt.init(sharded_params)``: the step count (made by ``jnp.zeros`` on
  one device) comes back replicated on the params' mesh, not committed to one
  device; the next jitted update runs (before: "incompatible devices").
- Into ``jax.eval_shape(opt.init, abstract_params)`` with sharded
  ShapeDtypeStructs: every leaf comes back on the target's sharding (before:
  all on one device).
- A replicated state restores replicated; a sharded one, sharded; values are
  bit-exact.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import os
import tempfile

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import gdtransforms as gdt

mesh = Mesh(np.array(jax.devices()), ("data",))
replicated = NamedSharding(mesh, P())
row = NamedSharding(mesh, P("data"))
opt = gdt.adamw(1e-2, weight_decay=1e-3)
params = c.mlp_params(hidden=16, shift=8)
shardings = jax.tree.map(lambda p: row if p.ndim and p.shape[0] % c.NUM_DEVICES == 0 else replicated, params)
sharded_params = jax.device_put(params, shardings)


@jax.jit
def step(params, state, x, y):
    grads = jax.grad(c.mlp_loss)(params, x, y)
    updates, state = opt.update(grads, state, params)
    return gdt.apply_updates(params, updates), state


x, y = c.data(0)
p1, s1 = step(sharded_params, opt.init(sharded_params), x, y)
path = os.path.join(tempfile.mkdtemp(), "state.npz")
gdt.save_state(path, s1)


def same(a, b):
    return all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# Into opt.init(sharded_params): the count is replicated on the mesh, the moments keep their shardings.
restored = gdt.restore_state(path, opt.init(sharded_params))
assert same(restored, s1)
count = restored[0].count
assert count.sharding.is_equivalent_to(replicated, 0), count.sharding
for leaf, target in zip(jax.tree.leaves(restored[0].mu), jax.tree.leaves(shardings)):
    assert leaf.sharding.is_equivalent_to(target, leaf.ndim), (leaf.sharding, target)
p2, s2 = step(p1, restored, *c.data(1))  # before: incompatible devices
p2_ref, s2_ref = step(p1, s1, *c.data(1))
assert same((p2, s2), (p2_ref, s2_ref))
c.check("restore into opt.init(sharded params): the count replicated on the mesh, the next jitted update runs")

# Into eval_shape with sharded ShapeDtypeStructs: every leaf on the target's sharding.
abstract = jax.tree.map(lambda p, s: jax.ShapeDtypeStruct(p.shape, p.dtype, sharding=s), params, shardings)
target = jax.eval_shape(opt.init, abstract)
target = jax.tree.map(
    lambda t, s: jax.ShapeDtypeStruct(t.shape, t.dtype, sharding=s),
    target,
    gdt.state_shardings(target, abstract),
)
restored = gdt.restore_state(path, target)
assert same(restored, s1)
for leaf in jax.tree.leaves(restored):
    assert len(leaf.sharding.device_set) == c.NUM_DEVICES, leaf.sharding  # before: one device
step(p1, restored, *c.data(1))
c.check("restore into sharded ShapeDtypeStructs: every leaf on the target's sharding")

# A target fully on one device stays there (and uncommitted-style placement is not invented).
single = gdt.restore_state(path, opt.init(params))
assert same(single, s1)
c.check("restore into a single-device target stays on one device")
print("ALL OK")
