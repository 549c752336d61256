"""gdt.kron against psgd-jax 0.2.9's kron: the same iterates for 20 steps.

psgd-jax (``pip install --no-deps psgd-jax==0.2.9``; it also needs flax)
imports ``optax._src.clipping``, which optax 0.2.8 no longer has, so this is
a script, not a test: an empty stand-in module is installed before the
import (psgd-jax's kron does not use it).

Both optimizers train the same small problem (a 3x4 matrix, a vector of 5
and a scalar, a smooth loss with gradients from every leaf) for 20 steps, in
several configurations, jitted; the script prints the largest relative
difference of params, updates and the factors over all steps, and fails if
it exceeds 1e-4 (float32 rounding, amplified over 20 steps of a
triangular solve).

Run: ``PYTHONPATH=. python benchmarks/check_kron_reference.py``
"""

from __future__ import annotations

import sys
import types

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt

STEPS = 20
TOLERANCE = 1e-4


def _import_reference():
    import optax._src as optax_src

    if not hasattr(optax_src, "clipping"):
        stand_in = types.ModuleType("optax._src.clipping")
        sys.modules["optax._src.clipping"] = stand_in
        optax_src.clipping = stand_in
    from psgd_jax import kron as reference

    return reference


def _problem():
    rng = np.random.default_rng(0)
    params = {
        "matrix": jnp.asarray(rng.standard_normal((3, 4)), jnp.float32),
        "vector": jnp.asarray(rng.standard_normal(5), jnp.float32),
        "scalar": jnp.float32(0.7),
    }
    target = jnp.asarray(rng.standard_normal((3, 4)), jnp.float32)

    def loss(p):
        m = p["matrix"] * p["scalar"]
        return (
            jnp.sum((m - target) ** 2) + jnp.sum(jnp.sin(p["vector"]) ** 2) + 0.1 * jnp.sum(m[:, :1] * p["vector"][:3])
        )

    return params, jax.grad(loss)


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-6 * max(1.0, np.max(np.abs(b))))))


def run(config: dict, reference, **ours_only) -> float:
    params, grad = _problem()
    ours, theirs = gdt.kron(**config, **ours_only), reference.kron(**config)

    def step(opt):
        @jax.jit
        def fn(p, s):
            u, s = opt.update(grad(p), s, p)
            return gdt.apply_updates(p, u), s, u

        return fn

    our_step, their_step = step(ours), step(theirs)
    p1, s1 = params, ours.init(params)
    p2, s2 = params, theirs.init(params)
    worst = 0.0
    for _ in range(STEPS):
        p1, s1, u1 = our_step(p1, s1)
        p2, s2, u2 = their_step(p2, s2)
        qs1 = jax.tree.leaves(s1[0].Qs_preconditioners)
        qs2 = jax.tree.leaves(s2[0]["Qs_preconditioners"])
        pairs = list(zip(jax.tree.leaves(p1), jax.tree.leaves(p2)))
        pairs += list(zip(jax.tree.leaves(u1), jax.tree.leaves(u2))) + list(zip(qs1, qs2))
        worst = max(worst, *(_rel(a, b) for a, b in pairs))
    return worst


CONFIGS = {
    "probability 1.0": dict(learning_rate=0.05, preconditioner_update_probability=1.0),
    "default schedule": dict(learning_rate=0.05),
    "probability 0.5, wd 1e-2": dict(learning_rate=0.05, preconditioner_update_probability=0.5, weight_decay=1e-2),
    "min_ndim_triangular=1": dict(learning_rate=0.05, preconditioner_update_probability=1.0, min_ndim_triangular=1),
    "one_diag, b1=0, init 2.0": dict(
        learning_rate=0.05,
        b1=0.0,
        memory_save_mode="one_diag",
        preconditioner_update_probability=1.0,
        preconditioner_init_scale=2.0,
    ),
    "scanned matrix (vmap)": dict(
        learning_rate=0.05,
        preconditioner_update_probability=1.0,
        min_ndim_triangular=1,
        scanned_layers={"matrix": True, "scalar": False, "vector": False},
    ),
    "scanned matrix (lax.map)": dict(
        learning_rate=0.05,
        preconditioner_update_probability=1.0,
        min_ndim_triangular=1,
        scanned_layers={"matrix": True, "scalar": False, "vector": False},
        lax_map_scanned_layers=True,
        lax_map_batch_size=2,
    ),
}


def main() -> None:
    reference = _import_reference()
    print(f"gdt.kron vs psgd_jax.kron (0.2.9), {STEPS} steps, jitted; max relative difference")
    print("| configuration | params, updates, factors |")
    print("|---|---|")
    worst = 0.0
    for name, config in CONFIGS.items():
        diff = run(config, reference)
        worst = max(worst, diff)
        print(f"| {name} | {diff:.2e} |")
    assert worst < TOLERANCE, worst
    # The comparison can fail: a 2% different preconditioner_lr is seen.
    off = run(dict(learning_rate=0.05, preconditioner_update_probability=1.0), reference, preconditioner_lr=0.102)
    print(f"(control: preconditioner_lr 0.102 vs 0.1 differs by {off:.2e})")
    assert off > 100 * TOLERANCE, off
    print("ALL OK")


if __name__ == "__main__":
    main()
