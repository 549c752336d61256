"""The flat path has no silent traps: masks see leaves or fail loudly, state is filtered by name."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests._trees import assert_trees_close, gradient_sequence, nested_params

PARAMS = nested_params()
GRADS = gradient_sequence(PARAMS, 3)


def decay_matrices(p):
    return jax.tree.map(lambda x: x.ndim > 1, p)


def run(tx, params, grads):
    step = jax.jit(lambda p, s, g: (lambda u, s: (gdt.apply_updates(p, u), s))(*tx.update(g, s, p)))
    convert = params.layout.flatten if gdt.is_flat(params) else (lambda t: t)
    state = tx.init(params)
    for g in grads:
        params, state = step(params, state, convert(g))
    return params


# -- Masks and labels ----------------------------------------------------------


@pytest.mark.parametrize("chain", [gdt.chain, optax.chain], ids=["gdt.chain", "optax.chain"])
def test_optax_mask_function_on_buffers_raises_instead_of_selecting_nothing(chain):
    """optax's mask function would see 1-D buffers (``ndim > 1`` is False for all):
    no weight decay at all, silently. It must fail, naming the way out."""
    flat = gdt.flatten_params(PARAMS, groups=decay_matrices)
    tx = chain(optax.clip_by_global_norm(1.0), optax.adamw(0.1, weight_decay=0.5, mask=decay_matrices))
    with pytest.raises(TypeError, match=r"sees the 1-D buffers .*layout\.mask\(fn\)"):
        tx.init(flat)
    path_mask = lambda p: jax.tree_util.tree_map_with_path(lambda k, x: "b" not in str(k), p)  # noqa: E731
    with pytest.raises(TypeError, match="per-buffer bools"):
        optax.adamw(0.1, mask=path_mask).init(flat)
    with pytest.raises(TypeError, match=r"per-buffer labels.*gdt\.partition"):
        optax.multi_transform(
            {"a": optax.sgd(0.1), "b": optax.adam(0.1)}, lambda p: jax.tree.map(lambda _: "a", p)
        ).init(flat)


@pytest.mark.parametrize("chain", [gdt.chain, optax.chain], ids=["gdt.chain", "optax.chain"])
def test_optax_mask_built_from_the_leaves_decays_the_right_buffers(chain):
    flat = gdt.flatten_params(PARAMS, groups=decay_matrices)
    mask = flat.layout.mask(decay_matrices)
    assert mask.buffers == (False, True, False)

    def make(m):
        return chain(optax.clip_by_global_norm(1.0), optax.adamw(0.1, weight_decay=0.5, mask=m))

    tree = run(make(decay_matrices), PARAMS, GRADS)
    got = run(make(mask), flat, GRADS).unflatten()
    assert_trees_close(got, tree)
    no_decay = run(make(False), PARAMS, GRADS)
    assert not np.allclose(tree["dense"]["w"], no_decay["dense"]["w"])  # The decay did act.
    np.testing.assert_array_equal(tree["dense"]["b"], no_decay["dense"]["b"])


@pytest.mark.parametrize(
    "make", [lambda m: gdt.adamw(0.1, weight_decay=0.5, mask=m), lambda m: gdt.masked(gdt.scale(-2.0), m)]
)
def test_gdt_mask_functions_see_the_leaves_in_any_chain(make):
    flat = gdt.flatten_params(PARAMS, groups=decay_matrices)
    for chain in (gdt.chain, optax.chain):
        tx = chain(optax.scale(1.0), make(decay_matrices))
        assert_trees_close(run(tx, flat, GRADS).unflatten(), run(tx, PARAMS, GRADS))


def test_gdt_mask_that_splits_a_buffer_raises():
    flat = gdt.flatten_params(PARAMS)  # One float32 buffer: matrices and vectors together.
    with pytest.raises(ValueError, match=r"buffer 'float32' mixes .*\['dense'\]\['b'\].*groups="):
        gdt.chain(gdt.adamw(0.1, mask=decay_matrices)).init(flat)


# -- Non-array state -----------------------------------------------------------


@pytest.mark.parametrize(
    "leaf, match",
    [
        (jax.random.key(0), r"leaf at \['rng'\]\['key'\] is a key<fry> array"),
        (jax.random.PRNGKey(0), r"leaf at \['rng'\]\['key'\] has dtype uint32"),
        (jnp.zeros((), jnp.int32), r"leaf at \['rng'\]\['key'\] has dtype int32"),
        (jnp.sin, r"leaf at \['rng'\]\['key'\] is a"),
    ],
    ids=["typed_key", "raw_key", "int_counter", "function"],
)
def test_flatten_params_names_the_non_parameter_leaf_and_how_to_filter(leaf, match):
    with pytest.raises(TypeError, match=match) as info:
        gdt.flatten_params({"w": jnp.ones(2), "rng": {"key": leaf}})
    assert "nnx.split(model, nnx.Param" in str(info.value) and "eqx.partition(model, eqx.is_inexact_array)" in str(
        info.value
    )
    assert "'int32']" not in str(info.value) and "['float32']" not in str(info.value)  # The leaf, not the buffer.


# -- flax.nnx and equinox recipes ------------------------------------------------


def mse(pred, y):
    return jnp.mean((pred - y) ** 2)


X = jax.random.normal(jax.random.key(1), (8, 3))
Y = jax.random.normal(jax.random.key(2), (8, 2))


def test_nnx_recipe_split_params_from_rng_state():
    nnx = pytest.importorskip("flax.nnx")

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(3, 4, rngs=rngs)
            self.drop = nnx.Dropout(0.1, rngs=rngs)
            self.l2 = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, x):
            return self.l2(self.drop(jax.nn.relu(self.l1(x)), deterministic=True))

    model = Model(nnx.Rngs(0))
    with pytest.raises(TypeError, match=r"leaf at \['drop'\]\['rngs'\].*nnx\.split\(model, nnx\.Param"):
        gdt.flatten_params(nnx.split(model)[1])  # Unfiltered: dropout RNG state too.
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss_fn(p, x, y):
        return mse(nnx.merge(graphdef, p, rest)(x), y)

    opt = gdt.adamw(0.01, weight_decay=0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
    results = []
    for start in (params, gdt.flatten_params(params, groups=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))):
        step = gdt.make_train_step(loss_fn, opt, donate=False)
        p, s = start, opt.init(start)
        for _ in range(3):
            p, s, loss = step(p, s, X, Y)
        results.append(p.unflatten() if gdt.is_flat(p) else p)
    assert_trees_close(results[1], results[0])
    nnx.update(model, results[1])  # Back into the module.
    np.testing.assert_array_equal(model.l1.kernel[...], results[0]["l1"]["kernel"][...])


def test_equinox_recipe_partition_inexact_arrays():
    eqx = pytest.importorskip("equinox")
    model = eqx.nn.MLP(3, 2, 4, 2, key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"leaf at .*activation is a .*eqx\.partition"):
        gdt.flatten_params(model)  # Unfiltered: the activation functions are leaves too.
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def loss_fn(p, x, y):
        return mse(jax.vmap(eqx.combine(p, static))(x), y)

    opt = gdt.adam(0.01)
    results = []
    for start in (params, gdt.flatten_params(params)):
        step = gdt.make_train_step(loss_fn, opt, donate=False)
        p, s = start, opt.init(start)
        for _ in range(3):
            p, s, loss = step(p, s, X, Y)
        results.append(p.unflatten() if gdt.is_flat(p) else p)
    assert_trees_close(results[1], results[0])
    trained = eqx.combine(results[1], static)
    assert trained(X[0]).shape == (2,)
