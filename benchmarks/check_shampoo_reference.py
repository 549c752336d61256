"""gdt.shampoo against optax-shampoo's ``distributed_shampoo`` (0.0.6): 20 steps, same iterates.

Run: ``pip install --no-deps optax-shampoo==0.0.6`` (it declares no dependencies,
so jax/optax/numpy stay as they are), then
``PYTHONPATH=. python benchmarks/check_shampoo_reference.py``.

The ``exact`` configuration with the RMSProp graft is also a test
(tests/parity/test_shampoo_reference.py); the others stay here, as compiling
the reference takes several seconds per configuration.

The shims that let the reference run on today's jax, the shared settings and
the loop: ``tests/parity/_shampoo_reference.py``.

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

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gdtransforms as gdt  # noqa: E402
from tests.parity import _shampoo_reference as shared  # noqa: E402

shared.shim_jax()

from optax_shampoo import distributed_shampoo as ds  # noqa: E402

shared.patch_reference(ds)

STEPS = shared.STEPS
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
COMMON = shared.COMMON


def run(opt, params):
    return [p for _, p in shared.run(opt, params)]


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
