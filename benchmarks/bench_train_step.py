"""Train steps users run: optax against gdt (tree) and gdt (flat), end to end.

Models, in plain JAX:
  * ``gpt``: a GPT-style decoder (pre-LayerNorm, causal attention, GELU MLP),
    byte vocabulary, context 128, trained on Python standard-library source.
  * ``mlp``: 784-512-512-10 on random data.
  * ``cnn``: two 3x3 convolutions and a dense head on random 28x28 images.

Optimizer: ``clip_by_global_norm(1.0)`` then AdamW with warmup-cosine and
weight decay on matrices only (``mask=ndim > 1``); the flat layout is grouped
by that mask and has one buffer per layer (``blocks=True``: the layers'
kernels are then identical and XLA compiles them once). Each contender is compiled, then the contenders run in
alternating rounds (who goes first rotates) and the tables print medians and
the same-run ratio ``optax time / contender time`` (above 1: faster than optax).

Columns: compile of the full step (lower + compile, fresh function each
round), full step (forward, backward, update, params and state donated),
optimizer only (update + apply on fixed gradients, donated), peak memory of
the full step per XLA's ``memory_analysis`` (arguments + outputs - donated +
temporaries), XLA's cost analysis of the optimizer step (bytes accessed per
parameter, against the floor of 32 for clip + AdamW, and its number of
kernels: deterministic where timings are noisy), and agreement after the
steps (max |param difference|). ``gdt flat fast`` is the flat path with the
two speed options that give up bit-equality with optax: ``leaf_norms=False``
(the global norm sums each buffer at once) and
``clip_by_global_norm(1.0, reciprocal=True)`` (the clip fuses into AdamW).

    python benchmarks/bench_train_step.py [--quick] [--layers N] [--models gpt,mlp,cnn]
        [--rounds R] [--steps S] [--compile-rounds C] [--opt-only]

``--opt-only`` times only the optimizer step on the GPT's gradients (``4 * S`` steps
per round), in wall time and in CPU time of all threads.
"""

from __future__ import annotations

import argparse
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

# -- Data ------------------------------------------------------------------------


def stdlib_bytes(limit: int = 4_000_000) -> np.ndarray:
    """Python standard-library source as bytes (a deterministic file order)."""
    root = pathlib.Path(pathlib.__file__).parent
    chunks, total = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        total += len(data)
        if total >= limit:
            break
    return np.frombuffer(b"".join(chunks), dtype=np.uint8)


def text_batches(data: np.ndarray, batch: int, ctx: int, count: int, seed: int = 0) -> list[jax.Array]:
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(data) - ctx - 1, size=(count, batch))
    return [jnp.asarray(np.stack([data[s : s + ctx + 1] for s in row]).astype(np.int32)) for row in starts]


# -- Models ------------------------------------------------------------------------


def _dense(key: jax.Array, n_in: int, n_out: int) -> dict:
    return {"w": jax.random.normal(key, (n_in, n_out)) * (n_in**-0.5), "b": jnp.zeros(n_out)}


def _layer_norm(x: jax.Array, p: dict) -> jax.Array:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + 1e-5) * p["scale"] + p["bias"]


def gpt_init(key: jax.Array, layers: int, d: int, ctx: int, vocab: int = 256) -> dict:
    keys = jax.random.split(key, 3 + layers)
    ln = lambda: {"scale": jnp.ones(d), "bias": jnp.zeros(d)}  # noqa: E731
    blocks = []
    for k in keys[3:]:
        k1, k2, k3, k4 = jax.random.split(k, 4)
        blocks.append(
            {
                "ln1": ln(),
                "qkv": _dense(k1, d, 3 * d),
                "proj": _dense(k2, d, d),
                "ln2": ln(),
                "fc": _dense(k3, d, 4 * d),
                "out": _dense(k4, 4 * d, d),
            }
        )
    return {
        "embed": jax.random.normal(keys[0], (vocab, d)) * 0.02,
        "pos": jax.random.normal(keys[1], (ctx, d)) * 0.02,
        "blocks": blocks,
        "ln_f": ln(),
        "head": _dense(keys[2], d, vocab),
    }


