"""Mini-batches (docs/notes.md §1): the iterator, the jit form, the advice."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

M = 10
X = np.arange(M * 3, dtype=np.float32).reshape(M, 3)
Y = np.arange(M, dtype=np.int32)


def _rows(batches):
    return [b[1].tolist() for b in batches]


def test_each_epoch_is_a_permutation_and_the_last_batch_is_kept():
    batches = list(gdt.toolkit.minibatches((X, Y), 4, key=jax.random.key(0), num_epochs=2))
    assert [len(b[1]) for b in batches] == [4, 4, 2, 4, 4, 2]
    first, second = sum(_rows(batches[:3]), []), sum(_rows(batches[3:]), [])
    assert sorted(first) == sorted(second) == list(range(M))
    assert first != second  # reshuffled every epoch
    for x, y in batches:  # rows stay paired
        np.testing.assert_array_equal(x, X[y])


def test_epochs_follow_fold_in_of_the_key_and_are_reproducible():
    key = jax.random.key(3)
    a = _rows(gdt.toolkit.minibatches((X, Y), 3, key=key, num_epochs=3))
    b = _rows(gdt.toolkit.minibatches((X, Y), 3, key=key, num_epochs=3))
    assert a == b
    epoch2 = np.asarray(jax.random.permutation(jax.random.fold_in(key, 2), M))
    assert sum(a[8:], []) == epoch2.tolist()


def test_drop_last_and_no_shuffle():
    batches = _rows(gdt.toolkit.minibatches((X, Y), 4, key=None, drop_last=True))
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_batch_size_m_is_batch_gd_and_1_is_sgd():
    (full,) = list(gdt.toolkit.minibatches((X, Y), M, key=jax.random.key(0)))
    assert sorted(full[1].tolist()) == list(range(M)) and full[0].shape == (M, 3)
    single = list(gdt.toolkit.minibatches((X, Y), 1, key=jax.random.key(0)))
    assert len(single) == M and all(b[0].shape == (1, 3) for b in single)


def test_any_tree_of_arrays_and_numpy_stays_numpy():
    data = {"x": X, "y": {"label": Y}}
    (batch,) = list(gdt.toolkit.minibatches(data, M, key=None))
    assert isinstance(batch["x"], np.ndarray)
    np.testing.assert_array_equal(batch["y"]["label"], Y)
    (batch,) = list(gdt.toolkit.minibatches((jnp.asarray(X),), M, key=None))
    assert isinstance(batch[0], jax.Array)


def test_epoch_indices_under_jit_with_a_traced_key():
    plan = jax.jit(lambda k: gdt.toolkit.epoch_indices(k, M, 4))(jax.random.key(1))
    assert plan.indices.shape == (2, 4) and plan.indices.dtype == jnp.int32
    assert bool(plan.mask.all())
    perm = np.asarray(jax.random.permutation(jax.random.key(1), M))
    np.testing.assert_array_equal(np.asarray(plan.indices).ravel(), perm[:8])


def test_epoch_indices_keeps_a_padded_masked_last_batch():
    plan = gdt.toolkit.epoch_indices(None, M, 4, drop_last=False)
    np.testing.assert_array_equal(plan.indices, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]])
    np.testing.assert_array_equal(plan.mask[2], [True, True, False, False])
    batches = gdt.toolkit.gather_batches((X, Y), plan.indices)
    assert batches[0].shape == (3, 4, 3) and batches[1].shape == (3, 4)


def _mse(w, batch, mask):
    x, y = batch
    err = (x @ w - y.astype(jnp.float32)) ** 2
    return jnp.sum(mask * err) / jnp.sum(mask)


@pytest.mark.parametrize("drop_last", [True, False])
def test_scan_epoch_equals_a_python_loop_over_minibatches(drop_last):
    opt = gdt.sgd(0.01)
    w0 = jnp.zeros(3)
    key = jax.random.fold_in(jax.random.key(5), 0)

    def step(carry, batch, mask):
        w, state = carry
        loss, g = jax.value_and_grad(_mse)(w, batch, mask)
        updates, state = opt.update(g, state, w)
        return (gdt.apply_updates(w, updates), state), loss

    (w_scan, _), losses = jax.jit(lambda c: gdt.toolkit.scan_epoch(step, c, (X, Y), 4, key=key, drop_last=drop_last))(
        (w0, opt.init(w0))
    )

    w, state = w0, opt.init(w0)
    loop_losses = []
    for x, y in gdt.toolkit.minibatches((X, Y), 4, key=jax.random.key(5), drop_last=drop_last):
        loss, g = jax.value_and_grad(_mse)(w, (x, y), jnp.ones(len(y)))
        updates, state = opt.update(g, state, w)
        w = gdt.apply_updates(w, updates)
        loop_losses.append(loss)
    assert losses.shape == (2 if drop_last else 3,)
    np.testing.assert_allclose(losses, loop_losses, rtol=1e-6)
    np.testing.assert_allclose(w_scan, w, rtol=1e-6)


def test_scan_epoch_hand_computed_sums():
    step = lambda c, b, mask: (c + jnp.sum(b * mask), jnp.sum(mask))
    total, sizes = gdt.toolkit.scan_epoch(step, 0.0, jnp.arange(6.0), 4, key=None, drop_last=False)
    assert float(total) == 15.0 and sizes.tolist() == [4, 2]
    total, sizes = gdt.toolkit.scan_epoch(step, 0.0, jnp.arange(6.0), 4, key=None)
    assert float(total) == 6.0 and sizes.tolist() == [4]


@pytest.mark.parametrize(
    "data, batch_size, error, match",
    [
        ((X, Y[:9]), 2, ValueError, r"same number of examples.*\[0\] has 10, \[1\] has 9"),
        ({"a": X, "b": np.float32(1)}, 2, ValueError, r"\['b'\] is a scalar"),
        ((), 2, ValueError, "no arrays"),
        ((X, Y), 0, ValueError, r"batch_size.*\[1, 10\].*got 0"),
        ((X, Y), -3, ValueError, "batch_size"),
        ((X, Y), 11, ValueError, r"batch_size.*\[1, 10\].*got 11"),
        ((X, Y), 2.0, TypeError, "batch_size.*int"),
        ((X, Y), True, TypeError, "batch_size.*int"),
    ],
)
def test_bad_data_or_batch_size(data, batch_size, error, match):
    with pytest.raises(error, match=match):
        next(iter(gdt.toolkit.minibatches(data, batch_size, key=None)))
    with pytest.raises(error, match=match):
        gdt.toolkit.scan_epoch(lambda c, b, m: (c, None), 0, data, batch_size, key=None)


def test_bad_epochs_and_counts():
    with pytest.raises(ValueError, match="num_epochs"):
        next(gdt.toolkit.minibatches((X,), 2, key=None, num_epochs=-1))
    assert list(gdt.toolkit.minibatches((X,), 2, key=None, num_epochs=0)) == []
    with pytest.raises(ValueError, match="num_examples"):
        gdt.toolkit.epoch_indices(None, 0, 1)


def test_batch_size_advice_follows_the_notes():
    small = gdt.toolkit.batch_size_advice(1797)
    assert (small.batch_size, small.kind) == (1797, "batch")
    big = gdt.toolkit.batch_size_advice(60_000)
    assert (big.batch_size, big.kind) == (64, "mini-batch") and "64..512" in big.reason
    fits_300 = gdt.toolkit.batch_size_advice(60_000, bytes_per_example=10**6, memory_bytes=3 * 10**8)
    assert fits_300.batch_size == 256
    assert gdt.toolkit.batch_size_advice(60_000, bytes_per_example=1, memory_bytes=10**9).batch_size == 512
    fits_40 = gdt.toolkit.batch_size_advice(60_000, bytes_per_example=10**6, memory_bytes=4 * 10**7)
    assert (fits_40.batch_size, fits_40.kind) == (32, "mini-batch")
    fits_1 = gdt.toolkit.batch_size_advice(60_000, bytes_per_example=10, memory_bytes=15)
    assert (fits_1.batch_size, fits_1.kind) == (1, "stochastic")
    # A small set that does not fit at once falls back to mini-batches.
    assert gdt.toolkit.batch_size_advice(1500, bytes_per_example=10, memory_bytes=1000).batch_size == 64
    assert str(small).startswith("B = 1797 (batch gradient descent)")


def test_batch_size_advice_errors():
    with pytest.raises(ValueError, match="both"):
        gdt.toolkit.batch_size_advice(5000, memory_bytes=10)
    with pytest.raises(ValueError, match="does not fit"):
        gdt.toolkit.batch_size_advice(5000, bytes_per_example=100, memory_bytes=10)
    with pytest.raises(ValueError, match="> 0"):
        gdt.toolkit.batch_size_advice(5000, bytes_per_example=0, memory_bytes=10)
    with pytest.raises(ValueError, match="num_examples"):
        gdt.toolkit.batch_size_advice(0)
