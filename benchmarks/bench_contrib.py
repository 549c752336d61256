"""gdtransforms.contrib against optax.contrib: step time and compile time at 100 leaves.

Each optimizer runs on a dict of 100 float32 leaves (mixed shapes). gdtransforms
and optax alternate round by round in one process; the table prints medians and
the ratio ``optax / gdtransforms`` (above 1: gdtransforms is faster).

    python benchmarks/bench_contrib.py [--quick] [--only NAME ...]
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

# (name, factory of the module, whether update takes value=loss)
OPTIMIZERS: list[tuple[str, Any, bool]] = [
    ("acprop", lambda m: m.contrib.acprop(1e-3), False),
    ("ademamix", lambda m: m.contrib.ademamix(1e-3), False),
    ("simplified_ademamix", lambda m: m.contrib.simplified_ademamix(1e-3), False),
    ("adopt", lambda m: m.contrib.adopt(1e-3), False),
    ("cocob", lambda m: m.contrib.cocob(), False),
    ("dadapt_adamw", lambda m: m.contrib.dadapt_adamw(), False),
    ("dog", lambda m: m.contrib.dog(), False),
    ("dowg", lambda m: m.contrib.dowg(), False),
    ("madgrad", lambda m: m.contrib.madgrad(1e-3), False),
    ("mechanize(adam)", lambda m: m.contrib.mechanize(m.adam(1e-3)), False),
    ("momo", lambda m: m.contrib.momo(), True),
    ("momo_adam", lambda m: m.contrib.momo_adam(), True),
    ("prodigy", lambda m: m.contrib.prodigy(), False),
    ("schedule_free_adamw", lambda m: m.contrib.schedule_free_adamw(1e-3), False),
]


def make_params(leaves: int) -> dict[str, jax.Array]:
    rng = np.random.default_rng(0)
    shapes = [(64, 64), (256,), (32, 16), (8,)]
    return {f"p{i:03d}": jnp.asarray(rng.normal(size=shapes[i % 4]), jnp.float32) for i in range(leaves)}


def build(module: Any, factory: Any, loss: bool) -> tuple[Any, Any]:
    opt = factory(module)

    def step(params, state, grads):
        extra = {"value": jnp.float32(1.0)} if loss else {}
        updates, state = opt.update(grads, state, params, **extra)
        return module.apply_updates(params, updates), state

    return opt, step


def compile_time(module: Any, factory: Any, loss: bool, params: Any) -> float:
    opt, step = build(module, factory, loss)
    state = opt.init(params)
    start = time.perf_counter()
    jax.jit(step).lower(params, state, params).compile()
    return time.perf_counter() - start


def step_time(compiled: Any, params: Any, state: Any, grads: Any, reps: int) -> tuple[float, Any, Any]:
    start = time.perf_counter()
    for _ in range(reps):
        params, state = compiled(params, state, grads)
    jax.block_until_ready((params, state))
    return (time.perf_counter() - start) / reps, params, state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--leaves", type=int, default=100)
    args = parser.parse_args()
    rounds, reps = (3, 5) if args.quick else (7, 20)
    params = make_params(args.leaves)
    grads = jax.tree.map(lambda p: 0.01 * p, params)
    print(f"{args.leaves} leaves, {sum(p.size for p in params.values())} params, {jax.devices()[0].platform}")
    head = ("optimizer", "gdt step ms", "optax ms", "ratio", "gdt compile s", "optax s")
    print("{:22s} {:>11s} {:>9s} {:>6s} {:>13s} {:>8s}".format(*head))
    for name, factory, loss in OPTIMIZERS:
        if args.only and name not in args.only:
            continue
        compiled, states, times, compiles = {}, {}, {"gdt": [], "optax": []}, {"gdt": [], "optax": []}
        for label, module in (("gdt", gdt), ("optax", optax)):
            opt, step = build(module, factory, loss)
            states[label] = (params, opt.init(params))
            compiled[label] = jax.jit(step)
            compiled[label](*states[label], grads)  # warm
        for _ in range(rounds):
            for label in ("gdt", "optax"):
                t, p, s = step_time(compiled[label], *states[label], grads, reps)
                states[label] = (p, s)
                times[label].append(t)
        for _ in range(max(1, rounds // 3)):
            for label, module in (("gdt", gdt), ("optax", optax)):
                compiles[label].append(compile_time(module, factory, loss, params))
        g, o = statistics.median(times["gdt"]), statistics.median(times["optax"])
        cg, co = statistics.median(compiles["gdt"]), statistics.median(compiles["optax"])
        print(f"{name:22s} {g * 1e3:11.3f} {o * 1e3:9.3f} {o / g:6.2f} {cg:13.2f} {co:8.2f}")


if __name__ == "__main__":
    main()
