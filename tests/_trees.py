"""Trees and gradient sequences shared by the cross-check tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def nested_params() -> dict:
    """A nested tree: dict, list and tuple; float32, one bfloat16 and one scalar leaf."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)
    return {
        "dense": {"w": f32(3, 4), "b": f32(4)},
        "layers": [f32(2, 2), (jnp.asarray(rng.normal(size=3), jnp.bfloat16), jnp.float32(0.7))],
    }


def gradient_sequence(params: dict, steps: int, seed: int = 1) -> list:
    """``steps`` gradient trees of varied scale and sign, one zero step."""
    rng = np.random.default_rng(seed)
    seq = []
    for t in range(steps):
        scale = 0.0 if t == 3 else 10.0 ** rng.uniform(-2, 1)
        seq.append(jax.tree.map(lambda p: jnp.asarray(scale * rng.normal(size=np.shape(p)), p.dtype), params))
    return seq


def assert_trees_close(actual, expected, *, rtol=1e-5, atol=1e-6, bf16_tol=2e-2, check_dtypes=True, msg=""):
    """Leaf-by-leaf closeness, looser for bfloat16 leaves; structures must match."""
    a_leaves, a_def = jax.tree.flatten(actual)
    e_leaves, e_def = jax.tree.flatten(expected)
    assert a_def.num_leaves == e_def.num_leaves, f"{msg}: {a_def} vs {e_def}"
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a, e = jnp.asarray(a), jnp.asarray(e)
        if check_dtypes:
            assert a.dtype == e.dtype, f"{msg}, leaf {i}: dtype {a.dtype} != {e.dtype}"
        low = jnp.bfloat16 in (a.dtype, e.dtype)
        np.testing.assert_allclose(
            np.asarray(a, np.float32),
            np.asarray(e, np.float32),
            rtol=bf16_tol if low else rtol,
            atol=bf16_tol if low else atol,
            err_msg=f"{msg}, leaf {i}",
        )


def history(opt, params, grads, *, jit: bool):
    """One step per gradient in ``grads`` from ``opt.init(params)``: each step's ``(updates, state, params)``.

    ``opt.update`` is jitted or not; on the flat path (``params`` a ``FlatParams``) a tree gradient is
    flattened first (flat gradients are taken as they are).
    """
    update = jax.jit(opt.update) if jit else opt.update
    state, out = opt.init(params), []
    for g in grads:
        if gdt.is_flat(params) and not gdt.is_flat(g):
            g = params.layout.flatten(g)
        updates, state = update(g, state, params)
        params = gdt.apply_updates(params, updates)
        out.append((updates, state, params))
    return out


def trajectory(opt, params, grads, *, jit: bool):
    """As :func:`history`, returning ``(out, state)``: each step's ``(updates, params)`` and the last state."""
    steps = history(opt, params, grads, jit=jit)
    state = steps[-1][1] if steps else opt.init(params)
    return [(u, p) for u, _, p in steps], state


def jit_level0(fn):
    """``jax.jit(fn)`` compiled at XLA backend optimization level 0, once per argument signature.

    For cross-checks whose both sides (gdtransforms and optax) run so: LLVM's
    optimizations are most of a CPU compile's time and change at most the last
    bits of a result, while XLA's own passes (fusion, simplification, the
    arithmetic) are the same. Tests of bit-identical results keep ``jax.jit``.
    """
    jitted, compiled = jax.jit(fn), {}

    def call(*args):
        leaves, treedef = jax.tree.flatten(args)
        key = (treedef, tuple(jax.typeof(leaf) for leaf in leaves))
        if key not in compiled:
            compiled[key] = jitted.lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})
        return compiled[key](*args)

    return call
