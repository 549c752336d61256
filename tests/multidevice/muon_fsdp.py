"""Muon on FSDP-sharded matrices (optax #1660), on 8 simulated devices.

- After ``init`` (eager, or ``jit`` with ``gdt.state_shardings``) the momentum
  of every matrix has that matrix's sharding.
- Under ``jit`` with only the input shardings given (XLA's propagation decides
  the rest), the updates, new params and momentum come out with each param's
  sharding: the grouped Newton–Schulz chain does not gather a matrix onto
  every device for good.
- Eagerly, with the arrays as they are, the same holds.
- The numbers equal the unsharded run's to float32 rounding, for 5 steps.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import gdtransforms as gdt

STEPS = 5
mesh = Mesh(np.array(jax.devices()), ("fsdp",))
rng = np.random.default_rng(0)
# Two same-shaped matrices (one group), a tall one, a row-sharded and a
# column-sharded wide one, a bias (AdamW) and a scalar.
host_params = {
    "q": rng.standard_normal((32, 32), np.float32),
    "k": rng.standard_normal((32, 32), np.float32),
    "up": rng.standard_normal((16, 64), np.float32),
    "down": rng.standard_normal((64, 16), np.float32),
    "bias": rng.standard_normal(16).astype(np.float32),
    "scale": np.float32(1.5),
}
specs = {"q": P("fsdp", None), "k": P("fsdp", None), "up": P(None, "fsdp"), "down": P("fsdp", None)}
specs.update({"bias": P("fsdp"), "scale": P()})
param_shardings = {k: NamedSharding(mesh, specs[k]) for k in host_params}
params = jax.device_put(host_params, param_shardings)
unsharded = jax.device_put(host_params, jax.devices()[0])
opt = gdt.contrib.muon(learning_rate=0.05, weight_decay=0.01)


def grads_at(params, t):
    return jax.tree.map(lambda p: jnp.sin(p * (1.0 + t)) + 0.1 * p, params)


def momenta(state):
    """The Muon momentum leaves by name."""
    return {k: v for k, v in state.inner_states["muon"].inner_state[0].mu.items() if hasattr(v, "sharding")}


def assert_like_params(tree, what):
    for k, leaf in tree.items():
        want = param_shardings[k]
        assert leaf.sharding.is_equivalent_to(want, leaf.ndim), (what, k, leaf.sharding, want)


state = opt.init(params)
assert sorted(momenta(state)) == ["down", "k", "q", "up"], sorted(momenta(state))
assert_like_params(momenta(state), "eager init")
abstract_state = jax.eval_shape(opt.init, params)
state_sh = gdt.state_shardings(abstract_state, params)
state = jax.jit(opt.init, out_shardings=state_sh)(params)
assert_like_params(momenta(state), "jit init")
c.check("init: Muon's momentum has each matrix's sharding (eager and jit)")


def step(params, state, t):
    updates, state = opt.update(grads_at(params, t), state, params)
    return gdt.apply_updates(params, updates), state, updates


free = jax.jit(step)  # shardings from the inputs, XLA's propagation for the rest
plain = jax.jit(step)
ref_params, ref_state = unsharded, opt.init(unsharded)
p, s = params, state
for t in range(STEPS):
    p, s, u = free(p, s, jnp.float32(t))
    ref_params, ref_state, ref_updates = plain(ref_params, ref_state, jnp.float32(t))
    assert_like_params(u, f"updates, step {t}")
    assert_like_params(p, f"params, step {t}")
    assert_like_params(momenta(s), f"momentum, step {t}")
    c.assert_trees_close(u, ref_updates, rtol=2e-5, atol=1e-6, msg=f"updates, step {t}")
c.assert_trees_close(p, ref_params, rtol=2e-5, atol=1e-6, msg="params")
c.assert_trees_close(s, ref_state, rtol=2e-5, atol=1e-6, msg="state")
c.check("jit: updates, params and momentum keep each param's sharding; numbers == unsharded")

state = opt.init(params)
p, s = params, state
for t in range(2):
    updates, s = opt.update(grads_at(p, t), s, p)
    p = gdt.apply_updates(p, updates)
    assert_like_params(updates, f"eager updates, step {t}")
    assert_like_params(momenta(s), f"eager momentum, step {t}")
ref_p, ref_s = unsharded, opt.init(unsharded)
for t in range(2):
    ref_u, ref_s = opt.update(grads_at(ref_p, t), ref_s, ref_p)
    ref_p = gdt.apply_updates(ref_p, ref_u)
c.assert_trees_close(p, ref_p, rtol=2e-5, atol=1e-6, msg="eager params")
c.check("eager: updates and momentum keep each param's sharding; numbers == unsharded")

print("ALL OK")
