"""gdt.shampoo against optax-shampoo's ``distributed_shampoo`` (0.0.6, from the package index).

20 jitted steps on a blocked 8x12 matrix (six 4x4 blocks), a vector of 8 (two
blocks) and a scalar (graft only), RMSProp grafting, Nesterov momentum,
weight decay, preconditioning from step 3 with roots every 2 steps: the
params and updates agree to float32 rounding at every step. Every statistic
is 4x4, so the reference pads none of them and both compute the same
products. More configurations (SGD and AdaGrad grafts, merged dimensions,
uneven blocks): ``benchmarks/check_shampoo_reference.py``.

optax-shampoo 0.0.6 predates jax 0.5. Two shims, here only (nothing patched in
site-packages): ``jax.tree_map``/``tree_flatten``/``tree_unflatten`` (removed
from jax) point at ``jax.tree.*``, and the module's ``lax.while_loop`` casts
the initial carry to the body's dtypes (the reference starts a float slot
with ``True``, which jax now rejects).
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import gdtransforms as gdt

for _old, _new in [
    ("tree_map", jax.tree.map),
    ("tree_flatten", jax.tree.flatten),
    ("tree_unflatten", jax.tree.unflatten),
]:
    if not hasattr(jax, _old):
        setattr(jax, _old, _new)

ds = pytest.importorskip("optax_shampoo.distributed_shampoo")
# The reference asks for float64 roots, which jax without x64 truncates to float32 (as here).
pytestmark = pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")


def _while_loop(cond, body, init):
    out = jax.eval_shape(body, init)
    return lax.while_loop(cond, body, jax.tree.map(lambda x, o: jnp.asarray(x, o.dtype), init, out))


ds.lax = types.SimpleNamespace(**{k: getattr(lax, k) for k in dir(lax) if not k.startswith("__")})
ds.lax.while_loop = _while_loop

STEPS = 20
KW = dict(
    best_effort_shape_interpretation=False,
    block_size=4,
    beta1=0.9,
    beta2=0.95,
    start_preconditioning_step=3,
    preconditioning_compute_steps=2,
    weight_decay=0.01,
    nesterov=True,
    moving_average_for_momentum=False,
)


def _grads_at(p, t):
    return jax.tree.map(lambda x: jnp.sin(3 * x + 0.3 * t) + 0.05 * x**2, p)


def _run(opt, params):
    update = jax.jit(opt.update)
    p, s, out = params, opt.init(params), []
    for t in range(STEPS):
        u, s = update(_grads_at(p, t), s, p)
        p = gdt.apply_updates(p, u)
        out.append((u, p))
    return out


def test_same_iterates_as_distributed_shampoo():
    rng = np.random.default_rng(0)
    params = {
        "w": jnp.asarray(rng.standard_normal((8, 12)), jnp.float32),
        "b": jnp.asarray(rng.standard_normal(8), jnp.float32),
        "s": jnp.float32(0.5),
    }
    with jax.numpy_rank_promotion("allow"):  # the reference broadcasts (n, n) with (n,)
        ref = _run(ds.distributed_shampoo(0.1, graft_type=ds.GraftingType.RMSPROP, **KW), params)
    mine = _run(gdt.shampoo(0.1, graft_type="rmsprop", **KW), params)
    for t, (expected, actual) in enumerate(zip(ref, mine)):
        for x, y in zip(jax.tree.leaves(expected), jax.tree.leaves(actual)):
            x, y = np.asarray(x), np.asarray(y)
            scale = np.max(np.abs(x))  # tolerance relative to each step's values
            np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-5 * scale, err_msg=f"step {t}")
