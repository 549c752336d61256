"""The contrib optimizers' states keep their dtypes from step to step (docs/DIFFERENCES.md).

optax's DoG, DoWG, Prodigy, D-Adaptation and MoMo create their scalar state in
the params' least precise dtype and return it as float32 after one step, so on
a tree with a bfloat16 leaf the jitted step compiles twice and ``lax.scan``
refuses the carry. Here every state leaf keeps its ``init`` dtype, and a scan
over steps runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

PARAMS = {"w": jnp.array([[0.5, -1.0], [2.0, 0.25]], jnp.float32), "b": jnp.array([1.0, -2.0], jnp.bfloat16)}
GRADS = jax.tree.map(
    lambda p: (0.1 * jnp.arange(1, p.size + 1, dtype=jnp.float32).reshape(p.shape)).astype(p.dtype), PARAMS
)

OPTIMIZERS = {
    "dog": lambda: gdt.contrib.dog(),
    "dowg": lambda: gdt.contrib.dowg(),
    "prodigy": lambda: gdt.contrib.prodigy(),
    "dadapt_adamw": lambda: gdt.contrib.dadapt_adamw(),
    "momo": lambda: gdt.contrib.momo(),
    "momo_adam": lambda: gdt.contrib.momo_adam(),
}


def _signature(tree):
    return [(jnp.asarray(x).dtype, jnp.shape(x)) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dtypes_are_stable_and_scan_runs(name):
    opt = OPTIMIZERS[name]()
    extra = {"value": jnp.asarray(1.5, jnp.float32)} if name.startswith("momo") else {}
    state = opt.init(PARAMS)
    scalar_dtypes = {jnp.asarray(x).dtype for x in jax.tree.leaves(state) if jnp.ndim(x) == 0}
    assert jnp.dtype(jnp.bfloat16) not in scalar_dtypes, "scalar state must be float32 or wider"
    _, after = opt.update(GRADS, state, PARAMS, **extra)
    assert _signature(after) == _signature(state)

    def body(carry, _):
        params, st = carry
        updates, st = opt.update(GRADS, st, params, **extra)
        return (gdt.apply_updates(params, updates), st), None

    (params, _), _ = jax.lax.scan(body, (PARAMS, state), None, length=3)
    assert _signature(params) == _signature(PARAMS)
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(params))
    assert not np.array_equal(np.asarray(params["w"]), np.asarray(PARAMS["w"])), "three steps must move the params"
