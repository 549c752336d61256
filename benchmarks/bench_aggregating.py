"""experimental.aggregating against optax: step time and compile time on per-example gradients.

One process; for each pipeline the two libraries run in alternating rounds
(who goes first rotates), and the table prints medians with the ratio
``optax / gdtransforms`` (above 1: gdtransforms is faster). Compile time is
tracing plus XLA compilation of a fresh jitted step, also alternated. Each
step takes per-example gradients (a leading batch axis of 8 on every leaf of
the mixed tree); params and state are donated, as in a train loop.

Run from the repository root (about a minute on 2 CPU cores with --quick):

    python benchmarks/bench_aggregating.py [--quick] [--leaves N]
"""

from __future__ import annotations

import functools
import platform
import warnings
from typing import Any

import _harness
import jax
import jax.numpy as jnp
import optax

import gdtransforms as gdt

warnings.simplefilter("ignore", DeprecationWarning)
BATCH = 8


def _agg(m: Any) -> Any:
    return m.experimental.aggregating


PIPELINES: list[tuple[str, Any]] = [
    ("average, adam", lambda m: _agg(m).process(m.identity(), _agg(m).average_per_element_updates(), m.adam(1e-3))),
    (
        "average + accumulate 4, adam",
        lambda m: _agg(m).process(m.identity(), _agg(m).average_incrementally_updates(0, 4), m.adam(1e-3)),
    ),
    ("mean/variance EMA, adam", lambda m: _agg(m).add_mean_variance_to_opt(m.adam(1e-3), 0.9)),
    (
        "mean/variance EMA + accumulate 2",
        lambda m: _agg(m).add_mean_variance_to_opt(m.adam(1e-3), 0.9, accumulation_steps=2),
    ),
]


def make_step(module: Any, factory: Any) -> tuple[Any, Any]:
    opt = factory(module)

    def step(params, state, per_example_grads):
        updates, state = opt.update(per_example_grads, state, params)
        return module.apply_updates(params, updates), state

    return opt, jax.jit(step, donate_argnums=(0, 1))


def main() -> None:
    header = (
        f"{'pipeline':<34} {'gdt ms':>8} {'optax ms':>9} {'ratio':>6} "
        f"{'gdt comp s':>11} {'optax comp s':>13} {'ratio':>6}"
    )
    rounds, steps, compiles, params, grads = _harness.mixed_tree_setup(
        f"jax {jax.__version__}, optax {optax.__version__}, {platform.machine()}, {jax.devices()[0].platform}; "
        f"per-example gradients, batch {BATCH}",
        (5, 10, 2),
        header,
    )
    scales = jnp.linspace(0.5, 1.5, BATCH)
    per_example = jax.tree.map(lambda g: scales.reshape(-1, *([1] * g.ndim)) * g[None], grads)
    for name, factory in PIPELINES:
        ms, cs = _harness.race_two(
            {m: functools.partial(make_step, m, factory) for m in (gdt, optax)},
            params,
            per_example,
            rounds,
            steps,
            compiles,
        )
        print(
            f"{name:<34} {ms[gdt]:>8.3f} {ms[optax]:>9.3f} {ms[optax] / ms[gdt]:>6.2f} "
            f"{cs[gdt]:>11.3f} {cs[optax]:>13.3f} {cs[optax] / cs[gdt]:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
