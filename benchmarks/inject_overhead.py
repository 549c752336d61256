"""What inject_hyperparams costs: compile time and step time against the plain optimizer.

Run from the repository root: ``python benchmarks/inject_overhead.py [--leaves 8 --size 512]``.
Each optimizer's jitted ``update + apply_updates`` step is compiled once (timed),
then run ``--steps`` times; the median and minimum step times are reported (the minimum is the
less noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import optax

import gdtransforms as gdt


def bench(name, opt, params, grads, steps):
    def step(p, s, g):
        u, s = opt.update(g, s, p)
        return gdt.apply_updates(p, u), s

    state = opt.init(params)
    t0 = time.perf_counter()
    compiled = jax.jit(step).lower(params, state, grads).compile()
    compile_s = time.perf_counter() - t0
    p, s = params, state
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        p, s = compiled(p, s, grads)
        jax.block_until_ready(p)
        times.append(time.perf_counter() - t0)
    print(
        f"{name:28s} compile {compile_s * 1e3:7.1f} ms   step median "
        f"{statistics.median(times) * 1e3:7.3f} ms, min {min(times) * 1e3:7.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    key = jax.random.key(0)
    params = {
        f"w{i}": jax.random.normal(jax.random.fold_in(key, i), (args.size, args.size)) for i in range(args.leaves)
    }
    grads = jax.tree.map(lambda x: 0.01 * x, params)
    n = sum(x.size for x in jax.tree.leaves(params))
    print(f"{jax.devices()[0].device_kind}, {args.leaves} leaves, {n / 1e6:.2f}M float32 params")
    for _ in range(3):  # read the later rounds (warm caches)
        bench("gdt.adam", gdt.adam(1e-3), params, grads, args.steps)
        bench(
            "gdt.inject_hyperparams(adam)",
            gdt.inject_hyperparams(gdt.adam)(learning_rate=1e-3),
            params,
            grads,
            args.steps,
        )
        bench(
            "optax.inject_hyperparams",
            optax.inject_hyperparams(optax.adam)(learning_rate=1e-3),
            params,
            grads,
            args.steps,
        )
        bench("optax.adam", optax.adam(1e-3), params, grads, args.steps)


if __name__ == "__main__":
    main()
