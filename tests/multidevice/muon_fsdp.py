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
import numpy as np
from jax.sharding import PartitionSpec as P

import gdtransforms as gdt

STEPS = 5
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
placed = c.Placed(host_params, specs)
params, assert_like_params = placed.params, placed.assert_like_params
opt = gdt.contrib.muon(learning_rate=0.05, weight_decay=0.01)


def momenta(state):
    """The Muon momentum leaves by name."""
    return {k: v for k, v in state.inner_states["muon"].inner_state[0].mu.items() if hasattr(v, "sharding")}


def check_momenta(state, what):
    assert sorted(momenta(state)) == ["down", "k", "q", "up"], sorted(momenta(state))
    assert_like_params(momenta(state), what)


state_sh, state = c.init_eager_and_jit(opt, params, check_momenta)
c.check("init: Muon's momentum has each matrix's sharding (eager and jit)")

free = jax.jit(c.make_step(opt))  # shardings from the inputs, XLA's propagation for the rest
ref_params_at = []
(p, s), (ref_params, ref_state) = c.run_against_unsharded(
    free,
    opt,
    placed,
    state,
    STEPS,
    lambda s, t: check_momenta(s, f"momentum, step {t}"),
    rtol=2e-5,
    atol=1e-6,
    ref_params_at=ref_params_at,
)
c.assert_trees_close(p, ref_params, rtol=2e-5, atol=1e-6, msg="params")
c.assert_trees_close(s, ref_state, rtol=2e-5, atol=1e-6, msg="state")
c.check("jit: updates, params and momentum keep each param's sharding; numbers == unsharded")


def check_eager(updates, state, t):
    assert_like_params(updates, f"eager updates, step {t}")
    assert_like_params(momenta(state), f"eager momentum, step {t}")


# Against the unsharded run above after the same 2 steps.
p, _ = c.run_eager(opt, params, 2, check_eager)
c.assert_trees_close(p, ref_params_at[1], rtol=2e-5, atol=1e-6, msg="eager params")
c.check("eager: updates and momentum keep each param's sharding; numbers == unsharded")

print("ALL OK")
