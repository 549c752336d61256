"""gdtransforms against optax: step time, compile time, bandwidth floor, memory.

Everything runs in one process; within each measurement the contenders run in
alternating rounds and the tables print medians side by side, with the ratio
``optax / gdtransforms`` (above 1: gdtransforms is faster). Params and
optimizer state are donated to every step, as in a real train loop.

Run from the repository root (a few minutes on 2 CPU cores):

    python benchmarks/bench_optimizers.py [--quick]

Rows:
  * "tree": ``gdt.adam`` (etc.) on a dict of leaves, against ``optax.adam``.
  * "flat": the same ``gdt.adam`` on :class:`gdt.FlatParams` (one buffer).
  * "floor": the bytes a step must move (Adam reads p, g, m, v and writes p,
    m, v: 7 passes over the params) divided by the machine's in-place
    streaming bandwidth, which the script measures first.
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import gdtransforms as gdt  # noqa: E402

# Optimizers: (name, gdtransforms factory, optax factory, passes over the params
# per step: reads + writes of p, g and each state buffer).
OPTIMIZERS = [
    ("adam", lambda: gdt.adam(1e-3), lambda: optax.adam(1e-3), 7),
    ("sgd+momentum", lambda: gdt.sgd(1e-3, momentum=0.9), lambda: optax.sgd(1e-3, momentum=0.9), 5),
    ("rmsprop", lambda: gdt.rmsprop(1e-3), lambda: optax.rmsprop(1e-3), 5),
]


# -- Timing helpers -------------------------------------------------------------


def _block(x: Any) -> Any:
    return jax.block_until_ready(x)


def step_fn(opt: Any, apply: Callable[[Any, Any], Any], donate: bool = True) -> Callable[..., Any]:
    """``step(params, state, grads) -> (params, state)``, jitted with donation."""

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return apply(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1) if donate else ())


class Runner:
    """One contender: a compiled step and the buffers it updates in place."""

    def __init__(self, name: str, opt: Any, apply: Callable, params: Any, grads: Any, donate: bool = True):
        self.name, self.grads = name, grads
        params = jax.tree.map(jnp.copy, params)
        state = opt.init(params)
        start = time.perf_counter()
        self.compiled = step_fn(opt, apply, donate).lower(params, state, grads).compile()
        self.compile_s = time.perf_counter() - start
        self.memory = self.compiled.memory_analysis()
        self.state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
        self.carry = (params, state)
        self.times: list[float] = []
        for _ in range(2):  # warm up: first touches of fresh output pages
            self.carry = _block(self.compiled(*self.carry, grads))

    def run(self, steps: int) -> None:
        for _ in range(steps):
            start = time.perf_counter()
            self.carry = _block(self.compiled(*self.carry, self.grads))
            self.times.append(time.perf_counter() - start)

    @property
    def median_ms(self) -> float:
        return 1e3 * statistics.median(self.times)

    @property
    def peak_bytes(self) -> int:
        """Arguments + outputs - donated (aliased) + temporaries, per XLA."""
        m = self.memory
        return m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes


def alternate(runners: list[Runner], rounds: int, steps: int) -> None:
    """Runs the contenders in turn, ``rounds`` times, rotating who goes first."""
    for r in range(rounds):
        k = r % len(runners)
        for runner in runners[k:] + runners[:k]:
            runner.run(steps)


def split_params(total: int, leaves: int, key: jax.Array) -> tuple[dict, dict]:
    """``total`` float32 params in ``leaves`` equal leaves, and matching grads."""
    size = total // leaves
    k1, k2 = jax.random.split(key)
    p = jax.random.normal(k1, (leaves, size), jnp.float32) * 0.1
    g = jax.random.normal(k2, (leaves, size), jnp.float32) * 1e-3
    names = [f"layer{i:04d}" for i in range(leaves)]
    return dict(zip(names, list(p))), dict(zip(names, list(g)))


# -- Sections -----------------------------------------------------------------


def bandwidth(n: int, rounds: int) -> float:
    """In-place streaming bandwidth in bytes/s: ``x <- a * x + b`` on a donated buffer."""
    f = jax.jit(lambda x: x * 0.999 + 1e-3, donate_argnums=0)
    x = _block(f(jnp.ones(n, jnp.float32)))
    times = []
    for _ in range(rounds * 40):
        start = time.perf_counter()
        x = _block(f(x))
        times.append(time.perf_counter() - start)
    return 2 * 4 * n / statistics.median(times)


def step_times(n: int, leaf_counts: list[int], bw: float, rounds: int, steps: int) -> list[dict]:
    rows = []
    key = jax.random.PRNGKey(0)
    for name, ours, theirs, passes in OPTIMIZERS:
        for leaves in leaf_counts:
            params, grads = split_params(n, leaves, key)
            flat, flat_grads = gdt.flatten_params(params), gdt.flatten_params(grads)
            runners = [
                Runner("optax", theirs(), optax.apply_updates, params, grads),
                Runner("tree", ours(), gdt.apply_updates, params, grads),
                Runner("flat", ours(), gdt.apply_updates, flat, flat_grads),
            ]
            del params, grads, flat, flat_grads
            alternate(runners, rounds, steps)
            floor_ms = 1e3 * passes * 4 * n / bw
            rows.append(
                {"optimizer": name, "leaves": leaves, "floor": floor_ms}
                | {r.name: r.median_ms for r in runners}
                | {f"{r.name}_peak": r.peak_bytes for r in runners}
                | {f"{r.name}_state": r.state_bytes for r in runners}
            )
            print(
                f"  {name:13s} {leaves:5d} leaves: optax {rows[-1]['optax']:7.2f} ms, "
                f"tree {rows[-1]['tree']:7.2f} ms, flat {rows[-1]['flat']:7.2f} ms",
                file=sys.stderr,
            )
            del runners
            gc.collect()
    return rows


def donation_cost(n: int, rounds: int, steps: int) -> dict:
    """Flat Adam step with and without donating params and state."""
    params, grads = split_params(n, 1, jax.random.PRNGKey(2))
    flat, flat_grads = gdt.flatten_params(params), gdt.flatten_params(grads)
    runners = [
        Runner("donated", gdt.adam(1e-3), gdt.apply_updates, flat, flat_grads),
        Runner("not donated", gdt.adam(1e-3), gdt.apply_updates, flat, flat_grads, donate=False),
    ]
    alternate(runners, rounds, steps)
    return {r.name: r.median_ms for r in runners}


def compile_times(leaf_counts: list[int], leaf_size: int, rounds: int) -> list[dict]:
    """Trace + lower + compile of an Adam step on many small leaves (fresh each time)."""
    rows = []
    for leaves in leaf_counts:
        params = {f"layer{i:04d}": jnp.zeros((leaf_size,), jnp.float32) for i in range(leaves)}
        flat = gdt.flatten_params(params)
        makers = {
            "optax": lambda: (optax.adam(1e-3), optax.apply_updates, params),
            "tree": lambda: (gdt.adam(1e-3), gdt.apply_updates, params),
            "flat": lambda: (gdt.adam(1e-3), gdt.apply_updates, flat),
        }
        times: dict[str, list[float]] = {k: [] for k in makers}
        for r in range(rounds):
            order = list(makers)[r % 3 :] + list(makers)[: r % 3]
            for k in order:
                opt, apply, p = makers[k]()
                state = opt.init(p)
                gc.collect()
                start = time.perf_counter()
                step_fn(opt, apply).lower(p, state, p).compile()
                times[k].append(time.perf_counter() - start)
        rows.append({"leaves": leaves} | {k: statistics.median(v) for k, v in times.items()})
        print(
            f"  compile {leaves:5d} leaves: " + ", ".join(f"{k} {rows[-1][k]:.2f} s" for k in makers),
            file=sys.stderr,
        )
    return rows


def mlp_train_step(depth: int, width: int, batch: int, rounds: int, steps: int) -> dict:
    """Forward, backward and Adam update of a ``depth``-layer MLP (2 leaves a layer)."""
    key = jax.random.PRNGKey(1)
    keys = jax.random.split(key, depth + 2)
    params = {
        f"layer{i:03d}": {
            "w": jax.random.normal(keys[i], (width, width), jnp.float32) / np.sqrt(width),
            "b": jnp.zeros((width,), jnp.float32),
        }
        for i in range(depth)
    }
    x = jax.random.normal(keys[-2], (batch, width), jnp.float32)
    y = jax.random.normal(keys[-1], (batch, width), jnp.float32)

    def loss_fn(p, x, y):
        h = x
        for i in range(depth):
            layer = p[f"layer{i:03d}"]
            h = jnp.tanh(h @ layer["w"] + layer["b"][None, :])
        return jnp.mean((h - y) ** 2)

    def optax_step(p, s, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        u, s = opt_optax.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    opt_optax, opt_gdt = optax.adam(1e-3), gdt.adam(1e-3)
    contenders = {
        "optax": (jax.jit(optax_step, donate_argnums=(0, 1)), params, opt_optax),
        "tree": (gdt.make_train_step(loss_fn, opt_gdt), params, opt_gdt),
        "flat": (gdt.make_train_step(loss_fn, opt_gdt), gdt.flatten_params(params), opt_gdt),
    }
    carries, compiled, times = {}, {}, {k: [] for k in contenders}
    for k, (fn, p, opt) in contenders.items():
        p = jax.tree.map(jnp.copy, p)
        s = opt.init(p)
        compiled[k] = fn.lower(p, s, x, y).compile()
        carries[k] = _block(compiled[k](p, s, x, y))[:2]
    for r in range(rounds):
        order = list(contenders)[r % 3 :] + list(contenders)[: r % 3]
        for k in order:
            for _ in range(steps):
                start = time.perf_counter()
                out = _block(compiled[k](*carries[k], x, y))
                times[k].append(time.perf_counter() - start)
                carries[k] = out[:2]
    leaves = len(jax.tree.leaves(params))
    n = sum(v.size for v in jax.tree.leaves(params))
    return {"leaves": leaves, "params": n, "depth": depth, "width": width, "batch": batch} | {
        k: 1e3 * statistics.median(v) for k, v in times.items()
    }


# -- Report -------------------------------------------------------------------


def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f}"


def report(
    config: dict,
    bw: float,
    steps: list[dict],
    compiles: list[dict],
    mlp: list[dict],
    donation: dict,
) -> None:
    print(f"## gdtransforms vs optax ({config['mode']} run)\n")
    print(
        f"jax {jax.__version__}, optax {optax.__version__}, {platform.machine()} "
        f"{jax.devices()[0].device_kind} x{jax.local_device_count()} "
        f"({config['cpus']} CPU cores); {config['n']:,} float32 params; medians of "
        f"{config['rounds']} alternating rounds x {config['steps']} steps; params and state donated.\n"
    )
    print(f"In-place streaming bandwidth (x <- a*x + b, donated): **{bw / 1e9:.1f} GB/s**.\n")
    print("### Step time (ms); ratio = optax / gdtransforms (> 1: gdtransforms faster)\n")
    print(
        "| optimizer | leaves | optax | gdt tree | ratio | gdt flat | ratio | floor | % of floor: optax / tree / flat |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in steps:
        frac = " / ".join(f"{100 * r['floor'] / r[k]:.0f}" for k in ("optax", "tree", "flat"))
        print(
            f"| {r['optimizer']} | {r['leaves']} | {r['optax']:.2f} | {r['tree']:.2f} | "
            f"{r['optax'] / r['tree']:.2f} | {r['flat']:.2f} | {r['optax'] / r['flat']:.2f} | "
            f"{r['floor']:.2f} | {frac} |"
        )
    print(
        f"\nWithout donation the flat Adam step takes {donation['not donated']:.2f} ms instead "
        f"of {donation['donated']:.2f} ms ({donation['not donated'] / donation['donated']:.1f}x): "
        "fresh output buffers page-fault."
    )
    print(
        "\n### Compile time of an Adam step (s), small leaves of "
        f"{config['leaf_size']} floats; trace + lower + compile\n"
    )
    print("| leaves | optax | gdt tree | ratio | gdt flat | ratio |")
    print("|--:|--:|--:|--:|--:|--:|")
    for r in compiles:
        print(
            f"| {r['leaves']} | {r['optax']:.2f} | {r['tree']:.2f} | {r['optax'] / r['tree']:.2f} | "
            f"{r['flat']:.3f} | {r['optax'] / r['flat']:.0f} |"
        )
    print(
        f"\n### Memory (MiB) at {steps[-1]['leaves']} leaves: optimizer state; "
        "XLA's peak for the step (arguments + outputs - donated + temporaries)\n"
    )
    print("| optimizer | state optax | state gdt | peak optax | peak gdt tree | peak gdt flat |")
    print("|---|--:|--:|--:|--:|--:|")
    for r in steps:
        if r["leaves"] != steps[-1]["leaves"]:
            continue
        print(
            f"| {r['optimizer']} | {_mb(r['optax_state'])} | {_mb(r['tree_state'])} | "
            f"{_mb(r['optax_peak'])} | {_mb(r['tree_peak'])} | {_mb(r['flat_peak'])} |"
        )
    print("\n### End-to-end train step (ms): forward, backward and Adam on an MLP of tanh layers (2 leaves a layer)\n")
    print(
        "| layers x width | leaves | params | batch | optax | gdt tree | ratio | gdt flat (make_train_step) | ratio |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for m in mlp:
        print(
            f"| {m['depth']} x {m['width']} | {m['leaves']} | {m['params']:,} | {m['batch']} | "
            f"{m['optax']:.2f} | {m['tree']:.2f} | {m['optax'] / m['tree']:.2f} | "
            f"{m['flat']:.2f} | {m['optax'] / m['flat']:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, about 30 s")
    args = parser.parse_args()
    if args.quick:
        config = dict(
            mode="quick",
            n=2**20,
            leaves=[1, 10, 100],
            compile_leaves=[10, 100, 300],
            rounds=3,
            steps=5,
            compile_rounds=1,
            leaf_size=64,
            mlp=[(20, 64, 32)],
        )
    else:
        config = dict(
            mode="full",
            n=16 * 2**20,
            leaves=[1, 100, 1000],
            compile_leaves=[10, 100, 1000, 3000],
            rounds=5,
            steps=5,
            compile_rounds=2,
            leaf_size=64,
            mlp=[(100, 64, 32), (100, 128, 64)],
        )
    config["cpus"] = os.cpu_count()
    start = time.perf_counter()
    print("bandwidth ...", file=sys.stderr)
    bw = bandwidth(config["n"], config["rounds"])
    print("step times ...", file=sys.stderr)
    steps = step_times(config["n"], config["leaves"], bw, config["rounds"], config["steps"])
    print("donation ...", file=sys.stderr)
    donation = donation_cost(config["n"], config["rounds"], config["steps"])
    print("compile times ...", file=sys.stderr)
    compiles = compile_times(config["compile_leaves"], config["leaf_size"], config["compile_rounds"])
    print("MLP train step ...", file=sys.stderr)
    mlp = [mlp_train_step(*m, 3 * config["rounds"], config["steps"]) for m in config["mlp"]]
    report(config, bw, steps, compiles, mlp, donation)
    print(f"\n({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
