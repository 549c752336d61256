"""The optimizers of issue 14 against optax: step time and compile time at 100 leaves.

One process; for each optimizer the two libraries run in alternating rounds
(who goes first rotates), and the table prints medians with the ratio
``optax / gdtransforms`` (above 1: gdtransforms is faster). Compile time is
tracing plus XLA compilation of a fresh jitted step, also alternated. Params
and state are donated to every step, as in a train loop.

Run from the repository root (about two minutes on 2 CPU cores):

    python benchmarks/bench_adaptive.py [--quick]
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

# (name, factory taking the library module, needs the loss as `value`)
OPTIMIZERS: list[tuple[str, Any, bool]] = [
    ("adabelief", lambda m: m.adabelief(1e-3), False),
    ("adadelta", lambda m: m.adadelta(1.0), False),
    ("adan", lambda m: m.adan(1e-3), False),
    ("novograd", lambda m: m.novograd(1e-3), False),
    ("radam", lambda m: m.radam(1e-3), False),
    ("yogi", lambda m: m.yogi(1e-3), False),
    ("optimistic_adam", lambda m: m.optimistic_adam(1e-3), False),
    ("optimistic_adam_v2", lambda m: m.optimistic_adam_v2(1e-3), False),
    ("optimistic_gradient_descent", lambda m: m.optimistic_gradient_descent(1e-3), False),
    ("rprop", lambda m: m.rprop(1e-3), False),
    ("sign_sgd", lambda m: m.sign_sgd(1e-3), False),
    ("signum", lambda m: m.signum(1e-3), False),
    ("polyak_sgd", lambda m: m.polyak_sgd(), True),
    ("noisy_sgd", lambda m: m.noisy_sgd(1e-3, key=0), False),
    ("fromage", lambda m: m.fromage(1e-3), False),
    ("lars", lambda m: m.lars(1e-3), False),
]


def make_step(module: Any, factory: Any, needs_value: bool) -> tuple[Any, Any]:
    opt = factory(module)

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params, **({"value": jnp.float32(1.0)} if needs_value else {}))
        return module.apply_updates(params, updates), state

    return opt, jax.jit(step, donate_argnums=(0, 1))


def main() -> None:
    header = (
        f"{'optimizer':<28} {'gdt ms':>8} {'optax ms':>9} {'ratio':>6} "
        f"{'gdt comp s':>11} {'optax comp s':>13} {'ratio':>6}"
    )
    rounds, steps, compiles, params, grads = _harness.mixed_tree_setup(
        f"jax {jax.__version__}, optax {optax.__version__}, {platform.machine()}, {jax.devices()[0].platform}",
        (5, 10, 2),
        header,
    )
    for name, factory, needs_value in OPTIMIZERS:
        ms, cs = _harness.race_two(
            {m: functools.partial(make_step, m, factory, needs_value) for m in (gdt, optax)},
            params,
            grads,
            rounds,
            steps,
            compiles,
        )
        print(
            f"{name:<28} {ms[gdt]:>8.3f} {ms[optax]:>9.3f} {ms[optax] / ms[gdt]:>6.2f} "
            f"{cs[gdt]:>11.3f} {cs[optax]:>13.3f} {cs[optax] / cs[gdt]:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
