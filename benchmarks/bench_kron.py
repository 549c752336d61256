"""PSGD Kron against AdamW: step time, compile time and state memory at the same model size.

The model: an MLP of ``--layers`` 512x512 matrices with a bias each (the
gradients are fixed random trees; the step is ``update`` + ``apply_updates``,
jitted). Three optimizers run in one process in alternating rounds:

- ``kron p=1``: the factors are updated at every step (the default for the
  first 500 steps);
- ``kron p=0.1``: every tenth step (the step time shown is the mean over
  ten steps, so one factor update is amortised);
- ``adamw``.

State memory is the bytes of the optimizer state's arrays. The table
prints medians of the rounds.

Run from the repository root: ``python benchmarks/bench_kron.py [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import _harness
import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt

WIDTH = 512


def time_steps(compiled: Any, params: Any, state: Any, grads: Any, steps: int) -> float:
    jax.block_until_ready(compiled(params, state, grads))
    return _harness.mean_step_seconds(compiled, params, state, grads, steps)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    rounds, steps = (3, 10) if args.quick else (5, 20)
    params = _harness.square_mlp(WIDTH, args.layers)
    rng = np.random.default_rng(1)
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape) * 0.01, p.dtype), params)
    opts = {
        "kron p=1": gdt.kron(1e-3, preconditioner_update_probability=1.0),
        "kron p=0.1": gdt.kron(1e-3, preconditioner_update_probability=0.1),
        "adamw": gdt.adamw(1e-3),
    }
    states = {k: o.init(params) for k, o in opts.items()}
    compiled, compile_s = {}, {}
    for k, o in opts.items():
        compiled[k], compile_s[k] = _harness.compile_timed(jax.jit(_harness.update_step(o)), params, states[k], grads)
    step_s: dict[str, list[float]] = {k: [] for k in opts}
    for r in range(rounds):
        for k in list(opts) if r % 2 == 0 else list(reversed(opts)):
            step_s[k].append(time_steps(compiled[k], params, states[k], grads, steps))
    n_params = sum(x.size for x in jax.tree.leaves(params))
    print(
        f"jax {jax.__version__}, {jax.devices()[0].platform}, {args.layers} x ({WIDTH}x{WIDTH} + bias) = "
        f"{n_params:,} params ({4 * n_params / 2**20:.1f} MiB), medians of {rounds} rounds of {steps} steps"
    )
    print("| optimizer | step (ms) | vs adamw | compile (s) | state (MiB) | state / params |")
    print("|---|---|---|---|---|---|")
    base = statistics.median(step_s["adamw"])
    for k in opts:
        med = statistics.median(step_s[k])
        mem = _harness.state_bytes(states[k])
        print(
            f"| {k} | {1e3 * med:.2f} | {med / base:.1f}x | {compile_s[k]:.2f} | {mem / 2**20:.2f} | "
            f"{mem / (4 * n_params):.2f} |"
        )


if __name__ == "__main__":
    main()
