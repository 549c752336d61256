"""SOAP against AdamW at the same model size: step time, compile time and state memory.

The model: an MLP of ``--layers`` square ``--width`` x ``--width`` matrices
with biases (default 4 x 512x512, about 1M parameters). One jitted training
step (loss gradient, optimizer update, apply) per optimizer; both run in one
process in alternating rounds, each step timed on its own. The table prints
the median step, the mean step (SOAP's mean includes its refresh steps: one
QR per factor every ``precondition_frequency`` steps), the compile time and
the bytes of the optimizer state.

Run from the repository root (a minute or two on 2 CPU cores):

    python benchmarks/bench_soap.py [--quick] [--width 512] [--layers 4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import _harness
import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def loss_fn(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    h = x
    for name in sorted(params):
        h = jnp.tanh(h @ params[name]["w"] + params[name]["b"])
    return jnp.mean((h - y) ** 2)


def make_step(opt: Any):
    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state, loss

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 10 steps at width 256")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="steps per round")
    args = parser.parse_args()
    if args.quick:
        args.width, args.rounds, args.steps = 256, 2, 10

    params = _harness.square_mlp(args.width, args.layers)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(64, args.width)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(64, args.width)), jnp.float32)
    optimizers = {
        "adamw": gdt.adamw(3e-3, b1=0.95, b2=0.95, weight_decay=0.01),
        "soap": gdt.soap(3e-3),
    }
    runs: dict[str, dict[str, Any]] = {}
    for name, opt in optimizers.items():
        state = opt.init(params)
        compiled, compile_s = _harness.compile_timed(jax.jit(make_step(opt)), params, state, x, y)
        runs[name] = dict(
            fn=compiled, params=params, state=state, times=[], compile=compile_s, bytes=_harness.state_bytes(state)
        )
        # The first call (SOAP: eigh of every factor) is not a regular step: run it untimed.
        out = compiled(params, state, x, y)
        jax.block_until_ready(out)
        runs[name]["params"], runs[name]["state"] = out[0], out[1]

    for _ in range(args.rounds):
        for run in runs.values():
            for _ in range(args.steps):
                start = time.perf_counter()
                out = run["fn"](run["params"], run["state"], x, y)
                jax.block_until_ready(out)
                run["times"].append(time.perf_counter() - start)
                run["params"], run["state"] = out[0], out[1]

    n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
    print(
        f"MLP {args.layers} x {args.width}x{args.width} + biases ({n_params:,} params, "
        f"{4 * n_params:,} bytes float32); {args.rounds} rounds x {args.steps} steps; "
        f"{jax.devices()[0].platform}, jax {jax.__version__}"
    )
    base = runs["adamw"]
    print(
        "| optimizer | median step (ms) | mean step (ms) | compile (s) | state (bytes) | state / params "
        "| vs adamw (median) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, run in runs.items():
        med, mean = statistics.median(run["times"]), statistics.fmean(run["times"])
        print(
            f"| {name} | {1e3 * med:.2f} | {1e3 * mean:.2f} | {run['compile']:.2f} | {run['bytes']:,} | "
            f"{run['bytes'] / (4 * n_params):.2f} | {med / statistics.median(base['times']):.2f}x |"
        )
    losses = {name: float(run["fn"](run["params"], run["state"], x, y)[2]) for name, run in runs.items()}
    print("loss after the run: " + ", ".join(f"{k} {v:.4f}" for k, v in losses.items()))


if __name__ == "__main__":
    main()
