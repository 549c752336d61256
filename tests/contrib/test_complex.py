"""split_real_and_imaginary: a complex leaf behaves as two real leaves."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_complex_leaf_equals_its_real_pair():
    z = jnp.array([3.0 - 1.0j, -2.0 + 0.5j])
    opt = gdt.contrib.split_real_and_imaginary(gdt.adam(0.1))
    real = gdt.adam(0.1)
    s, s_r = opt.init({"z": z}), real.init({"re": z.real, "im": z.imag})
    for t in range(3):
        g = z * (t + 1.0)
        u, s = opt.update({"z": g}, s)
        u_r, s_r = real.update({"re": g.real, "im": g.imag}, s_r)
        np.testing.assert_allclose(u["z"], u_r["re"] + 1j * u_r["im"], rtol=1e-6)
    assert u["z"].dtype == jnp.complex64


def test_real_leaves_pass_through_and_first_adam_step_is_the_sign():
    opt = gdt.contrib.split_real_and_imaginary(gdt.scale_by_adam(eps=1e-30))
    tree = {"z": jnp.array([2.0 - 3.0j]), "r": jnp.array([-4.0])}
    u, _ = opt.update(tree, opt.init(tree))
    # 1 - b2 rounds in float32: nu_hat = g^2 (1 + 7e-6).
    np.testing.assert_allclose(u["z"], [1.0 - 1.0j], rtol=1e-5)
    np.testing.assert_allclose(u["r"], [-1.0], rtol=1e-5)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_bit_identical_under_inject_hyperparams(jit):
    def make(learning_rate):
        return gdt.contrib.split_real_and_imaginary(gdt.adam(learning_rate))

    z = {"z": jnp.array([1.0 + 2.0j, -0.5j])}
    runs = []
    for opt in (make(0.05), gdt.inject_hyperparams(make)(learning_rate=0.05)):
        update = jax.jit(opt.update) if jit else opt.update
        p, s, out = z, opt.init(z), []
        for _ in range(20):
            u, s = update(jax.tree.map(jnp.conj, p), s, p)
            p = gdt.apply_updates(p, u)
            out.append((u, p))
        runs.append(out)
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1])):
        assert jnp.array_equal(a, b)
