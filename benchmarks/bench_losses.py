"""gdtransforms' losses against optax's: value-and-gradient time and compile time.

Each row jits ``value_and_grad`` of the mean loss for both libraries on the same
inputs, then times them in alternating rounds and prints medians side by side,
with the ratio ``optax / gdtransforms`` (above 1: gdtransforms is faster).

Run from the repository root (about a minute on 2 CPU cores):

    python benchmarks/bench_losses.py [--quick]
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


def _inputs(quick: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    n, c = (256, 100) if quick else (4096, 1000)
    t, k, labels_len = (50, 20, 10) if quick else (200, 40, 30)
    f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)  # noqa: E731
    return {
        "logits": f(n, c),
        "probs": jax.nn.softmax(f(n, c)),
        "int_labels": jnp.asarray(rng.integers(0, c, size=n)),
        "emb": f(512 if not quick else 128, 64),
        "emb_labels": jnp.asarray(rng.integers(0, 64, size=512 if not quick else 128)),
        "ctc_logits": f(16, t, k),
        "ctc_labels": jnp.asarray(rng.integers(1, k, size=(16, labels_len))),
        "ctc_pad": jnp.zeros((16, t)),
        "ctc_label_pad": jnp.zeros((16, labels_len)),
        "seg": f(8, 64, 64, 4),
        "seg_t": jax.nn.one_hot(jnp.asarray(rng.integers(0, 4, size=(8, 64, 64))), 4),
    }


# (name, loss(module, x, inputs), key of the differentiated input)
ROWS: list[tuple[str, Callable[[Any, Any, dict], Any], str]] = [
    ("softmax_cross_entropy", lambda m, x, d: m.softmax_cross_entropy(x, d["probs"]), "logits"),
    (
        "softmax_ce_integer_labels",
        lambda m, x, d: m.softmax_cross_entropy_with_integer_labels(x, d["int_labels"]),
        "logits",
    ),
    ("sigmoid_binary_cross_entropy", lambda m, x, d: m.sigmoid_binary_cross_entropy(x, d["probs"]), "logits"),
    ("sigmoid_focal_loss", lambda m, x, d: m.sigmoid_focal_loss(x, d["probs"]), "logits"),
    ("kl_divergence", lambda m, x, d: m.kl_divergence(jax.nn.log_softmax(x), d["probs"]), "logits"),
    ("multiclass_sparsemax_loss", lambda m, x, d: m.multiclass_sparsemax_loss(x, d["int_labels"]), "logits"),
    ("ranking_softmax_loss", lambda m, x, d: m.ranking_softmax_loss(x, d["probs"]), "logits"),
    ("ntxent", lambda m, x, d: m.ntxent(x, d["emb_labels"]), "emb"),
    ("dice_loss", lambda m, x, d: m.dice_loss(x, d["seg_t"]), "seg"),
    (
        "ctc_loss",
        lambda m, x, d: m.ctc_loss(x, d["ctc_pad"], d["ctc_labels"], d["ctc_label_pad"]),
        "ctc_logits",
    ),
]


def _compiled(module: Any, loss: Callable, x: jax.Array, d: dict) -> tuple[Any, float]:
    # The inputs are arguments, not closed-over constants that XLA would fold.
    fn = jax.jit(jax.value_and_grad(lambda x, d: jnp.mean(loss(module, x, d))))
    start = time.perf_counter()
    compiled = fn.lower(x, d).compile()
    return compiled, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small inputs, few rounds")
    args = parser.parse_args()
    rounds, reps = (5, 5) if args.quick else (15, 10)
    d = _inputs(args.quick)
    print(f"jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0].platform}; medians of {rounds} rounds")
    print(f"{'loss':30s} {'gdt ms':>9s} {'optax ms':>9s} {'ratio':>6s} {'gdt compile s':>14s} {'optax compile s':>16s}")
    for name, loss, key in ROWS:
        x = d[key]
        runs = {}
        for lib, module in (("gdt", gdt.losses), ("optax", optax.losses)):
            compiled, compile_s = _compiled(module, loss, x, d)
            jax.block_until_ready(compiled(x, d))
            runs[lib] = (compiled, compile_s, [])
        for _ in range(rounds):
            for lib in ("gdt", "optax"):  # alternate, so drift hits both
                compiled, _, times = runs[lib]
                start = time.perf_counter()
                for _ in range(reps):
                    out = compiled(x, d)
                jax.block_until_ready(out)
                times.append((time.perf_counter() - start) / reps * 1e3)
        g, o = statistics.median(runs["gdt"][2]), statistics.median(runs["optax"][2])
        print(f"{name:30s} {g:9.3f} {o:9.3f} {o / g:6.2f} {runs['gdt'][1]:14.3f} {runs['optax'][1]:16.3f}")


if __name__ == "__main__":
    main()
