"""Compile cost of the GPT full train step: optax against gdt on the flat path.

Builds the full step (forward, backward, clip + AdamW, apply) of
``bench_train_step``'s GPT for each contender and measures, in CPU seconds
(``time.process_time``), tracing + lowering and XLA's compile separately: a
fresh jitted function each round, the contenders alternating (who goes first
rotates), ``jax.clear_caches()`` before each build, medians over the rounds.
It also counts the instructions of the program before optimisation (the
StableHLO of ``lowered.as_text()``) and after (the HLO of
``compiled.as_text()``, all computations, fused ones included), with the
opcodes that differ most between the contenders, and XLA's peak memory
(arguments + outputs - donated + temporaries, as ``bench_train_step``).

XLA's CPU compile time goes mostly into LLVM, one module per kernel, and a
fusion identical to one already compiled reuses its kernel; see how many were
compiled and reused with ``TF_CPP_MIN_LOG_LEVEL=0
TF_CPP_VMODULE=ir_compiler=1,thunk_emitter=1`` ("Compiled LLVM module",
"Reusing kernel"). XLA fuses each leaf view's slice into the kernels that
read it, with the leaf's offset as a constant: in one shared buffer the
layers' kernels differ where the tree's repeat. ``gdt flat`` and ``gdt flat
fast`` use ``flatten_params(..., blocks=True)`` (one buffer per layer, the
same offsets in each); ``gdt flat shared`` is the flat step with the layers
sharing their buffers (``blocks=False``), and ``gdt flat checkpoint`` the
flat step as it was before issue 21 (``jax.checkpoint`` recomputing the leaf
views, shared buffers), both rebuilt here for the comparison.

    python benchmarks/compile_flat.py [--layers N] [--rounds R] [--contenders optax,gdt flat] [--ops K]
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import bench_train_step as bts
import jax
from jax.ad_checkpoint import checkpoint_name

import gdtransforms as gdt

_MLIR_OP = re.compile(r"=\s*(?:\"([\w.]+)\"|([a-z_]+\.[\w.]+))")
_HLO_OP = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*[^=]*?\s([a-z][\w\-]*)\(", re.M)


def mlir_ops(text: str) -> collections.Counter:
    """Operation names in StableHLO text (``stablehlo.add``, ``func.call``, ...)."""
    ops: collections.Counter = collections.Counter()
    for line in text.splitlines():
        m = _MLIR_OP.search(line)
        if m:
            ops[m.group(1) or m.group(2)] += 1
    return ops


def hlo_ops(text: str) -> collections.Counter:
    """Instruction opcodes in HLO text, over all computations."""
    return collections.Counter(m.group(1) for m in _HLO_OP.finditer(text))


def kernels(text: str) -> tuple[int, int]:
    """``(fusions, distinct fusions)`` in optimised HLO text.

    Two fusions are the same kernel when their computations read alike once
    instruction names and metadata are dropped (slice offsets kept): XLA's CPU
    backend compiles one LLVM module per distinct kernel and reuses it for
    the others.
    """
    bodies = {}
    for comp in re.split(r"\n(?=%|ENTRY)", text):
        name, _, body = comp.partition(" ")
        if name.startswith(("%fused", "%wrapped")):
            body = re.sub(r", metadata=\{[^}]*\}", "", body.partition("\n")[2])
            bodies[name] = re.sub(r"%[\w.\-]+", "%", body)
    calls = [c for c in re.findall(r"calls=(%[\w.\-]+)", text) if c in bodies]
    return len(calls), len({bodies[c] for c in calls})


def checkpoint_step(loss_fn: Callable, optimizer: Any) -> Callable:
    """The flat train step before issue 21, for comparison: gradients with
    respect to the buffers, through ``jax.checkpoint`` with a policy that saves
    everything but the (named) leaf views."""
    policy = jax.checkpoint_policies.save_anything_except_these_names("gdt_flat_view")

    def step(params, opt_state, batch):
        def objective(p):
            views = jax.tree.map(lambda x: checkpoint_name(x, "gdt_flat_view"), p.unflatten())
            return loss_fn(views, batch)

        loss, grads = jax.value_and_grad(jax.checkpoint(objective, policy=policy))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params, value=loss)
        return gdt.apply_updates(params, updates), opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1))


CONTENDERS = ("optax", "gdt tree", "gdt flat", "gdt flat fast", "gdt flat shared", "gdt flat checkpoint")


def builders(layers: int) -> tuple[dict[str, Callable[[], tuple[Callable, tuple]]], Any]:
    """Per contender: a function returning ``(fresh jitted step, its arguments)``."""
    data = bts.stdlib_bytes()
    batch = bts.text_batches(data, 16, 128, 1)[0]
    params = bts.gpt_init(jax.random.key(0), layers, 256, 128)
    args = {}
    for name in CONTENDERS:
        p = bts.start_params(params, name, blocks=name not in ("gdt flat shared", "gdt flat checkpoint"))
        args[name] = (p, bts.init_state(name, p), batch)

    def build(name: str) -> Callable[[], tuple[Callable, tuple]]:
        if name == "gdt flat checkpoint":
            return lambda: (checkpoint_step(bts.gpt_loss, bts.make_opt(gdt)), args[name])
        return lambda: (bts.full_step(bts.gpt_loss, bts.lib_of(name), bts.is_fast(name)), args[name])

    return {name: build(name) for name in args}, params


def measure(build: Callable[[], tuple[Callable, tuple]]) -> dict[str, Any]:
    """One fresh build: lower and compile CPU seconds, op counts, peak MiB."""
    jax.clear_caches()
    fn, args = build()
    t0 = time.process_time()
    lowered = fn.lower(*args)
    t1 = time.process_time()
    compiled = lowered.compile()
    t2 = time.process_time()
    return {
        "lower": t1 - t0,
        "compile": t2 - t1,
        "pre": mlir_ops(lowered.as_text()),
        "post": hlo_ops(compiled.as_text()),
        "kernels": kernels(compiled.as_text()),
        "peak": bts.peak_mib(compiled),
    }


def run(builds: dict[str, Callable], names: list[str], rounds: int) -> dict[str, dict[str, Any]]:
    res: dict[str, dict[str, Any]] = {n: {"lower": [], "compile": []} for n in names}
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            m = measure(builds[n])
            res[n]["lower"].append(m["lower"])
            res[n]["compile"].append(m["compile"])
            res[n].update(pre=m["pre"], post=m["post"], peak=m["peak"], kernels=m["kernels"])
            print(f"  round {r}: {n}: lower {m['lower']:.2f} s, compile {m['compile']:.2f} s", flush=True)
    return res


def report(res: dict[str, dict[str, Any]], names: list[str], top: int) -> None:
    med = statistics.median
    base = res[names[0]]
    base_total = med(base["lower"]) + med(base["compile"])
    print()
    print(
        "| contender | lower CPU s | compile CPU s | total (ratio) | peak MiB | StableHLO ops | HLO instructions "
        "| kernels (distinct) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in names:
        r = res[n]
        lo, co = med(r["lower"]), med(r["compile"])
        print(
            f"| {n} | {lo:.2f} | {co:.2f} | {lo + co:.2f} ({(lo + co) / base_total:.2f}x) | {r['peak']:.1f} "
            f"| {sum(r['pre'].values())} | {sum(r['post'].values())} | {r['kernels'][0]} ({r['kernels'][1]}) |"
        )
    for stage, label in (("pre", "StableHLO (before optimisation)"), ("post", "HLO (after optimisation)")):
        print(f"\n{label}: the opcodes that differ most from {names[0]}")
        keys = set().union(*(res[n][stage] for n in names))
        delta = lambda op: max(abs(res[n][stage][op] - base[stage][op]) for n in names)  # noqa: E731
        shown = sorted(keys, key=lambda op: (-delta(op), op))[:top]
        print("| op | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for op in shown:
            print(f"| {op} | " + " | ".join(str(res[n][stage][op]) for n in names) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--contenders", default="optax,gdt flat shared,gdt flat,gdt flat fast", help=f"from: {', '.join(CONTENDERS)}"
    )
    ap.add_argument("--ops", type=int, default=12, help="opcodes listed per table")
    args = ap.parse_args()
    names = [n.strip() for n in args.contenders.split(",")]
    builds, params = builders(args.layers)
    n_params = sum(x.size for x in jax.tree.leaves(params))
    print(
        f"jax {jax.__version__}; gpt {args.layers} layers, {len(jax.tree.leaves(params))} leaves, "
        f"{n_params / 1e6:.2f}M params; {args.rounds} rounds, CPU seconds (process_time), medians"
    )
    report(run(builds, names, args.rounds), names, args.ops)


if __name__ == "__main__":
    main()
