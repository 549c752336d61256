"""SOAP on FSDP-sharded params, on 8 simulated devices.

- After ``init`` (eager, or ``jit`` with ``gdt.state_shardings``) the Adam
  moments ``mu`` and ``nu`` of every leaf have that leaf's sharding; the
  (d x d) factors and eigenbases are replicated.
- Under ``jit`` with only the input shardings given (XLA's propagation decides
  the rest), updates, params, ``mu`` and ``nu`` come out with each param's
  sharding and the factors and bases replicated, for 5 steps that include two
  refreshes of the bases; the numbers equal the unsharded run's to float32
  rounding.
- Eagerly, with the arrays as they are, the same holds.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

import gdtransforms as gdt

STEPS = 5
rng = np.random.default_rng(0)
# Square matrices sharded by rows and by columns; a tall and a wide one whose
# long axis (64 > max_precond_dim) keeps the identity basis; a bias (plain
# Adam) and a scalar. (No factor starts with a repeated zero eigenvalue, so
# the sharded and unsharded runs start from the same bases.)
host_params = {
    "q": rng.standard_normal((32, 32), np.float32),
    "k": rng.standard_normal((32, 32), np.float32),
    "down": rng.standard_normal((64, 16), np.float32),
    "up": rng.standard_normal((16, 64), np.float32),
    "bias": rng.standard_normal(16).astype(np.float32),
    "scale": np.float32(1.5),
}
specs = {"q": P("fsdp", None), "k": P(None, "fsdp"), "down": P("fsdp", None), "up": P(None, "fsdp")}
specs.update({"bias": P("fsdp"), "scale": P()})
placed = c.Placed(host_params, specs)
params, param_shardings, assert_like_params = placed.params, placed.shardings, placed.assert_like_params
opt = gdt.soap(learning_rate=0.01, weight_decay=0.01, precondition_frequency=2, max_precond_dim=32)


def soap_state(state):
    return state[0]


def assert_moments_sharded(state, what):
    assert_like_params(soap_state(state).mu, f"mu, {what}")
    assert_like_params(soap_state(state).nu, f"nu, {what}")


def assert_factors_replicated(state, what):
    s = soap_state(state)
    matrices = [m for m in jax.tree.leaves((s.preconditioners, s.eigenbases)) if m.size]
    # q and k: two factors each; down and up: one each (the 64 axis is left as is).
    assert len(matrices) == 2 * 6, len(matrices)
    for m in matrices:
        assert m.sharding.is_fully_replicated, (what, m.shape, m.sharding)


def check_init(state, what):
    assert_moments_sharded(state, what)
    if what == "jit init":
        assert_factors_replicated(state, what)


state_sh, state = c.init_eager_and_jit(opt, params, check_init)
c.check("init: mu and nu have each param's sharding, factors and bases are replicated (eager and jit)")

step = c.make_step(opt)
free = jax.jit(step)  # shardings from the inputs, XLA's propagation for the rest
(p, s), (ref_params, ref_state) = c.run_against_unsharded(
    free, opt, placed, state, STEPS, lambda s, t: assert_moments_sharded(s, f"step {t}"), rtol=1e-4, atol=2e-6
)
c.assert_trees_close(p, ref_params, rtol=1e-5, atol=1e-5, msg="params")
c.assert_trees_close(soap_state(s).mu, soap_state(ref_state).mu, rtol=1e-5, atol=1e-6, msg="mu")
c.check("jit: updates, params, mu and nu keep each param's sharding; numbers == unsharded")

# With the state's shardings given (the usual FSDP step), the factors and bases
# stay replicated and the step compiles once. (Left to XLA's propagation, it
# may shard a factor of a row-sharded matrix by rows instead.)
pinned = jax.jit(step, out_shardings=(param_shardings, state_sh, param_shardings))


def check_pinned(state, t):
    assert_moments_sharded(state, f"pinned step {t}")
    assert_factors_replicated(state, f"pinned step {t}")


p, _ = c.run_sharded(pinned, placed, jax.jit(opt.init, out_shardings=state_sh)(params), STEPS, check_pinned, "pinned ")
assert pinned._cache_size() == 1, pinned._cache_size()
c.assert_trees_close(p, ref_params, rtol=1e-5, atol=1e-5, msg="pinned params")
c.check("jit with gdt.state_shardings: factors and bases replicated, moments sharded, one compile")


def check_eager(updates, state, t):
    assert_like_params(updates, f"eager updates, step {t}")
    assert_moments_sharded(state, f"eager step {t}")


p, _ = c.run_eager(opt, params, 2, check_eager)
ref_p, _ = c.run_eager(opt, placed.unsharded, 2)
c.assert_trees_close(p, ref_p, rtol=1e-5, atol=1e-5, msg="eager params")
c.check("eager: updates, mu and nu keep each param's sharding; numbers == unsharded")

print("ALL OK")
