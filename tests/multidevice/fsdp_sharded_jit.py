"""FSDP-style sharded ``jit``: params sharded over a mesh of 8 devices.

- Every state leaf that mirrors a param has that param's sharding after
  ``init`` (eager, or ``jit`` with ``gdt.state_shardings``) and after
  ``update``; the compiled step has no collective (no resharding).
- The numbers equal the unsharded run bit for bit.
- ``clip_by_global_norm`` sees the global norm of sharded updates.
- A checkpoint restores straight into the sharded layout.
- Params on two meshes, or without shardings, are refused with their paths.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import io

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import gdtransforms as gdt

STEPS = 5
mesh = Mesh(np.array(jax.devices()), ("fsdp",))


def fsdp_spec(shape):
    """Shard the largest axis over the mesh when 8 divides it; else replicate."""
    if not shape:
        return P()
    dim = int(np.argmax(shape))
    if shape[dim] % c.NUM_DEVICES:
        return P()
    return P(*("fsdp" if d == dim else None for d in range(len(shape))))


rng = np.random.default_rng(0)
host_params = {
    "layers": [
        {"w": rng.standard_normal((16, 32), np.float32), "b": np.zeros(32, np.float32)},
        {"w": rng.standard_normal((32, 8), np.float32), "b": (np.full(5, 0.1, np.float32),)},
    ],
    "emb": rng.standard_normal((24, 8)).astype(jnp.bfloat16),
    "scale": np.float32(1.5),
}
param_shardings = jax.tree.map(lambda v: NamedSharding(mesh, fsdp_spec(np.shape(v))), host_params)
params = jax.device_put(host_params, param_shardings)
expected_specs = [tuple(s.spec) for s in jax.tree.leaves(param_shardings)]
# emb, layers[0].b, layers[0].w, layers[1].b[0], layers[1].w, scale
assert expected_specs == [("fsdp", None), ("fsdp",), (None, "fsdp"), (), ("fsdp", None), ()], expected_specs
unsharded = jax.device_put(host_params, jax.devices()[0])


def grads_at(params, t):
    # Elementwise in the params: computing the gradient itself needs no communication.
    return jax.tree.map(lambda p: (jnp.sin(p.astype(jnp.float32) * (1.0 + t)) + 0.1 * p).astype(p.dtype), params)


def mirrors(state, params):
    """(state leaf, param) pairs for every param-shaped subtree of state."""
    pairs = []
    for sub in jax.tree.leaves(state, is_leaf=lambda x: jax.tree.structure(x) == jax.tree.structure(params)):
        if jax.tree.structure(sub) == jax.tree.structure(params):
            pairs += list(zip(jax.tree.leaves(sub), jax.tree.leaves(params)))
    return pairs


def assert_mirrored(state, params, what):
    pairs = mirrors(state, params)
    assert pairs, what
    for leaf, param in pairs:
        assert leaf.sharding.is_equivalent_to(param.sharding, param.ndim), (what, leaf.sharding, param.sharding)
    for leaf in jax.tree.leaves(state):
        if leaf.ndim == 0:
            assert leaf.sharding.is_fully_replicated, (what, leaf.sharding)


for name, opt in [
    ("adam(mu_dtype=float32)", gdt.adam(1e-2, mu_dtype=jnp.float32)),
    ("sgd+momentum", gdt.sgd(1e-2, momentum=0.9)),
]:
    # init: eagerly, the zeros take each param's sharding ...
    assert_mirrored(opt.init(params), params, f"{name} eager init")
    # ... and under jit, with the shardings from gdt.state_shardings.
    abstract_state = jax.eval_shape(opt.init, params)
    state_sh = gdt.state_shardings(abstract_state, params)
    state = jax.jit(opt.init, out_shardings=state_sh)(params)
    assert_mirrored(state, params, f"{name} jit init")

    def step(params, state, t):
        updates, state = opt.update(grads_at(params, t), state, params)
        return gdt.apply_updates(params, updates), state

    replicated = NamedSharding(mesh, P())
    times = [(jax.device_put(np.float32(t), replicated), jnp.float32(t)) for t in range(STEPS)]
    sharded_step = jax.jit(
        step, in_shardings=(param_shardings, state_sh, None), out_shardings=(param_shardings, state_sh)
    )
    compiled = sharded_step.lower(params, state, times[0][0]).compile()
    assert c.collectives_in(compiled) == [], (name, c.collectives_in(compiled))
    # Without in/out shardings, XLA's propagation keeps the layout too (and
    # the compiled step would refuse inputs laid out otherwise).
    free = jax.jit(step).lower(params, state, times[0][0]).compile()
    assert c.collectives_in(free) == [], name

    plain_step = jax.jit(step)
    ref_params, ref_state = unsharded, opt.init(unsharded)
    p_free, s_free = params, state
    with jax.transfer_guard("disallow"):  # no silent transfer in the loop
        for t, t_one_device in times:
            params, state = compiled(params, state, t)
            p_free, s_free = free(p_free, s_free, t)
            ref_params, ref_state = plain_step(ref_params, ref_state, t_one_device)
    assert_mirrored(state, params, f"{name} after update")
    assert_mirrored(s_free, p_free, f"{name} after update, propagated shardings")
    for p, s in zip(jax.tree.leaves(params), jax.tree.leaves(param_shardings)):
        assert p.sharding.is_equivalent_to(s, p.ndim)
    # Equal up to float32 rounding: XLA vectorises the per-device slices
    # differently from the whole arrays (sin, fused multiply-adds).
    c.assert_trees_close(params, ref_params, rtol=1e-6, atol=1e-7, bf16_tol=1e-6, msg=name)
    c.assert_trees_close(state, ref_state, rtol=1e-6, atol=1e-7, bf16_tol=1e-6, msg=name)
    c.assert_trees_close(p_free, params, rtol=0, atol=0, bf16_tol=0, msg=name)

    # A checkpoint restores directly into the sharded layout.
    buffer = io.BytesIO()
    gdt.save_state(buffer, state)
    buffer.seek(0)
    target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract_state, state_sh)
    restored = gdt.restore_state(buffer, target)  # allocation-free target
    assert_mirrored(restored, params, f"{name} restored")
    c.assert_trees_close(restored, state, rtol=0, atol=0, bf16_tol=0, msg=f"{name} restored")
    params = jax.device_put(host_params, param_shardings)
    c.check(f"FSDP {name}: state mirrors param shardings after init/update, no collectives, == unsharded")

# clip_by_global_norm on sharded updates uses the norm of the whole tree.
clip = gdt.clip_by_global_norm(1.0)
# float32 leaves: a bfloat16 sum of squares would blur the comparison.
grads = jax.jit(lambda p, t: jax.tree.map(lambda g: g.astype(jnp.float32), grads_at(p, t)))(params, 3.0)
host_grads = [np.asarray(g, np.float64) for g in jax.tree.leaves(grads)]
norm = np.sqrt(sum((g**2).sum() for g in host_grads))
assert norm > 1.0, norm
clipped, _ = jax.jit(clip.update)(grads, clip.init(params))
norm_fn = jax.jit(gdt.global_norm)
np.testing.assert_allclose(float(norm_fn(grads)), norm, rtol=1e-6)
# The norm needs a reduction across devices: the collective detector sees it.
assert "all-reduce" in c.collectives_in(norm_fn.lower(grads).compile())
for got, g, p in zip(jax.tree.leaves(clipped), host_grads, jax.tree.leaves(params)):
    assert got.sharding.is_equivalent_to(p.sharding, p.ndim)
    np.testing.assert_allclose(np.asarray(got, np.float64), g / norm, rtol=1e-5, atol=1e-7)
np.testing.assert_allclose(float(norm_fn(clipped)), 1.0, rtol=1e-6)
c.check("clip_by_global_norm on sharded params clips by the global norm")

# Bad input: params on two meshes; params without a sharding.
other = Mesh(np.array(jax.devices()[:4]), ("fsdp",))
split = {
    "a": jax.device_put(jnp.ones(8), NamedSharding(mesh, P("fsdp"))),
    "b": jax.device_put(jnp.ones(8), NamedSharding(other, P("fsdp"))),
}
try:
    gdt.state_shardings(gdt.adam(0.1).init(split), split)
except ValueError as e:
    assert "['a']" in str(e) and "['b']" in str(e) and "different meshes" in str(e), e
else:
    raise AssertionError("params on two meshes were accepted")
try:
    gdt.state_shardings(abstract_state, host_params)
except TypeError as e:
    assert "the param at ['emb'] has no sharding (got ndarray)" in str(e), e
else:
    raise AssertionError("params without shardings were accepted")
c.check("mismatched shardings are refused, naming the paths")

print("ALL OK")