def gpt_loss(params: dict, tokens: jax.Array, heads: int = 4) -> jax.Array:
    x_tok, y = tokens[:, :-1], tokens[:, 1:]
    b, t = x_tok.shape
    x = params["embed"][x_tok] + params["pos"][:t]
    d = x.shape[-1]
    causal = jnp.tril(jnp.ones((t, t), bool))
    for blk in params["blocks"]:
        h = _layer_norm(x, blk["ln1"])
        qkv = h @ blk["qkv"]["w"] + blk["qkv"]["b"]
        q, k, v = (z.reshape(b, t, heads, d // heads) for z in jnp.split(qkv, 3, axis=-1))
        att = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d // heads)
        att = jax.nn.softmax(jnp.where(causal, att, -1e9), axis=-1)
        h = jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, t, d)
        x = x + h @ blk["proj"]["w"] + blk["proj"]["b"]
        h = _layer_norm(x, blk["ln2"])
        h = jax.nn.gelu(h @ blk["fc"]["w"] + blk["fc"]["b"])
        x = x + h @ blk["out"]["w"] + blk["out"]["b"]
    logits = _layer_norm(x, params["ln_f"]) @ params["head"]["w"] + params["head"]["b"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def mlp_init(key: jax.Array) -> dict:
    k = jax.random.split(key, 3)
    return {"l1": _dense(k[0], 784, 512), "l2": _dense(k[1], 512, 512), "l3": _dense(k[2], 512, 10)}


def mlp_loss(params: dict, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    x, y = batch
    x = jax.nn.relu(x @ params["l1"]["w"] + params["l1"]["b"])
    x = jax.nn.relu(x @ params["l2"]["w"] + params["l2"]["b"])
    logits = x @ params["l3"]["w"] + params["l3"]["b"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def cnn_init(key: jax.Array) -> dict:
    k = jax.random.split(key, 3)
    return {
        "c1": {"w": jax.random.normal(k[0], (3, 3, 1, 16)) / 3, "b": jnp.zeros(16)},
        "c2": {"w": jax.random.normal(k[1], (3, 3, 16, 32)) / 12, "b": jnp.zeros(32)},
        "head": _dense(k[2], 7 * 7 * 32, 10),
    }


def cnn_loss(params: dict, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    x, y = batch
    for name in ("c1", "c2"):
        dims = ("NHWC", "HWIO", "NHWC")
        x = jax.lax.conv_general_dilated(x, params[name]["w"], (1, 1), "SAME", dimension_numbers=dims)
        x = jax.nn.relu(x + params[name]["b"])
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    logits = x.reshape(x.shape[0], -1) @ params["head"]["w"] + params["head"]["b"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def image_batches(shape: tuple[int, ...], count: int, batch: int, seed: int = 0) -> list[tuple[jax.Array, jax.Array]]:
    rng = np.random.default_rng(seed)
    return [
        (jnp.asarray(rng.normal(size=(batch, *shape)), jnp.float32), jnp.asarray(rng.integers(0, 10, batch)))
        for _ in range(count)
    ]


# -- Optimizers and contenders --------------------------------------------------------


def is_matrix(params: Any) -> Any:
    return jax.tree.map(lambda x: x.ndim > 1, params)


def make_opt(lib: Any, fast: bool = False) -> Any:
    sched = lib.warmup_cosine_decay_schedule(0.0, 3e-4, 10, 1000, 3e-5)
    clip = lib.clip_by_global_norm(1.0, reciprocal=True) if fast else lib.clip_by_global_norm(1.0)
    return lib.chain(clip, lib.adamw(sched, weight_decay=0.1, mask=is_matrix))


def full_step(loss_fn: Callable, lib: str, fast: bool = False) -> Callable:
    """A fresh jitted, donated train step for ``lib`` (``optax`` or ``gdt``)."""
    if lib == "gdt":
        return gdt.make_train_step(loss_fn, make_opt(gdt, fast))
    opt = make_opt(optax)

    def step(params, state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    return jax.jit(step, donate_argnums=(0, 1))


def opt_step(lib: str, fast: bool = False) -> Callable:
    opt = make_opt(gdt, fast) if lib == "gdt" else make_opt(optax)
    apply = gdt.apply_updates if lib == "gdt" else optax.apply_updates

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return apply(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


CONTENDERS = ("optax", "gdt tree", "gdt flat", "gdt flat fast")


def start_params(params: Any, name: str, blocks: bool = True) -> Any:
    params = jax.tree.map(jnp.copy, params)
    if name.startswith("gdt flat"):
        return gdt.flatten_params(params, groups=is_matrix, leaf_norms=not is_fast(name), blocks=blocks)
    return params


def rotation(r: int) -> tuple[str, ...]:
    """The contenders in round ``r``'s order (who goes first rotates)."""
    k = r % len(CONTENDERS)
    return CONTENDERS[k:] + CONTENDERS[:k]


def xla_counts(compiled: Any, n_params: int) -> tuple[float, int]:
    """XLA's bytes accessed per parameter and the number of kernels (fusions) of a step."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    text = compiled.as_text()
    entry = text[text.index("ENTRY") :]
    return cost["bytes accessed"] / n_params, entry.count(" fusion(")


def lib_of(name: str) -> str:
    return "optax" if name == "optax" else "gdt"


def is_fast(name: str) -> bool:
    """The speed options that give up bit-equality: buffer norms, reciprocal clip."""
    return name.endswith("fast")


def init_state(name: str, params: Any) -> Any:
    return make_opt(gdt, is_fast(name)).init(params) if lib_of(name) == "gdt" else make_opt(optax).init(params)


def peak_mib(compiled: Any) -> float:
    m = compiled.memory_analysis()
    return (m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes) / 2**20


def bench_optimizer(params: Any, grads_tree: Any, rounds: int, steps: int) -> dict[str, dict[str, Any]]:
    """The optimizer step alone on fixed gradients, donated, alternating contenders.

    Records each round's wall time and CPU time (all threads) per step, and XLA's bytes per
    parameter and kernel count of the compiled step.
    """
    n_params = sum(x.size for x in jax.tree.leaves(params))
    res: dict[str, dict[str, Any]] = {c: {"opt": [], "opt_cpu": []} for c in CONTENDERS}
    ostates, ofns = {}, {}
    for c in CONTENDERS:
        p = start_params(params, c)
        g = p.layout.flatten(grads_tree) if gdt.is_flat(p) else grads_tree
        ostates[c] = [p, init_state(c, p), g]
        ofns[c] = opt_step(lib_of(c), is_fast(c)).lower(*ostates[c]).compile()
        res[c]["opt_bytes"], res[c]["opt_kernels"] = xla_counts(ofns[c], n_params)
    for r in range(rounds):
        for c in rotation(r):
            p, s, g = ostates[c]
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps * 4):
                p, s = ofns[c](p, s, g)
            jax.block_until_ready((p, s))
            res[c]["opt"].append((time.perf_counter() - t0) / (steps * 4))
            res[c]["opt_cpu"].append((time.process_time() - c0) / (steps * 4))
            ostates[c] = [p, s, g]
    return res


def bench_model(
    name: str, params: Any, loss_fn: Callable, batches: list, rounds: int, steps: int, compile_rounds: int
) -> dict:
    res: dict[str, dict[str, Any]] = {c: {"compile": [], "step": [], "opt": []} for c in CONTENDERS}
    states = {}
    for c in CONTENDERS:
        p = start_params(params, c)
        states[c] = [p, init_state(c, p)]
    # Compile: a fresh function each round, alternating.
    compiled = {}
    for r in range(compile_rounds):
        for c in rotation(r):
            fn = full_step(loss_fn, lib_of(c), is_fast(c))
            t0 = time.perf_counter()
            compiled[c] = fn.lower(*states[c], batches[0]).compile()
            res[c]["compile"].append(time.perf_counter() - t0)
    for c in CONTENDERS:
        res[c]["peak"] = peak_mib(compiled[c])
    # Full steps, alternating; the same batches in the same order for everyone.
    for r in range(rounds):
        for c in rotation(r):
            p, s = states[c]
            t0 = time.perf_counter()
            for i in range(steps):
                p, s, loss = compiled[c](p, s, batches[(r * steps + i) % len(batches)])
            jax.block_until_ready((p, s))
            res[c]["step"].append((time.perf_counter() - t0) / steps)
            states[c] = [p, s]
    trained = {c: states[c][0].unflatten() if gdt.is_flat(states[c][0]) else states[c][0] for c in CONTENDERS}
    # Optimizer only, on fixed gradients.
    grads_tree = jax.grad(loss_fn)(params, batches[0])
    n_params = sum(x.size for x in jax.tree.leaves(params))
    for c, opt_res in bench_optimizer(params, grads_tree, rounds, steps).items():
        res[c].update(opt_res)
    diff = lambda a, b: max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))  # noqa: E731
    return {
        "model": name,
        "leaves": len(jax.tree.leaves(params)),
        "params": n_params,
        "res": res,
        "diff_tree_optax": diff(trained["gdt tree"], trained["optax"]),
        "diff_flat_tree": diff(trained["gdt flat"], trained["gdt tree"]),
        "diff_fast_tree": diff(trained["gdt flat fast"], trained["gdt tree"]),
        "steps_run": rounds * steps,
    }


def report(rows: list[dict]) -> None:
    med = statistics.median
    print()
    print(
        "| model | leaves | params | contender | compile s | full step ms | optimizer ms | peak MiB "
        "| opt bytes/param (floor 32) | opt kernels |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        o = row["res"]["optax"]
        for c in CONTENDERS:
            r = row["res"][c]
            ratio = lambda k: med(o[k]) / med(r[k])  # noqa: E731
            print(
                f"| {row['model']} | {row['leaves']} | {row['params'] / 1e6:.2f}M | {c} "
                f"| {med(r['compile']):.2f} ({ratio('compile'):.2f}x) "
                f"| {med(r['step']) * 1e3:.2f} ({ratio('step'):.2f}x) "
                f"| {med(r['opt']) * 1e3:.3f} ({ratio('opt'):.2f}x) "
                f"| {r['peak']:.1f} | {r['opt_bytes']:.1f} ({32 / r['opt_bytes']:.0%}) | {r['opt_kernels']} |"
            )
    print()
    print("Ratios are optax / contender from the same run (above 1: faster than optax).")
    print(
        "opt bytes/param: XLA's cost analysis of the optimizer step; the floor for clip + AdamW is 32 "
        "(read g twice, p, mu, nu once; write p, mu, nu once), in parentheses the share of it reached."
    )
    for row in rows:
        print(
            f"{row['model']}: after {row['steps_run']} steps, max |gdt tree - optax| = {row['diff_tree_optax']:.2e}, "
            f"max |gdt flat - gdt tree| = {row['diff_flat_tree']:.2e}, "
            f"max |gdt flat fast - gdt tree| = {row['diff_fast_tree']:.2e}"
        )


def report_optimizer(model: str, n_params: int, res: dict[str, dict[str, Any]]) -> None:
    med = statistics.median
    o = res["optax"]
    print()
    print(f"Optimizer step alone, {model} ({n_params / 1e6:.2f}M params), medians over {len(o['opt'])} rounds:")
    print()
    print("| contender | wall ms | ratio | CPU ms (all threads) | ratio | bytes/param (floor 32) | kernels |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in CONTENDERS:
        r = res[c]
        print(
            f"| {c} | {med(r['opt']) * 1e3:.3f} | {med(o['opt']) / med(r['opt']):.2f}x "
            f"| {med(r['opt_cpu']) * 1e3:.3f} | {med(o['opt_cpu']) / med(r['opt_cpu']):.2f}x "
            f"| {r['opt_bytes']:.1f} | {r['opt_kernels']} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small GPT, few rounds (about a minute)")
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--models", default="gpt,mlp,cnn")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds of steps")
    ap.add_argument("--steps", type=int, default=None, help="steps per contender per round")
    ap.add_argument("--compile-rounds", type=int, default=None, help="alternating rounds of compiles")
    ap.add_argument("--opt-only", action="store_true", help="only the optimizer step, on the GPT's gradients")
    args = ap.parse_args()
    rounds, steps = (3, 3) if args.quick else (7, 5)
    rounds, steps = args.rounds or rounds, args.steps or steps
    cfg = (rounds, steps, args.compile_rounds or rounds)
    layers = args.layers or (2 if args.quick else 6)
    print(f"jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0].device_kind}, {platform.machine()}")
    rows = []
    key = jax.random.key(0)
    if args.opt_only:
        params = gpt_init(key, layers, 256, 128)
        grads = jax.grad(gpt_loss)(params, text_batches(stdlib_bytes(), 16, 128, 1)[0])
        n_params = sum(x.size for x in jax.tree.leaves(params))
        report_optimizer(f"gpt-{layers}L", n_params, bench_optimizer(params, grads, rounds, steps))
        return
    if "gpt" in args.models:
        data = stdlib_bytes()
        batches = text_batches(data, 16, 128, 8)
        d = 256
        print(f"gpt: {layers} layers, d_model {d}, context 128, batch 16, {len(data) / 1e6:.1f} MB of stdlib source")
        rows.append(bench_model(f"gpt-{layers}L", gpt_init(key, layers, d, 128), gpt_loss, batches, *cfg))
    if "mlp" in args.models:
        rows.append(bench_model("mlp", mlp_init(key), mlp_loss, image_batches((784,), 8, 128), *cfg))
    if "cnn" in args.models:
        rows.append(bench_model("cnn", cnn_init(key), cnn_loss, image_batches((28, 28, 1), 8, 64), *cfg))
    report(rows)


if __name__ == "__main__":
    main()
