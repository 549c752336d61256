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

import gdtransforms as gdt  # noqa: E402

WIDTH = 512


def make_params(layers: int, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        f"layer{i}": {
            "w": jnp.asarray(rng.normal(size=(WIDTH, WIDTH)) / np.sqrt(WIDTH), jnp.float32),
            "b": jnp.zeros(WIDTH, jnp.float32),
        }
        for i in range(layers)
    }


def make_step(opt: Any):
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    return step


def state_bytes(state: Any) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state) if hasattr(x, "dtype"))


def time_steps(compiled: Any, params: Any, state: Any, grads: Any, steps: int) -> float:
    jax.block_until_ready(compiled(params, state, grads))
    p, s = params, state
    start = time.perf_counter()
    for _ in range(steps):
        p, s = compiled(p, s, grads)
    jax.block_until_ready((p, s))
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    rounds, steps = (3, 10) if args.quick else (5, 20)
    params = make_params(args.layers)
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
        start = time.perf_counter()
        compiled[k] = jax.jit(make_step(o)).lower(params, states[k], grads).compile()
        compile_s[k] = time.perf_counter() - start
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
        mem = state_bytes(states[k])
        print(
            f"| {k} | {1e3 * med:.2f} | {med / base:.1f}x | {compile_s[k]:.2f} | {mem / 2**20:.2f} | "
            f"{mem / (4 * n_params):.2f} |"
        )


if __name__ == "__main__":
    main()
