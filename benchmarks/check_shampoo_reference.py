"""gdt.shampoo against optax-shampoo's ``distributed_shampoo`` (0.0.6): 20 steps, same iterates.

Run: ``pip install --no-deps optax-shampoo==0.0.6`` (it declares no dependencies,
so jax/optax/numpy stay as they are), then
``PYTHONPATH=. python benchmarks/check_shampoo_reference.py``.

The ``exact`` configuration with the RMSProp graft is also a test
(tests/parity/test_shampoo_reference.py); the others stay here, as compiling
the reference takes several seconds per configuration.

optax-shampoo 0.0.6 predates jax 0.5; two shims here, nothing patched in
site-packages: ``jax.tree_map``/``tree_flatten``/``tree_unflatten`` (removed
from jax) point at ``jax.tree.*``, and the module's ``lax.while_loop`` casts the
initial carry to the body's dtypes (the reference starts a float slot with
``True``, which jax now rejects).

Configurations:
- ``exact``: a 8x12 matrix (block 4: six 4x4 blocks), a vector of 8 (two
  blocks) and a scalar (graft only). Every statistic is 4x4, so the reference
  pads none of them and both compute the same products: iterates agree to
  float32 rounding (asserted < 1e-5).
- ``merged``: a 10x6 matrix, a vector of 8 and a 3x2x4 tensor with the
  small-dimension merging on (they become vectors of 60, 8 and 24: blocks of
  4 only, so again no padding): the stacks of 15 and 6 blocks are fused
  differently, 5e-5 after 20 steps (asserted < 2e-4).
- ``uneven``: a 10x6 matrix, a vector of 7 and a 3x2x5 tensor, merged (blocks
  of 4, 3 and 2). The reference pads
  every statistic to the largest one before its vmapped root, which changes the
  rounding of the ill-conditioned roots (condition ~1e6); the difference is
  reported, not asserted.
"""

from __future__ import annotations

import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

import gdtransforms as gdt

for _old, _new in [
    ("tree_map", jax.tree.map),
    ("tree_flatten", jax.tree.flatten),
    ("tree_unflatten", jax.tree.unflatten),
]:
    if not hasattr(jax, _old):
        setattr(jax, _old, _new)

from optax_shampoo import distributed_shampoo as ds  # noqa: E402


def _while_loop(cond, body, init):
    out = jax.eval_shape(body, init)
    return lax.while_loop(cond, body, jax.tree.map(lambda x, o: jnp.asarray(x, o.dtype), init, out))


ds.lax = types.SimpleNamespace(**{k: getattr(lax, k) for k in dir(lax) if not k.startswith("__")})
ds.lax.while_loop = _while_loop

STEPS = 20
rng = np.random.default_rng(0)
PROBLEMS = {
    "exact": (
        {"w": rng.standard_normal((8, 12)), "b": rng.standard_normal(8), "s": np.float64(0.5)},
        dict(best_effort_shape_interpretation=False),
    ),
    "merged": (
        {"w": rng.standard_normal((10, 6)), "b": rng.standard_normal(8), "t": rng.standard_normal((3, 2, 4))},
        dict(best_effort_shape_interpretation=True),
    ),
    "uneven": (
        {"w": rng.standard_normal((10, 6)), "b": rng.standard_normal(7), "t": rng.standard_normal((3, 2, 5))},
        dict(best_effort_shape_interpretation=True),
    ),
}
LIMITS = {"exact": 1e-5, "merged": 2e-4}  # "uneven" is reported only
COMMON = dict(
    block_size=4,
    beta1=0.9,
    beta2=0.95,
    start_preconditioning_step=3,
    preconditioning_compute_steps=2,
    weight_decay=0.01,
    nesterov=True,
    moving_average_for_momentum=False,
)


def grads_at(p, t):
    return jax.tree.map(lambda x: jnp.sin(3 * x + 0.3 * t) + 0.05 * x**2, p)


def run(opt, params):
    update = jax.jit(opt.update)
    p, s, out = params, opt.init(params), []
    for t in range(STEPS):
        u, s = update(grads_at(p, t), s, p)
        p = optax.apply_updates(p, u)
        out.append(p)
    return out


def main() -> None:
    print(f"| problem | graft | max rel. diff of params over {STEPS} steps | compile+run ref (s) | gdt (s) |")
    print("|---|---|---|---|---|")
    for name, (raw, extra) in PROBLEMS.items():
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), raw)
        grafts = ["RMSPROP", "SGD", "ADAGRAD"] if name == "exact" else ["RMSPROP"]
        for graft in grafts:
            kw = {**COMMON, **extra}
            ref = ds.distributed_shampoo(0.1, graft_type=getattr(ds.GraftingType, graft), **kw)
            mine = gdt.shampoo(0.1, graft_type=graft.lower(), **kw)
            t0 = time.perf_counter()
            a = run(ref, params)
            t1 = time.perf_counter()
            b = run(mine, params)
            t2 = time.perf_counter()
            worst = 0.0
            for x, y in zip(a, b):
                for k in x:
                    scale = float(jnp.max(jnp.abs(x[k]))) + 1e-30
                    worst = max(worst, float(jnp.max(jnp.abs(x[k] - y[k]))) / scale)
            print(f"| {name} | {graft.lower()} | {worst:.2e} | {t1 - t0:.1f} | {t2 - t1:.1f} |")
            if name in LIMITS:
                assert worst < LIMITS[name], (name, graft, worst)
    print("ALL OK")


if __name__ == "__main__":
    main()
