"""Shampoo on FSDP-sharded params, on 8 simulated devices.

- After ``init`` (eager, and ``jit`` with ``gdt.state_shardings``) the
  param-shaped buffers (``momentum``, ``diagonal_momentum``,
  ``diagonal_statistics``) have each param's sharding; the block statistics and
  preconditioners are replicated.
- Under ``jit`` with those shardings in and out, 4 steps: updates and params
  keep each param's sharding, the buffers too, the statistics and roots stay
  replicated, and the numbers equal the unsharded run's to float32 rounding
  (the roots to 1e-4 of their largest entry).
- Under ``jit`` with only the input shardings given (XLA's propagation for the
  rest), the updates, params and momentum buffers still come out with each
  param's sharding.
"""

import _common as c  # noqa: I001  (sets up 8 devices before jax is imported)

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

import gdtransforms as gdt

STEPS = 4
rng = np.random.default_rng(0)
# Two matrices above the merge limit (kept 2-D, cut into 32x32 blocks), a bias, a scalar.
host_params = {
    "up": rng.standard_normal((64, 96), np.float32) * 0.1,
    "down": rng.standard_normal((96, 64), np.float32) * 0.1,
    "bias": rng.standard_normal(96).astype(np.float32),
    "scale": np.float32(1.5),
}
specs = {"up": P("fsdp", None), "down": P(None, "fsdp"), "bias": P("fsdp"), "scale": P()}
placed = c.Placed(host_params, specs)
params, param_shardings, assert_like_params = placed.params, placed.shardings, placed.assert_like_params
# matrix_epsilon 1e-3 keeps the roots well conditioned (rank <= 4 statistics in
# 32x32 blocks): the comparison with the unsharded run then tests the sharding,
# not how much a near-singular root amplifies the rounding of sharded sums.
opt = gdt.shampoo(
    learning_rate=0.01, block_size=32, start_preconditioning_step=2, weight_decay=1e-3, matrix_epsilon=1e-3
)
BUFFERS = ("momentum", "diagonal_momentum", "diagonal_statistics")


def inner(state):
    return state[0]  # chain(scale_by_shampoo, scale_by_learning_rate)


def assert_buffers_like_params(state, what):
    for field in BUFFERS:
        assert_like_params(getattr(inner(state), field), f"{what}: {field}")


def assert_matrices_replicated(state, what):
    matrices = jax.tree.leaves((inner(state).statistics, inner(state).preconditioners))
    assert len(matrices) == 2 * (12 + 12 + 3)  # up, down: 2x3 blocks, 2 each; bias: 3 blocks
    for m in matrices:
        assert m.sharding.is_fully_replicated, (what, m.shape, m.sharding)


def check_state(state, what):
    assert_buffers_like_params(state, what)
    if what != "eager init":
        assert_matrices_replicated(state, what)


state_sh, state = c.init_eager_and_jit(opt, params, check_state)
c.check("init: param-shaped buffers have each param's sharding, block statistics and roots are replicated")

step = c.make_step(opt)
pinned = jax.jit(
    step, in_shardings=(param_shardings, state_sh, None), out_shardings=(param_shardings, state_sh, param_shardings)
)
(p, s), (ref_params, ref_state) = c.run_against_unsharded(
    pinned, opt, placed, state, STEPS, lambda s, t: check_state(s, f"step {t}"), rtol=2e-5, atol=1e-6
)
c.assert_trees_close(p, ref_params, rtol=2e-5, atol=1e-6, msg="params")
c.assert_trees_close(
    inner(s)._replace(preconditioners=()),
    inner(ref_state)._replace(preconditioners=()),
    rtol=2e-5,
    atol=1e-6,
    msg="state",
)
# The roots: relative to each matrix's largest entry.
for a, b in zip(jax.tree.leaves(inner(s).preconditioners), jax.tree.leaves(inner(ref_state).preconditioners)):
    a, b = np.asarray(a), np.asarray(b)
    assert np.max(np.abs(a - b)) <= 1e-4 * np.max(np.abs(b)), np.max(np.abs(a - b)) / np.max(np.abs(b))
c.check("jit: params, updates and buffers keep each param's sharding, matrices replicated; numbers == unsharded")

free = jax.jit(step)  # shardings from the inputs, XLA's propagation for the rest


def check_free(state, t):
    assert_like_params(inner(state).momentum, f"free momentum, step {t}")
    assert_like_params(inner(state).diagonal_momentum, f"free diagonal momentum, step {t}")


c.run_sharded(free, placed, state, 1, check_free, "free ")
c.check("jit with input shardings only: updates, params and momentum buffers keep each param's sharding")

print("ALL OK")
