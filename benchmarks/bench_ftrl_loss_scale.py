"""Ftrl against AdaGrad, and dynamic loss scaling around Adam against Adam: step and compile time.

Neither has an optax counterpart, so each is timed against its nearest plain
gdtransforms optimizer: ``ftrl`` (per-coordinate ``sqrt(n)`` rates like
AdaGrad, plus the proximal L1/L2 step) against ``adagrad``, and
``dynamic_loss_scaling(adam)`` (unscale, finiteness test, ``lax.cond``, scale
update) against ``adam``. One process; the two of a pair run in alternating
rounds (who goes first rotates) and the table prints medians, with the ratio
``candidate / baseline`` (the overhead). Compile time is tracing plus XLA
compilation of a fresh jitted step, also alternated. Params and state are
donated to every step, as in a train loop.

Run from the repository root (about a minute on 2 CPU cores):

    python benchmarks/bench_ftrl_loss_scale.py [--quick] [--leaves N]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import statistics
import sys
import time
from typing import Any

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import gdtransforms as gdt  # noqa: E402

# (row name, candidate factory, baseline name, baseline factory)
PAIRS: list[tuple[str, Any, str, Any]] = [
    ("ftrl", lambda: gdt.ftrl(1e-2), "adagrad", lambda: gdt.adagrad(1e-2)),
    (
        "ftrl (l1, l2, shrinkage)",
        lambda: gdt.ftrl(
            1e-2,
            l1_regularization_strength=1e-4,
            l2_regularization_strength=1e-4,
            l2_shrinkage_regularization_strength=1e-4,
        ),
        "adagrad",
        lambda: gdt.adagrad(1e-2),
    ),
    ("dynamic_loss_scaling(adam)", lambda: gdt.dynamic_loss_scaling(gdt.adam(1e-3)), "adam", lambda: gdt.adam(1e-3)),
]


def make_tree(leaves: int, key: jax.Array) -> tuple[dict, dict]:
    """``leaves`` float32 leaves: matrices and vectors of mixed sizes, and gradients."""
    shapes = [
        (64, 64) if i % 4 == 0 else (32, 32) if i % 4 == 1 else (512,) if i % 4 == 2 else (64,) for i in range(leaves)
    ]
    keys = jax.random.split(key, 2 * leaves)
    params = {f"l{i:03d}": 0.1 * jax.random.normal(keys[2 * i], s) for i, s in enumerate(shapes)}
    grads = {f"l{i:03d}": 1e-3 * jax.random.normal(keys[2 * i + 1], s) for i, s in enumerate(shapes)}
    return params, grads


def make_step(factory: Any) -> tuple[Any, Any]:
    opt = factory()

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    return opt, jax.jit(step, donate_argnums=(0, 1))


def compile_seconds(factory: Any, params: Any, grads: Any) -> float:
    opt, step = make_step(factory)
    state = opt.init(params)
    start = time.perf_counter()
    step.lower(params, state, grads).compile()
    return time.perf_counter() - start


class Runner:
    def __init__(self, factory: Any, params: Any, grads: Any):
        opt, step = make_step(factory)
        params = jax.tree.map(jnp.copy, params)
        state = opt.init(params)
        self.compiled = step.lower(params, state, grads).compile()
        self.grads, self.carry, self.times = grads, (params, state), []
        for _ in range(2):
            self.carry = jax.block_until_ready(self.compiled(*self.carry, grads))

    def run(self, steps: int) -> None:
        for _ in range(steps):
            start = time.perf_counter()
            self.carry = jax.block_until_ready(self.compiled(*self.carry, self.grads))
            self.times.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--leaves", type=int, default=100)
    args = parser.parse_args()
    rounds, steps, compiles = (3, 5, 1) if args.quick else (7, 10, 2)
    params, grads = make_tree(args.leaves, jax.random.key(0))
    n = sum(x.size for x in jax.tree.leaves(params))
    print(f"jax {jax.__version__}, {platform.machine()}, {jax.devices()[0].platform}")
    print(f"{args.leaves} leaves, {n} float32 params; medians of {rounds} x {steps} steps, {compiles} compiles each\n")
    header = (
        f"{'candidate':<28} {'ms':>7} {'baseline':<9} {'ms':>7} {'ratio':>6} "
        f"{'comp s':>7} {'base comp s':>12} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, candidate, base_name, baseline in PAIRS:
        factories = {"c": candidate, "b": baseline}
        comp: dict[str, list[float]] = {"c": [], "b": []}
        for r in range(compiles):
            for k in ("c", "b") if r % 2 == 0 else ("b", "c"):
                comp[k].append(compile_seconds(factories[k], params, grads))
        runners = {k: Runner(f, params, grads) for k, f in factories.items()}
        for r in range(rounds):
            for k in ("c", "b") if r % 2 == 0 else ("b", "c"):
                runners[k].run(steps)
        ms = {k: 1e3 * statistics.median(runners[k].times) for k in runners}
        cs = {k: statistics.median(comp[k]) for k in comp}
        print(
            f"{name:<28} {ms['c']:>7.3f} {base_name:<9} {ms['b']:>7.3f} {ms['c'] / ms['b']:>6.2f} "
            f"{cs['c']:>7.3f} {cs['b']:>12.3f} {cs['c'] / cs['b']:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
