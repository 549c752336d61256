"""Shampoo against AdamW at the same model size: step time, compile time and state memory.

An MLP of three 512x512 matrices and their biases (~0.8 M parameters).
Shampoo (block 128 and 256, roots every step and every 10 steps) against
``gdt.adamw``: each optimizer's ``update`` + ``apply_updates`` jitted, timed
round by round in alternation in one process, medians reported. State memory
is the bytes of all state arrays.

Run: ``PYTHONPATH=. python benchmarks/bench_shampoo.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import statistics

import _harness
import jax
import jax.numpy as jnp

import gdtransforms as gdt

WIDTH, DEPTH = 512, 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed round")
    args = parser.parse_args()

    params = _harness.square_mlp(WIDTH, DEPTH)
    n_params = sum(x.size for x in jax.tree.leaves(params))
    grads = jax.tree.map(lambda p: 0.01 * jnp.cos(3.0 * p) + 1e-3, params)
    optimizers = {
        "adamw": gdt.adamw(1e-3, weight_decay=1e-4),
        "shampoo b=128": gdt.shampoo(1e-3, block_size=128, start_preconditioning_step=0),
        "shampoo b=256": gdt.shampoo(1e-3, block_size=256, start_preconditioning_step=0),
        "shampoo b=128, roots/10": gdt.shampoo(
            1e-3, block_size=128, start_preconditioning_step=0, preconditioning_compute_steps=10
        ),
    }
    runs = {}
    for name, opt in optimizers.items():
        state = opt.init(params)
        # grads an argument: no constant folding
        compiled, compile_s = _harness.compile_timed(jax.jit(_harness.update_step(opt)), params, state, grads)
        p, s = jax.block_until_ready(compiled(params, state, grads))  # warm-up
        runs[name] = dict(fn=compiled, p=p, s=s, compile=compile_s, bytes=_harness.state_bytes(state), times=[])

    for _ in range(args.rounds):
        for run in runs.values():  # alternate optimizers round by round
            seconds, run["p"], run["s"] = _harness.mean_step_seconds(run["fn"], run["p"], run["s"], grads, args.steps)
            run["times"].append(seconds)

    base = runs["adamw"]
    print(
        f"MLP {DEPTH}x({WIDTH}x{WIDTH} + bias): {n_params:,} params; "
        f"{jax.devices()[0].platform}; median of {args.rounds} rounds"
    )
    print("| optimizer | step (ms) | x adamw | compile (s) | state (MiB) | x adamw |")
    print("|---|---|---|---|---|---|")
    for name, run in runs.items():
        ms = 1e3 * statistics.median(run["times"])
        base_ms = 1e3 * statistics.median(base["times"])
        mib = run["bytes"] / 2**20
        print(
            f"| {name} | {ms:.2f} | {ms / base_ms:.1f} | {run['compile']:.1f} | {mib:.2f} | "
            f"{run['bytes'] / base['bytes']:.2f} |"
        )


if __name__ == "__main__":
    main()
