"""flat_layout(..., blocks=True): one buffer per repeated block (a model's layers), laid out alike."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

X = jnp.linspace(-1.0, 1.0, 24).reshape(6, 4)
Y = jnp.cos(jnp.arange(6.0))


def layer(key, dtype=jnp.float32):
    k1, k2 = jax.random.split(key)
    return {
        "w": jax.random.normal(k1, (4, 4)),
        "b": 0.1 * jax.random.normal(k2, (4,)),
        "ln": {"scale": jnp.ones(4, dtype), "bias": jnp.zeros(4)},
    }


def model(layers=3):
    keys = jax.random.split(jax.random.key(3), layers + 1)
    return {
        "layers": [layer(k, jnp.bfloat16) for k in keys[1:]],
        "head": jax.random.normal(keys[0], (4,)),
        "t": jnp.asarray(0.5),
    }


def is_matrix(p):
    return jax.tree.map(lambda x: x.ndim > 1, p)


def loss_fn(p, x, y):
    for blk in p["layers"]:
        h = jnp.tanh(x @ blk["w"] + blk["b"][None, :])
        mu = h.mean(-1, keepdims=True)
        h = (h - mu) * jax.lax.rsqrt(((h - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
        x = x + h * blk["ln"]["scale"].astype(jnp.float32)[None, :] + blk["ln"]["bias"][None, :]
    return jnp.mean((x @ p["head"] * p["t"] - y) ** 2)


def test_each_layer_gets_its_own_buffers_with_the_same_offsets():
    params = model()
    layout = gdt.flat_layout(params, groups=is_matrix, blocks=True)
    per_layer = ("False:float32", "False:bfloat16", "True:float32")
    assert layout.group_keys == ("False:float32",) + tuple(f"['layers'][{i}]:{k}" for i in range(3) for k in per_layer)
    by_path = {s.path: s for s in layout.slots}
    for i in (1, 2):
        for leaf in ("['w']", "['b']", "['ln']['scale']", "['ln']['bias']"):
            mine, first = by_path[f"['layers'][{i}]{leaf}"], by_path[f"['layers'][0]{leaf}"]
            where = lambda s: (s.offset, s.size, s.shape, s.dtype)  # noqa: E731
            assert where(mine) == where(first)
            assert layout.group_keys[mine.group] == layout.group_keys[first.group].replace("[0]", f"[{i}]")
    # The leaves outside the layers share the buffer of their (label, dtype).
    assert by_path["['head']"].group == by_path["['t']"].group == 0
    assert layout.group_sizes[:4] == (5, 4 + 4, 4, 16)
    flat = layout.flatten(params)
    for a, e in zip(jax.tree.leaves(flat.unflatten()), jax.tree.leaves(params)):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(e, np.float32))


def test_without_groups_a_block_has_one_buffer_per_dtype():
    layout = gdt.flat_layout(model(2), blocks=True)
    assert layout.group_keys == (
        "float32",
        "['layers'][0]:float32",
        "['layers'][0]:bfloat16",
        "['layers'][1]:float32",
        "['layers'][1]:bfloat16",
    )
    assert gdt.flat_layout(model(2)).group_keys == ("float32", "bfloat16")


def ones(*shape):
    return jnp.ones(shape)


@pytest.mark.parametrize(
    ("tree", "keys"),
    [
        # A shape differs: the two subtrees are not repeats of one block.
        ({"a": {"w": ones(2, 3), "b": ones(3)}, "c": {"w": ones(2, 4), "b": ones(3)}}, ("float32",)),
        # Single leaves are not blocks, even when they repeat.
        ({"a": [ones(2), ones(2)], "b": ones(3)}, ("float32",)),
        # Sibling subtrees with the same structure are blocks, whatever their keys.
        (
            {"enc": {"w": ones(2), "b": ones(2)}, "dec": {"w": ones(2), "b": ones(2)}, "x": ones(1)},
            ("['dec']:float32", "['enc']:float32", "float32"),
        ),
        # Repeats inside a repeated block stay in the outer block's buffer.
        (
            {"l": [{"h": [{"q": ones(2), "k": ones(2)}] * 2}, {"h": [{"q": ones(2), "k": ones(2)}] * 2}]},
            ("['l'][0]:float32", "['l'][1]:float32"),
        ),
    ],
)
def test_what_counts_as_a_repeated_block(tree, keys):
    assert gdt.flat_layout(tree, blocks=True).group_keys == keys


def test_train_step_with_block_buffers_equals_the_tree_step_bit_for_bit():
    opt = gdt.chain(gdt.clip_by_global_norm(1.0), gdt.adamw(0.05, weight_decay=0.1, mask=is_matrix))
    step = gdt.make_train_step(loss_fn, opt, donate=False)
    tree, flat = model(), gdt.flatten_params(model(), groups=is_matrix, blocks=True)
    tree_state, flat_state = opt.init(tree), opt.init(flat)
    for t in range(3):
        tree, tree_state, tree_loss = step(tree, tree_state, X, Y)
        flat, flat_state, flat_loss = step(flat, flat_state, X, Y)
        np.testing.assert_array_equal(flat_loss, tree_loss, err_msg=f"loss, step {t}")
        for a, e in zip(jax.tree.leaves(flat.unflatten()), jax.tree.leaves(tree)):
            assert a.dtype == e.dtype
            np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(e, np.float32), err_msg=f"step {t}")
    # The steps moved every layer (a step that changed nothing would also match).
    for i in range(3):
        assert not np.array_equal(tree["layers"][i]["w"], model()["layers"][i]["w"])


@pytest.mark.parametrize("bad", [1, "yes", None, jnp.asarray(True)])
def test_blocks_must_be_a_python_bool(bad):
    with pytest.raises(TypeError, match=r"flat_layout: `blocks` must be True or False"):
        gdt.flatten_params(model(1), blocks=bad)
