"""The public moment helpers (docs/notes.md §2)."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def test_update_moment_first_and_second_order():
    g, m = {"w": jnp.array([2.0])}, {"w": jnp.array([1.0])}
    np.testing.assert_allclose(gdt.update_moment(g, m, 0.9, 1)["w"], [0.9 + 0.2])
    np.testing.assert_allclose(gdt.update_moment(g, m, 0.9, 2)["w"], [0.9 + 0.4])


def test_update_moment_per_elem_norm_uses_modulus_for_complex():
    g = jnp.array([3.0 + 4.0j])
    out = gdt.update_moment_per_elem_norm(g, jnp.zeros(1), 0.5, 2)
    np.testing.assert_allclose(out, [12.5])
    assert not jnp.iscomplexobj(out)


def test_update_infinity_moment():
    out = gdt.update_infinity_moment(jnp.array([-3.0, 0.1]), jnp.array([1.0, 10.0]), 0.5, 0.0)
    np.testing.assert_allclose(out, [3.0, 5.0])


def test_bias_correction_spec_check_value():
    """beta = 0.98, t = 2: divide by 1 - beta^2 = 0.0396."""
    np.testing.assert_allclose(gdt.bias_correction(jnp.array([0.0396]), 0.98, 2), [1.0], rtol=1e-5)


def test_bias_correction_keeps_bfloat16():
    out = gdt.bias_correction(jnp.ones(2, jnp.bfloat16), 0.999, jnp.int32(1))
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32), 1000.0, rtol=1e-2)
