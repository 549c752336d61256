"""SOAP, Shampoo and PSGD Kron on FSDP-sharded params, on 8 simulated devices.

One process for the three (jax's start, the 8 devices and the eager ops on
the shared shapes are paid once); each optimizer's checks are a function below,
and every check prints ``ok: <optimizer>: <check>``.

SOAP:

- After ``init`` (eager, or ``jit`` with ``gdt.state_shardings``) the Adam
  moments ``mu`` and ``nu`` of every leaf have that leaf's sharding; the
  (d x d) factors and eigenbases are replicated.
- Under ``jit`` with only the input shardings given (XLA's propagation decides
  the rest), updates, params, ``mu`` and ``nu`` come out with each param's
  sharding and the factors and bases replicated, for 5 steps that include two
  refreshes of the bases; the numbers equal the unsharded run's to float32
  rounding.
- Eagerly, with the arrays as they are, the same holds.

Shampoo:

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

PSGD Kron:

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


def check_soap() -> None:
    check = lambda name: c.check(f"SOAP: {name}")
    steps = 5
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
    check("init: mu and nu have each param's sharding, factors and bases are replicated (eager and jit)")

    step = c.make_step(opt)
    free = jax.jit(step)  # shardings from the inputs, XLA's propagation for the rest
    ref_params_at = []
    (p, s), (ref_params, ref_state) = c.run_against_unsharded(
        free,
        opt,
        placed,
        state,
        steps,
        lambda s, t: assert_moments_sharded(s, f"step {t}"),
        rtol=1e-4,
        atol=2e-6,
        ref_params_at=ref_params_at,
    )
    c.assert_trees_close(p, ref_params, rtol=1e-5, atol=1e-5, msg="params")
    c.assert_trees_close(soap_state(s).mu, soap_state(ref_state).mu, rtol=1e-5, atol=1e-6, msg="mu")
    check("jit: updates, params, mu and nu keep each param's sharding; numbers == unsharded")

    # With the state's shardings given (the usual FSDP step), the factors and bases
    # stay replicated and the step compiles once. (Left to XLA's propagation, it
    # may shard a factor of a row-sharded matrix by rows instead.)
    pinned = jax.jit(step, out_shardings=(param_shardings, state_sh, param_shardings))

    def check_pinned(state, t):
        assert_moments_sharded(state, f"pinned step {t}")
        assert_factors_replicated(state, f"pinned step {t}")

    # (``state`` is still the jitted init's state: nothing above changed it.)
    p, _ = c.run_sharded(pinned, placed, state, steps, check_pinned, "pinned ")
    assert pinned._cache_size() == 1, pinned._cache_size()
    c.assert_trees_close(p, ref_params, rtol=1e-5, atol=1e-5, msg="pinned params")
    check("jit with gdt.state_shardings: factors and bases replicated, moments sharded, one compile")

    def check_eager(updates, state, t):
        assert_like_params(updates, f"eager updates, step {t}")
        assert_moments_sharded(state, f"eager step {t}")

    # Against the unsharded run above after the same 2 steps.
    p, _ = c.run_eager(opt, params, 2, check_eager)
    c.assert_trees_close(p, ref_params_at[1], rtol=1e-5, atol=1e-5, msg="eager params")
    check("eager: updates, mu and nu keep each param's sharding; numbers == unsharded")


def check_shampoo() -> None:
    check = lambda name: c.check(f"Shampoo: {name}")
    steps = 4
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
    buffers = ("momentum", "diagonal_momentum", "diagonal_statistics")

    def inner(state):
        return state[0]  # chain(scale_by_shampoo, scale_by_learning_rate)

    def assert_buffers_like_params(state, what):
        for field in buffers:
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
    check("init: param-shaped buffers have each param's sharding, block statistics and roots are replicated")

    step = c.make_step(opt)
    pinned = jax.jit(
        step,
        in_shardings=(param_shardings, state_sh, None),
        out_shardings=(param_shardings, state_sh, param_shardings),
    )
    (p, s), (ref_params, ref_state) = c.run_against_unsharded(
        pinned, opt, placed, state, steps, lambda s, t: check_state(s, f"step {t}"), rtol=2e-5, atol=1e-6
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
    check("jit: params, updates and buffers keep each param's sharding, matrices replicated; numbers == unsharded")

    free = jax.jit(step)  # shardings from the inputs, XLA's propagation for the rest

    def check_free(state, t):
        assert_like_params(inner(state).momentum, f"free momentum, step {t}")
        assert_like_params(inner(state).diagonal_momentum, f"free diagonal momentum, step {t}")

    c.run_sharded(free, placed, state, 1, check_free, "free ")
    check("jit with input shardings only: updates, params and momentum buffers keep each param's sharding")


def check_kron() -> None:
    check = lambda name: c.check(f"Kron: {name}")
    steps = 5
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
    check("init: momentum sharded like the params, factors replicated (eager and jit)")

    step = c.make_step(opt)
    pinned = jax.jit(step, out_shardings=(param_shardings, state_sh, param_shardings))
    (p, s), (ref_params, ref_state) = c.run_against_unsharded(
        pinned, opt, placed, state, steps, lambda s, t: check_state(s, f"step {t}"), rtol=2e-5, atol=1e-6
    )
    c.assert_trees_close(p, ref_params, rtol=2e-5, atol=1e-6, msg="params")
    c.assert_trees_close(s, ref_state, rtol=2e-5, atol=1e-6, msg="state")
    check("jit with state_shardings: momentum like the params, factors replicated; numbers == unsharded")

    free = jax.jit(step)  # shardings from the inputs, XLA's propagation for the rest
    c.run_sharded(free, placed, state, 2, lambda s, t: assert_like_params(s[0].mu, f"free momentum, step {t}"), "free ")
    check("jit, propagation only: updates, params and momentum keep each param's sharding")


check_soap()
check_shampoo()
check_kron()
print("ALL OK")
