"""Ftrl against AdaGrad, and dynamic loss scaling around Adam against Adam: step and compile time.

Neither has an optax counterpart, so each is timed against its nearest plain
gdtransforms optimizer: ``ftrl`` (per-coordinate ``sqrt(n)`` rates like
AdaGrad, plus the proximal L1/L2 step) against ``adagrad``, and
``dynamic_loss_scaling(adam)`` (unscale, finiteness test, ``lax.cond``, scale
update) against ``adam``. One process; the two of a pair run in alternating
rounds (who goes first rotates) and the table prints medians, with the ratio
``candidate / baseline`` (the overhead). Compile time is tracing plus XLA
compilation of a fresh jitted step, also alternated. Params and state are
donated to every step, as in a train loop.

Run from the repository root (about a minute on 2 CPU cores):

    python benchmarks/bench_ftrl_loss_scale.py [--quick] [--leaves N]
"""

from __future__ import annotations

import functools
import platform
from typing import Any

import _harness
import jax

import gdtransforms as gdt

# (row name, candidate factory, baseline name, baseline factory)
PAIRS: list[tuple[str, Any, str, Any]] = [
    ("ftrl", lambda: gdt.ftrl(1e-2), "adagrad", lambda: gdt.adagrad(1e-2)),
    (
        "ftrl (l1, l2, shrinkage)",
        lambda: gdt.ftrl(
            1e-2,
            l1_regularization_strength=1e-4,
            l2_regularization_strength=1e-4,
            l2_shrinkage_regularization_strength=1e-4,
        ),
        "adagrad",
        lambda: gdt.adagrad(1e-2),
    ),
    ("dynamic_loss_scaling(adam)", lambda: gdt.dynamic_loss_scaling(gdt.adam(1e-3)), "adam", lambda: gdt.adam(1e-3)),
]


def make_step(factory: Any) -> tuple[Any, Any]:
    opt = factory()
    return opt, jax.jit(_harness.update_step(opt), donate_argnums=(0, 1))


def main() -> None:
    header = (
        f"{'candidate':<28} {'ms':>7} {'baseline':<9} {'ms':>7} {'ratio':>6} "
        f"{'comp s':>7} {'base comp s':>12} {'ratio':>6}"
    )
    rounds, steps, compiles, params, grads = _harness.mixed_tree_setup(
        f"jax {jax.__version__}, {platform.machine()}, {jax.devices()[0].platform}", (7, 10, 2), header
    )
    for name, candidate, base_name, baseline in PAIRS:
        ms, cs = _harness.race_two(
            {"c": functools.partial(make_step, candidate), "b": functools.partial(make_step, baseline)},
            params,
            grads,
            rounds,
            steps,
            compiles,
        )
        print(
            f"{name:<28} {ms['c']:>7.3f} {base_name:<9} {ms['b']:>7.3f} {ms['c'] / ms['b']:>6.2f} "
            f"{cs['c']:>7.3f} {cs['b']:>12.3f} {cs['c'] / cs['b']:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
