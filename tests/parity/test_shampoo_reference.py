"""gdt.shampoo against optax-shampoo's ``distributed_shampoo`` (0.0.6, from the package index).

20 jitted steps on a blocked 8x12 matrix (six 4x4 blocks), a vector of 8 (two
blocks) and a scalar (graft only), RMSProp grafting, Nesterov momentum,
weight decay, preconditioning from step 3 with roots every 2 steps: the
params and updates agree to float32 rounding at every step. Every statistic
is 4x4, so the reference pads none of them and both compute the same
products. More configurations (SGD and AdaGrad grafts, merged dimensions,
uneven blocks): ``benchmarks/check_shampoo_reference.py``.

The shims that let the reference run on today's jax: ``tests/parity/_shampoo_reference.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from tests.parity import _shampoo_reference as shared

shared.shim_jax()
ds = shared.patch_reference(pytest.importorskip("optax_shampoo.distributed_shampoo"))
# The reference asks for float64 roots, which jax without x64 truncates to float32 (as here).
pytestmark = pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")

KW = dict(best_effort_shape_interpretation=False, **shared.COMMON)


def test_same_iterates_as_distributed_shampoo():
    rng = np.random.default_rng(0)
    params = {
        "w": jnp.asarray(rng.standard_normal((8, 12)), jnp.float32),
        "b": jnp.asarray(rng.standard_normal(8), jnp.float32),
        "s": jnp.float32(0.5),
    }
    with jax.numpy_rank_promotion("allow"):  # the reference broadcasts (n, n) with (n,)
        ref = shared.run(ds.distributed_shampoo(0.1, graft_type=ds.GraftingType.RMSPROP, **KW), params)
    mine = shared.run(gdt.shampoo(0.1, graft_type="rmsprop", **KW), params)
    for t, (expected, actual) in enumerate(zip(ref, mine)):
        for x, y in zip(jax.tree.leaves(expected), jax.tree.leaves(actual)):
            x, y = np.asarray(x), np.asarray(y)
            scale = np.max(np.abs(x))  # tolerance relative to each step's values
            np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-5 * scale, err_msg=f"step {t}")
