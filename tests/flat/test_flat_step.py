"""make_train_step on FlatParams: gradients with respect to the leaf views, packed into buffers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from gdtransforms._flat._flat_step import _flat_value_and_grad

X = jnp.linspace(-1.0, 1.0, 24).reshape(6, 4)
Y = jnp.sin(jnp.arange(6.0))


def params():
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    return {
        "w": jax.random.normal(k1, (4, 8)),
        "b": jnp.zeros(8),
        "v": jax.random.normal(k2, (8,)).astype(jnp.bfloat16),
        "ln": {"scale": jnp.ones(8), "bias": 0.1 * jax.random.normal(k3, (8,))},
        "t": jnp.asarray(0.5),
    }


def loss_with_aux(p, x, y):
    h = jnp.tanh(x @ p["w"] + p["b"][None, :])
    mu = h.mean(-1, keepdims=True)
    h = (h - mu) * jax.lax.rsqrt(((h - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
    h = h * p["ln"]["scale"][None, :] + p["ln"]["bias"][None, :]
    pred = h @ p["v"].astype(jnp.float32) * p["t"]
    return jnp.mean((pred - y) ** 2), {"pred": pred}


def run(start, steps=3):
    opt = gdt.chain(gdt.clip_by_global_norm(1.0), gdt.adamw(0.05, weight_decay=0.1))
    step = gdt.make_train_step(loss_with_aux, opt, has_aux=True, donate=False)
    p, s = start, opt.init(start)
    out = []
    for _ in range(steps):
        p, s, loss, aux = step(p, s, X, Y)
        out.append((p.unflatten() if gdt.is_flat(p) else p, loss, aux))
    return out


def test_flat_step_equals_tree_step_bit_for_bit_with_aux_and_two_dtypes():
    tree = run(params())
    flat = run(gdt.flatten_params(params()))
    for t, ((fp, fl, fa), (tp, tl, ta)) in enumerate(zip(flat, tree)):
        assert fp["v"].dtype == jnp.bfloat16
        np.testing.assert_array_equal(fl, tl, err_msg=f"loss, step {t}")
        np.testing.assert_array_equal(fa["pred"], ta["pred"], err_msg=f"aux, step {t}")
        for a, e in zip(jax.tree.leaves(fp), jax.tree.leaves(tp)):
            np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(e, np.float32), err_msg=f"step {t}")
    # The steps did move the params (a step that changed nothing would also match).
    assert not np.array_equal(flat[-1][0]["w"], params()["w"])


def test_flat_gradients_are_the_tree_gradients_packed():
    start = gdt.flatten_params(params())
    loss_fn = lambda p: loss_with_aux(p, X, Y)[0]  # noqa: E731
    loss, grads, aux = jax.jit(lambda f: _flat_value_and_grad(loss_fn, f, False))(start)
    tree_loss, tree_grads = jax.jit(jax.value_and_grad(loss_fn))(params())
    assert gdt.is_flat(grads) and grads.layout == start.layout and aux is None
    np.testing.assert_array_equal(loss, tree_loss)
    for a, e in zip(grads.buffers, start.layout.flatten(tree_grads).buffers):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(e, np.float32))


@pytest.mark.parametrize("bad", [lambda p, x, y: jnp.ones(2) * p["t"], lambda p, x, y: jnp.int32(1)])
def test_flat_step_refuses_a_non_scalar_or_integer_loss(bad):
    opt = gdt.sgd(0.1)
    start = gdt.flatten_params(params())
    with pytest.raises(TypeError, match="real floating-point scalar"):
        gdt.make_train_step(bad, opt, donate=False)(start, opt.init(start), X, Y)
