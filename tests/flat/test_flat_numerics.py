"""The flat path agrees with the tree path bit for bit where summation order could differ."""

from __future__ import annotations

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt

# The leaves of a one-layer GPT-style decoder (embeddings, LayerNorm, attention,
# MLP; width 32). XLA reduces these leaves and their slices in the same order;
# for some other shapes it reduces a slice in another order than the
# standalone leaf, and an ulp can remain (docs: the flat path's numerics).
SHAPES = [(256, 32), (128, 32), (32,), (32,), (32, 96), (96,), (32, 32), (32,), (32, 128), (128,), (128, 32), (32,)]


def grads(seed):
    keys = jax.random.split(jax.random.key(seed), len(SHAPES))
    return {f"l{i}": jax.random.normal(k, s) * (i + 1) * 0.01 for i, (k, s) in enumerate(zip(keys, SHAPES))}


def test_global_norm_and_clip_on_buffers_equal_the_tree_bit_for_bit():
    """One sum per buffer adds in another order than leaf by leaf: the last bit
    of the norm (so of the clip factor) would differ on about half the
    gradients, and training amplifies it (1e-4 in the params after 200 steps)."""
    layout = gdt.flat_layout(grads(0))
    clip = gdt.clip_by_global_norm(0.1)
    clip_fn = jax.jit(lambda g: clip.update(g, clip.init(g))[0])
    norm_fn = jax.jit(gdt.global_norm)
    per_buffer = jax.jit(lambda f: jnp.sqrt(sum(jnp.sum(b * b) for b in f.buffers)))
    naive_differs = 0
    for seed in range(12):
        tree = grads(seed)
        flat = layout.flatten(tree)
        assert norm_fn(flat) == norm_fn(tree)
        for a, e in zip(jax.tree.leaves(clip_fn(flat).unflatten()), jax.tree.leaves(clip_fn(tree))):
            np.testing.assert_array_equal(a, e)
        naive_differs += bool(per_buffer(flat) != norm_fn(tree))
    assert naive_differs > 0  # The check can fail: a per-buffer sum does differ.


def decay_matrices(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def clip_adamw(lib, fast=False):
    sched = lib.warmup_cosine_decay_schedule(0.0, 3e-3, 2, 20, 3e-4)
    clip = lib.clip_by_global_norm(1.0, reciprocal=True) if fast else lib.clip_by_global_norm(1.0)
    return lib.chain(clip, lib.adamw(sched, weight_decay=0.1, mask=decay_matrices))


def run_opt_steps(opt, params, steps, convert):
    step = jax.jit(lambda p, s, g: (lambda u, s: (gdt.apply_updates(p, u), s))(*opt.update(g, s, p)))
    params = convert(params)
    state = opt.init(params)
    out = []
    for seed in range(steps):
        params, state = step(params, state, convert(grads(seed + 1)))
        out.append(params)
    return out


def test_clip_adamw_with_mask_flat_equals_tree_bit_for_bit_over_steps():
    """The GPT benchmark's optimizer (clip, AdamW with a schedule and a weight
    decay mask) on a layout grouped by the mask: the same bits as the tree, and
    the tree the same bits as optax, at every step (clipping and not)."""
    params = jax.tree.map(lambda g: g * 10.0, grads(0))
    layout = gdt.flat_layout(params, groups=decay_matrices)
    flat = run_opt_steps(clip_adamw(gdt), params, 4, layout.flatten)
    tree = run_opt_steps(clip_adamw(gdt), params, 4, lambda t: t)
    ref = run_opt_steps(clip_adamw(optax), params, 4, lambda t: t)
    for t, (f, p, o) in enumerate(zip(flat, tree, ref)):
        for a, e, r in zip(jax.tree.leaves(f.unflatten()), jax.tree.leaves(p), jax.tree.leaves(o)):
            np.testing.assert_array_equal(a, e, err_msg=f"flat vs tree, step {t}")
            np.testing.assert_array_equal(e, r, err_msg=f"tree vs optax, step {t}")


def test_fast_options_sum_each_buffer_and_stay_close_to_the_tree():
    """``leaf_norms=False``: one sum per buffer (another order than the tree's),
    a different, hashable layout; with the reciprocal clip, results equal to
    the exact tree path's up to float32 rounding."""
    params = jax.tree.map(lambda g: g * 10.0, grads(0))
    exact = gdt.flat_layout(params, groups=decay_matrices)
    fast = gdt.flat_layout(params, groups=decay_matrices, leaf_norms=False)
    assert exact.leaf_norms and not fast.leaf_norms
    assert fast != exact and hash(fast) != hash(exact) and "leaf_norms=False" in repr(fast)
    assert pickle.loads(pickle.dumps(fast)) == fast
    g = fast.flatten(grads(3))
    expected = jnp.sqrt(sum(jnp.sum(b * b) for b in g.buffers))
    assert jax.jit(gdt.global_norm)(g) == jax.jit(lambda f: expected)(g)
    np.testing.assert_allclose(gdt.global_norm(g), gdt.global_norm(grads(3)), rtol=1e-6)
    with pytest.raises(ValueError, match="another layout"):
        exact.unflatten(g)
    flat = run_opt_steps(clip_adamw(gdt), params, 6, fast.flatten)
    tree = run_opt_steps(clip_adamw(gdt), params, 4, lambda t: t)
    for t, (f, p) in enumerate(zip(flat, tree)):
        for a, e in zip(jax.tree.leaves(f.unflatten()), jax.tree.leaves(p)):
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-7, err_msg=f"step {t}")
