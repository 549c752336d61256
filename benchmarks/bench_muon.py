"""gdtransforms' Muon against optax.contrib.muon: step time and compile time.

gdtransforms orthogonalizes all matrices of one shape in one batched
Newton–Schulz chain; optax runs one chain per leaf. Both run in one process,
in alternating rounds; the table prints medians and the ratio
``optax / gdtransforms`` (above 1: gdtransforms is faster), and checks that
the two give the same updates (to float32 rounding).

Run from the repository root (about a minute on 2 CPU cores):

    python benchmarks/bench_muon.py [--quick]

The model: ``L`` transformer-like blocks of four matrices (64x64, 64x256,
256x64, 64x64) and one bias each, so 24 and 96 matrix leaves are 6 and 24 blocks.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time
from typing import Any

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import gdtransforms as gdt  # noqa: E402

SHAPES = [(64, 64), (64, 256), (256, 64), (64, 64)]


def make_params(matrix_leaves: int, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    blocks = {}
    for b in range(matrix_leaves // len(SHAPES)):
        block = {f"w{i}": jnp.asarray(rng.normal(size=s) * 0.05, jnp.float32) for i, s in enumerate(SHAPES)}
        block["bias"] = jnp.zeros(64, jnp.float32)
        blocks[f"block{b:02d}"] = block
    return blocks


def make_step(opt: Any):
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, updates

    return step


def time_compile(opt: Any, params: Any, grads: Any) -> float:
    state = opt.init(params)
    fn = jax.jit(make_step(opt))  # a fresh function: nothing cached
    start = time.perf_counter()
    fn.lower(params, state, grads).compile()
    return time.perf_counter() - start


def time_steps(compiled: Any, params: Any, state: Any, grads: Any, steps: int) -> float:
    out = compiled(params, state, grads)
    jax.block_until_ready(out)
    start = time.perf_counter()
    for _ in range(steps):
        out = compiled(params, state, grads)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps


def bench(matrix_leaves: int, rounds: int, steps: int) -> dict[str, float]:
    params = make_params(matrix_leaves)
    rng = np.random.default_rng(1)
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
    opts = {"gdt": gdt.contrib.muon(0.02), "optax": optax.contrib.muon(0.02)}
    states = {k: o.init(params) for k, o in opts.items()}
    compiled = {k: jax.jit(make_step(o)).lower(params, states[k], grads).compile() for k, o in opts.items()}
    # Same numbers: three steps each.
    results = {}
    for k in opts:
        p, s = params, states[k]
        for _ in range(3):
            p, s, u = compiled[k](p, s, grads)
        results[k] = u
    worst = 0.0
    for a, e in zip(jax.tree.leaves(results["gdt"]), jax.tree.leaves(results["optax"])):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        worst = max(worst, float(np.max(np.abs(a - e)) / (np.max(np.abs(e)) + 1e-30)))
    step_t = {k: [] for k in opts}
    compile_t = {k: [] for k in opts}
    for r in range(rounds):
        order = list(opts) if r % 2 == 0 else list(reversed(opts))
        for k in order:
            step_t[k].append(time_steps(compiled[k], params, states[k], grads, steps))
        for k in order:
            compile_t[k].append(time_compile(opts[k], params, grads))
    med = {
        f"{k}_{what}": statistics.median(v[k]) for what, v in (("step", step_t), ("compile", compile_t)) for k in opts
    }
    med["max_rel_diff"] = worst
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds, steps = (3, 5) if args.quick else (5, 10)
    print(f"jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0].platform}, medians of {rounds} rounds")
    header = (
        f"{'matrix leaves':>13} | {'step gdt':>9} | {'step optax':>10} | {'speedup':>7} | "
        f"{'compile gdt':>11} | {'compile optax':>13} | {'speedup':>7} | {'max rel diff':>12}"
    )
    print(header)
    print("-" * len(header))
    for leaves in (24, 96):
        m = bench(leaves, rounds, steps)
        print(
            f"{leaves:>13} | {m['gdt_step'] * 1e3:>7.2f}ms | {m['optax_step'] * 1e3:>8.2f}ms | "
            f"{m['optax_step'] / m['gdt_step']:>6.2f}x | {m['gdt_compile']:>10.2f}s | "
            f"{m['optax_compile']:>12.2f}s | {m['optax_compile'] / m['gdt_compile']:>6.2f}x | "
            f"{m['max_rel_diff']:>12.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
