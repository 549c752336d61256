"""Micro-batched evaluation by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

mb = gdt.microbatching


def test_reshape_batch_axis_is_column_major():
    x = jnp.arange(6)
    np.testing.assert_array_equal(mb.reshape_batch_axis(x, 2), [[0, 3], [1, 4], [2, 5]])


def test_sum_mean_and_concat():
    f = lambda x: (2 * x, jnp.sum(x))  # noqa: E731
    data = jnp.arange(6.0)
    doubled, total = gdt.microbatch(f, 0, 2, (mb.AccumulationType.CONCAT, mb.AccumulationType.SUM))(data)
    np.testing.assert_array_equal(doubled, 2 * data)
    assert float(total) == 15.0
    mean = gdt.microbatch(lambda x: jnp.sum(x), 0, 3, mb.AccumulationType.MEAN)(data)
    assert float(mean) == 7.5  # (0+1+...+5) / 2 micro-batches
    assert gdt.microbatch(f, 0, None) is f


def test_early_stop_and_errors():
    count = gdt.microbatch(lambda x: jnp.ones(()), 0, 1, num_real_microbatches=2)(jnp.arange(4.0))
    assert float(count) == 2.0
    with pytest.raises(ValueError, match="divisible"):
        gdt.microbatch(jnp.sum, 0, 4)(jnp.arange(6.0))
    with pytest.raises(ValueError, match="floating"):
        gdt.microbatch(jnp.sum, 0, 2, mb.AccumulationType.MEAN)(jnp.arange(4))


def test_micro_grad_per_example():
    def loss(p, x, y):
        return 0.5 * jnp.mean((x @ p - y) ** 2)

    grads, aux = mb.micro_grad(loss, batch_argnums=(1, 2), microbatch_size=2, metrics_fn=jnp.linalg.norm)(
        jnp.zeros(1), jnp.ones((4, 1)), jnp.array([0.0, 2.0, 4.0, 6.0])
    )
    np.testing.assert_allclose(grads, [-12.0])  # per-example grads -0, -2, -4, -6, summed
    np.testing.assert_allclose(aux.metrics, [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(aux.values, [0.0, 2.0, 8.0, 18.0])
