"""gdtransforms against optax: tree maths, projections, perturbations, assignment.

For each function the same jitted call is built from either library; compile
time is measured once per library, then the two compiled programs run in
alternating rounds and the table prints medians side by side with the ratio
``optax / gdtransforms`` (above 1: gdtransforms is faster).

Run from the repository root (about a minute on 2 CPU cores):

    python benchmarks/bench_tree_proj.py [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
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


def _tree(n_leaves: int, size: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {f"p{i}": jnp.asarray(rng.normal(size=(size,)), jnp.float32) for i in range(n_leaves)}


def _cases(size: int) -> list[tuple[str, Callable[[Any], Callable[..., Any]], tuple]]:
    """(name, build(lib) -> function, args)."""
    x, y = _tree(16, size, 0), _tree(16, size, 1)
    vec = jnp.asarray(np.random.default_rng(2).normal(size=(16 * size,)), jnp.float32)
    costs = jnp.asarray(np.random.default_rng(3).normal(size=(64, 64)), jnp.float32)
    key = jax.random.key(0)
    relu_sum = lambda lib: lambda t: lib.tree.sum(jax.tree.map(jax.nn.relu, t))
    return [
        ("tree.add_scale", lambda lib: lambda a, b: lib.tree.add_scale(a, 0.5, b), (x, y)),
        ("tree.vdot", lambda lib: lib.tree.vdot, (x, y)),
        ("tree.norm", lambda lib: lib.tree.norm, (x,)),
        ("tree.norm(ord=inf)", lambda lib: lambda a: lib.tree.norm(a, ord="inf"), (x,)),
        ("tree.random_like", lambda lib: lambda k, a: lib.tree.random_like(k, a), (key, x)),
        ("projection_simplex", lambda lib: lib.projections.projection_simplex, (vec,)),
        ("projection_l1_ball", lambda lib: lib.projections.projection_l1_ball, (x,)),
        ("projection_l2_ball", lambda lib: lib.projections.projection_l2_ball, (x,)),
        ("projection_halfspace", lambda lib: lambda a, b: lib.projections.projection_halfspace(a, b, 0.1), (x, y)),
        (
            "perturbed grad (N=100)",
            lambda lib: jax.grad(lib.perturbations.make_perturbed_fun(relu_sum(lib), 100, 0.1), argnums=1),
            (key, x),
        ),
        ("hungarian 64x64", lambda lib: lib.assignment.hungarian_algorithm, (costs,)),
        ("base_hungarian 64x64", lambda lib: lib.assignment.base_hungarian_algorithm, (costs,)),
    ]


def _compile(fn: Callable[..., Any], args: tuple) -> tuple[Any, float]:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller trees")
    opts = parser.parse_args()
    size, rounds, calls = (1_000, 5, 10) if opts.quick else (10_000, 9, 20)
    print(f"jax {jax.__version__}, optax {optax.__version__}, backend {jax.default_backend()}; 16 leaves x {size}")
    header = ("function", "gdt us", "optax us", "ratio", "gdt compile s", "optax compile s")
    print(f"{header[0]:<24} {header[1]:>10} {header[2]:>10} {header[3]:>6} {header[4]:>14} {header[5]:>16}")
    for name, build, args in _cases(size):
        ours, c_ours = _compile(build(gdt), args)
        theirs, c_theirs = _compile(build(optax), args)
        times: dict[str, list[float]] = {"gdt": [], "optax": []}
        jax.block_until_ready((ours(*args), theirs(*args)))
        for _ in range(rounds):
            for label, compiled in (("gdt", ours), ("optax", theirs)):
                start = time.perf_counter()
                for _ in range(calls):
                    out = compiled(*args)
                jax.block_until_ready(out)
                times[label].append((time.perf_counter() - start) / calls * 1e6)
        t_ours, t_theirs = statistics.median(times["gdt"]), statistics.median(times["optax"])
        print(
            f"{name:<24} {t_ours:>10.1f} {t_theirs:>10.1f} {t_theirs / t_ours:>6.2f} {c_ours:>14.3f} {c_theirs:>16.3f}"
        )


if __name__ == "__main__":
    main()
