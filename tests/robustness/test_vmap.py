"""``update`` under ``jax.vmap`` over a batch of independent models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

MODELS = 3
STEPS = 2


def batched_params():
    """MODELS independent models stacked on a leading axis: nested dict/list/
    tuple tree with float32 leaves, a bfloat16 leaf and a (per model) scalar."""
    rng = np.random.default_rng(0)
    normal = lambda *shape: rng.standard_normal((MODELS, *shape)).astype(np.float32)
    return {
        "dense": [jnp.asarray(normal(2, 3)), (jnp.asarray(normal(3)),)],
        "emb": jnp.asarray(normal(4), jnp.bfloat16),
        "scale": jnp.asarray(normal()),
    }


def grads_at(params, t):
    # Different per model and per step, so a mixed-up batch shows.
    return jax.tree.map(lambda p: (jnp.cos(p.astype(jnp.float32) * (t + 1.0)) * 3.0).astype(p.dtype), params)


OPTIMIZERS = {
    "adam": lambda: gdt.adam(0.1, mu_dtype=jnp.float32),
    "sgd_momentum": lambda: gdt.sgd(0.1, momentum=0.9),
    # Global and per-leaf norms must be each model's own, not the batch's.
    "clip_lamb": lambda: gdt.chain(gdt.clip_by_global_norm(1.0), gdt.lamb(0.05)),
}


def model(tree, i):
    return jax.tree.map(lambda x: np.asarray(x)[i], tree)  # numpy: no eager jax op


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_vmapped_update_equals_each_model_alone(name):
    opt = OPTIMIZERS[name]()

    def step(params, state, t):
        updates, state = opt.update(grads_at(params, t), state, params)
        return gdt.apply_updates(params, updates), state

    @jax.jit
    def run_batched(params):
        state = jax.vmap(opt.init)(params)
        for t in range(STEPS):
            params, state = jax.vmap(step, in_axes=(0, 0, None))(params, state, t)
        return params, state

    @jax.jit
    def run_alone(params):
        state = opt.init(params)
        for t in range(STEPS):
            params, state = step(params, state, t)
        return params, state

    params = batched_params()
    batched = run_batched(params)
    counts = [leaf for leaf in jax.tree.leaves(batched[1]) if leaf.dtype == jnp.int32]
    assert counts or name == "sgd_momentum"
    assert all(c.shape == (MODELS,) and (np.asarray(c) == STEPS).all() for c in counts)
    for i in range(MODELS):
        alone = run_alone(model(params, i))
        for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(model(batched, i))[0], jax.tree.leaves(alone)):
            assert a.dtype == b.dtype, path
            np.testing.assert_allclose(
                np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=1e-6, atol=1e-7, err_msg=f"model {i} {path}"
            )


def test_vmap_over_hyperparameters():
    """A batch of learning rates (traced inside vmap) trains a batch of models."""
    lrs = jnp.array([0.01, 0.1, 0.3])
    params = batched_params()

    def train(lr, params):
        opt = gdt.adam(lr)
        state = opt.init(params)
        for t in range(STEPS):
            updates, state = opt.update(grads_at(params, t), state, params)
            params = gdt.apply_updates(params, updates)
        return params

    batched = jax.jit(jax.vmap(train))(lrs, params)
    train_alone = jax.jit(train)
    for i, lr in enumerate(lrs):
        alone = train_alone(lr, model(params, i))
        for a, b in zip(jax.tree.leaves(model(batched, i)), jax.tree.leaves(alone)):
            np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=1e-5, atol=1e-6)
    # Different rates really moved the models differently.
    moved = np.abs(np.asarray(batched["dense"][0]) - np.asarray(params["dense"][0])).max(axis=(1, 2))
    assert moved[0] < moved[1] < moved[2]
