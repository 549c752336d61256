"""PSGD Kron on FSDP-sharded params, on 8 simulated devices.

- After ``init`` (eager, or ``jit`` with ``gdt.state_shardings``) the momentum
  of every param has that param's sharding; the Kronecker factors, the
  counters and the key are replicated.
- Under ``jit`` with the state's shardings given, 5 steps keep updates,
  params and momentum sharded like the params and the factors replicated, and
  the numbers equal the unsharded run's to float32 rounding.
- Under ``jit`` with only the input shardings (XLA's propagation decides the
  rest), the updates, params and momentum still come out like the params.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

import gdtransforms as gdt

STEPS = 5
rng = np.random.default_rng(0)
host_params = {
    "q": rng.standard_normal((32, 16), np.float32),
    "up": rng.standard_normal((8, 32), np.float32),
    "bias": rng.standard_normal(16).astype(np.float32),
    "scale": np.float32(1.5),
}
specs = {"q": P("fsdp", None), "up": P(None, "fsdp"), "bias": P("fsdp"), "scale": P()}
placed = c.Placed(host_params, specs)
params, param_shardings, assert_like_params = placed.params, placed.shardings, placed.assert_like_params
opt = gdt.kron(learning_rate=0.05, weight_decay=0.01, preconditioner_update_probability=1.0)


def assert_replicated(state, what):
    kron = state[0]
    for leaf in [*jax.tree.leaves(kron.Qs_preconditioners), kron.count, kron.update_counter, kron.key]:
        assert leaf.sharding.is_fully_replicated, (what, leaf.shape, leaf.sharding)


def check_state(state, what):
    assert_like_params(state[0].mu, what)
    if what != "eager init":
        assert_replicated(state, what)


state_sh, state = c.init_eager_and_jit(opt, params, check_state)
c.check("init: momentum sharded like the params, factors replicated (eager and jit)")

step = c.make_step(opt)
pinned = jax.jit(step, out_shardings=(param_shardings, state_sh, param_shardings))
(p, s), (ref_params, ref_state) = c.run_against_unsharded(
    pinned, opt, placed, state, STEPS, lambda s, t: check_state(s, f"step {t}"), rtol=2e-5, atol=1e-6
)
c.assert_trees_close(p, ref_params, rtol=2e-5, atol=1e-6, msg="params")
c.assert_trees_close(s, ref_state, rtol=2e-5, atol=1e-6, msg="state")
c.check("jit with state_shardings: momentum like the params, factors replicated; numbers == unsharded")

free = jax.jit(step)  # shardings from the inputs, XLA's propagation for the rest
c.run_sharded(free, placed, state, 2, lambda s, t: assert_like_params(s[0].mu, f"free momentum, step {t}"), "free ")
c.check("jit, propagation only: updates, params and momentum keep each param's sharding")

print("ALL OK")
