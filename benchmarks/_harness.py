"""Pieces shared by the benchmark scripts: model trees, jitted steps and timing.

A script in this folder imports it as ``import _harness`` (running
``python benchmarks/<script>.py`` puts this folder first on ``sys.path``);
importing it also puts the repository root on ``sys.path``, so that the
checkout's ``gdtransforms`` is the one timed.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gdtransforms as gdt  # noqa: E402


def mixed_tree(leaves: int, key: jax.Array) -> tuple[dict, dict]:
    """``leaves`` float32 leaves: matrices and vectors of mixed sizes, and gradients."""
    shapes = [
        (64, 64) if i % 4 == 0 else (32, 32) if i % 4 == 1 else (512,) if i % 4 == 2 else (64,) for i in range(leaves)
    ]
    keys = jax.random.split(key, 2 * leaves)
    params = {f"l{i:03d}": 0.1 * jax.random.normal(keys[2 * i], s) for i, s in enumerate(shapes)}
    grads = {f"l{i:03d}": 1e-3 * jax.random.normal(keys[2 * i + 1], s) for i, s in enumerate(shapes)}
    return params, grads


def square_mlp(width: int, layers: int, seed: int = 0) -> dict[str, Any]:
    """``layers`` float32 layers ``{"w": (width, width) / sqrt(width), "b": zeros(width)}``."""
    rng = np.random.default_rng(seed)
    return {
        f"layer{i}": {
            "w": jnp.asarray(rng.standard_normal((width, width)) / np.sqrt(width), jnp.float32),
            "b": jnp.zeros(width, jnp.float32),
        }
        for i in range(layers)
    }


def update_step(opt: Any, apply_updates: Any = gdt.apply_updates) -> Any:
    """``step(params, state, grads) -> (new params, new state)``: ``opt.update`` then ``apply_updates``."""

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return apply_updates(params, updates), state

    return step


def state_bytes(state: Any) -> int:
    """Bytes of the arrays in an optimizer state."""
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state) if hasattr(x, "dtype"))


def compile_timed(jitted: Any, *args: Any) -> tuple[Any, float]:
    """``jitted`` lowered and compiled for ``args``; returns ``(compiled, seconds)``."""
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - start


def mean_step_seconds(compiled: Any, params: Any, state: Any, grads: Any, steps: int) -> tuple[float, Any, Any]:
    """``steps`` calls of ``compiled(params, state, grads) -> (params, state)``, timed together.

    Returns the mean seconds a step and the last params and state.
    """
    p, s = params, state
    start = time.perf_counter()
    for _ in range(steps):
        p, s = compiled(p, s, grads)
    jax.block_until_ready((p, s))
    return (time.perf_counter() - start) / steps, p, s


class Runner:
    """A compiled, donated ``step(params, state, grads)`` carried from call to call, each step timed."""

    def __init__(self, opt: Any, step: Any, params: Any, grads: Any):
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


def race_two(
    builds: dict[Any, Any], params: Any, grads: Any, rounds: int, steps: int, compiles: int
) -> tuple[dict[Any, float], dict[Any, float]]:
    """Times two steps against each other: ``builds`` maps a key to a function returning ``(opt, jitted step)``.

    ``compiles`` fresh compiles each, then ``rounds`` rounds of ``steps`` steps
    of a :class:`Runner` each, the two alternating (who goes first swaps every
    round). Returns the median step in milliseconds and the median compile in
    seconds, by key.
    """
    first, second = builds

    def order(r: int) -> tuple[Any, Any]:
        return (first, second) if r % 2 == 0 else (second, first)

    comp: dict[Any, list[float]] = {first: [], second: []}
    for r in range(compiles):
        for k in order(r):
            opt, step = builds[k]()
            comp[k].append(compile_timed(step, params, opt.init(params), grads)[1])
    runners = {k: Runner(*build(), params, grads) for k, build in builds.items()}
    for r in range(rounds):
        for k in order(r):
            runners[k].run(steps)
    ms = {k: 1e3 * statistics.median(runners[k].times) for k in runners}
    cs = {k: statistics.median(comp[k]) for k in comp}
    return ms, cs


def mixed_tree_setup(versions: str, full: tuple[int, int, int], header: str) -> tuple[int, int, int, Any, Any]:
    """The command line of a two-way race on :func:`mixed_tree` (``--quick``, ``--leaves N``), and its preamble.

    Prints ``versions``, the tree's size and the round counts, and ``header``
    underlined. Returns ``(rounds, steps, compiles, params, grads)``: ``full``
    for the first three, ``(3, 5, 1)`` with ``--quick``.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--leaves", type=int, default=100)
    args = parser.parse_args()
    rounds, steps, compiles = (3, 5, 1) if args.quick else full
    params, grads = mixed_tree(args.leaves, jax.random.key(0))
    n = sum(x.size for x in jax.tree.leaves(params))
    print(versions)
    print(f"{args.leaves} leaves, {n} float32 params; medians of {rounds} x {steps} steps, {compiles} compiles each\n")
    print(header)
    print("-" * len(header))
    return rounds, steps, compiles, params, grads
