"""Adafactor, SM3 and DP-SGD against optax: step time, compile time, state bytes.

One process; gdtransforms and optax alternate round by round and the table
prints medians with the ratio ``optax / gdtransforms`` (above 1: gdtransforms
is faster). The tree has 100 leaves: 30 matrices both of whose sides are at
least 128 (Adafactor factors them), 20 smaller matrices and 50 vectors. DP-SGD
gets per-example gradients for a batch of 4.

    python benchmarks/bench_structural.py [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time
import warnings
from typing import Any

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import gdtransforms as gdt  # noqa: E402

BATCH = 4
OPTIMIZERS = [
    ("adafactor", lambda m: m.adafactor(1e-3), False),
    ("adafactor+momentum", lambda m: m.adafactor(1e-3, momentum=0.9), False),
    ("sm3", lambda m: m.sm3(1e-3), False),
    ("dpsgd", lambda m: m.contrib.dpsgd(1e-3, 1.0, 1.1, seed=0), True),
]


def make_params(seed: int = 0) -> dict[str, jax.Array]:
    rng = np.random.default_rng(seed)
    shapes = [(256, 128)] * 15 + [(128, 384)] * 15 + [(64, 32)] * 20 + [(256,)] * 50
    return {f"p{i:03d}": jnp.asarray(rng.normal(size=s) * 0.1, jnp.float32) for i, s in enumerate(shapes)}


def _step(opt: Any) -> Any:
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return step


def compile_seconds(opt: Any, params: Any, grads: Any) -> float:
    state = opt.init(params)
    t = time.perf_counter()
    jax.jit(_step(opt)).lower(params, state, grads).compile()
    return time.perf_counter() - t


def step_seconds(opt: Any, params: Any, grads: Any, steps: int) -> float:
    step = jax.jit(_step(opt))
    state = opt.init(params)
    params, state = jax.block_until_ready(step(params, state, grads))
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        params, state = jax.block_until_ready(step(params, state, grads))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def state_bytes(state: Any) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state) if hasattr(x, "dtype"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 steps")
    args = parser.parse_args()
    rounds, steps = (2, 5) if args.quick else (5, 20)
    warnings.simplefilter("ignore")
    params = make_params()
    n = sum(p.size for p in params.values())
    rng = np.random.default_rng(1)
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
    per_example = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=(BATCH, *p.shape)), p.dtype), params)
    print(f"jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0].platform}; 100 leaves, {n:,} params")
    print(f"medians of {rounds} alternating rounds ({steps} steps each); ratio = optax / gdtransforms\n")
    header = f"{'optimizer':<20}{'step gdt':>11}{'step optax':>12}{'ratio':>7}"
    header += f"{'compile gdt':>13}{'compile optax':>15}{'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, build, dp in OPTIMIZERS:
        g = per_example if dp else grads
        step_t: dict[str, list[float]] = {"gdt": [], "optax": []}
        comp_t: dict[str, list[float]] = {"gdt": [], "optax": []}
        for r in range(rounds):
            order = [("gdt", gdt), ("optax", optax)] if r % 2 == 0 else [("optax", optax), ("gdt", gdt)]
            for key, module in order:
                comp_t[key].append(compile_seconds(build(module), params, g))
                step_t[key].append(step_seconds(build(module), params, g, steps))
        s_g, s_o = statistics.median(step_t["gdt"]), statistics.median(step_t["optax"])
        c_g, c_o = statistics.median(comp_t["gdt"]), statistics.median(comp_t["optax"])
        print(
            f"{name:<20}{s_g * 1e3:>9.2f}ms{s_o * 1e3:>10.2f}ms{s_o / s_g:>7.2f}"
            f"{c_g:>12.2f}s{c_o:>14.2f}s{c_o / c_g:>7.2f}"
        )
    print(f"\nstate bytes (params: {n * 4:,} bytes of float32)")
    print(f"{'optimizer':<20}{'gdtransforms':>14}{'optax':>14}{'of params':>11}")
    for name, build, _ in OPTIMIZERS:
        ours, theirs = state_bytes(build(gdt).init(params)), state_bytes(build(optax).init(params))
        print(f"{name:<20}{ours:>14,}{theirs:>14,}{ours / (n * 4):>10.1%}")


if __name__ == "__main__":
    main()
