"""reduce_on_plateau: optax's numbers for positive losses, and right for negative ones."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt

PARAMS = {"w": jnp.ones(3), "b": [jnp.asarray(0.5)]}
FIELDS = ("scale", "best_value", "plateau_count", "cooldown_count", "count", "avg_value")


def _run(tx, losses, params=PARAMS, jit=True):
    """Feeds ``losses`` one per step; returns the updates and states of every step."""
    update = jax.jit(tx.update) if jit else tx.update
    state = tx.init(params)
    updates_seen, states = [], []
    for loss in losses:
        updates, state = update(params, state, params, value=jnp.asarray(loss, jnp.float32))
        updates_seen.append(updates)
        states.append(state)
    return updates_seen, states


# A decrease, a plateau long enough for two reductions through a cooldown, a
# tiny (below rtol) improvement, then a real one.
LOSSES = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.9999, 3.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(factor=0.5, patience=2, rtol=1e-4, cooldown=1),
        dict(factor=0.1, patience=1, rtol=0.0, atol=0.5, min_scale=0.05),
        dict(factor=0.5, patience=2, accumulation_size=2),
    ],
)
def test_equals_optax_on_positive_losses(kwargs):
    ours_u, ours_s = _run(gdt.reduce_on_plateau(**kwargs), LOSSES)
    theirs_u, theirs_s = _run(optax.contrib.reduce_on_plateau(**kwargs), LOSSES)
    for ou, tu, os_, ts in zip(ours_u, theirs_u, ours_s, theirs_s):
        for a, b in zip(jax.tree.leaves(ou), jax.tree.leaves(tu)):
            np.testing.assert_array_equal(a, b)
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(os_, field), getattr(ts, field), err_msg=field)


def test_hand_trace_patience_and_cooldown():
    _, states = _run(gdt.reduce_on_plateau(factor=0.5, patience=2, cooldown=1), LOSSES[:8])
    # Steps: 5 (best), 4 (best), 4, 4 -> reduce, 4 (cooldown), 4, 4 -> reduce, 4 (cooldown).
    assert [float(s.scale) for s in states] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert [int(s.plateau_count) for s in states] == [0, 0, 1, 0, 0, 1, 0, 0]
    assert [int(s.cooldown_count) for s in states] == [0, 0, 0, 1, 0, 0, 1, 0]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_flat_loss_is_a_plateau_whatever_its_sign(sign):
    # optax's issue #1767: a flat negative loss counted as an improvement every step.
    _, states = _run(gdt.reduce_on_plateau(patience=2), [sign] * 8)
    assert [float(s.scale) for s in states] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3])
    assert all(float(s.best_value) == sign for s in states)


def test_negative_loss_getting_worse_is_no_improvement():
    losses = [-10.0, -9.9995, -9.999, -9.9985]  # worse each step, by less than rtol * 10
    _, states = _run(gdt.reduce_on_plateau(patience=3, rtol=1e-3), losses)
    assert [float(s.best_value) for s in states] == [-10.0] * 4
    assert [int(s.plateau_count) for s in states] == [0, 1, 2, 0]
    assert float(states[-1].scale) == pytest.approx(0.1)


def test_negative_loss_improving_is_an_improvement():
    _, states = _run(gdt.reduce_on_plateau(patience=1), [-1.0, -2.0, -3.0, -4.0])
    assert [float(s.best_value) for s in states] == [-1.0, -2.0, -3.0, -4.0]
    assert all(float(s.scale) == 1.0 for s in states)


def test_relative_and_absolute_thresholds():
    # best = 10: rtol = 0.1 needs < 9; with atol = 0.5 too, < 8.5.
    _, states = _run(gdt.reduce_on_plateau(rtol=0.1, patience=5), [10.0, 9.0, 8.9])
    assert [float(s.best_value) for s in states] == pytest.approx([10.0, 10.0, 8.9])
    _, states = _run(gdt.reduce_on_plateau(rtol=0.1, atol=0.5, patience=5), [10.0, 8.6, 8.4])
    assert [float(s.best_value) for s in states] == pytest.approx([10.0, 10.0, 8.4])
    # Negative best = -10: rtol = 0.1 needs < -11.
    _, states = _run(gdt.reduce_on_plateau(rtol=0.1, patience=5), [-10.0, -10.9, -11.1])
    assert [float(s.best_value) for s in states] == pytest.approx([-10.0, -10.0, -11.1])


def test_min_scale_floor():
    _, states = _run(gdt.reduce_on_plateau(factor=0.5, patience=1, min_scale=0.2), [1.0] * 6)
    assert [float(s.scale) for s in states] == pytest.approx([1, 0.5, 0.25, 0.2, 0.2, 0.2])


def test_scales_updates_and_keeps_their_dtype():
    params = {"w": jnp.ones(2, jnp.bfloat16), "v": jnp.full(2, 2.0)}
    tx = gdt.reduce_on_plateau(factor=0.5, patience=1)
    updates, states = _run(tx, [1.0, 1.0, 1.0], params=params, jit=False)
    assert states[0].best_value.dtype == jnp.float32  # not bfloat16, as the loss needs
    assert updates[-1]["w"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(updates[-1]["v"], jnp.full(2, 2.0 * 0.25))


def test_in_a_chain_reads_value_through_extra_args():
    opt = gdt.chain(gdt.scale_by_learning_rate(0.1), gdt.reduce_on_plateau(factor=0.5, patience=1))
    state = opt.init(PARAMS)
    step = jax.jit(opt.update)
    for loss in [2.0, 2.0, 2.0]:
        updates, state = step(PARAMS, state, PARAMS, value=loss)
    np.testing.assert_allclose(updates["w"], -0.1 * 0.25 * jnp.ones(3), rtol=1e-6)


def test_missing_value_is_a_clear_error():
    tx = gdt.reduce_on_plateau()
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS)
    with pytest.raises(ValueError, match="scalar"):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=jnp.ones(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(factor=1.0), ValueError, "factor"),
        (dict(factor=0.0), ValueError, "factor"),
        (dict(patience=0), ValueError, "patience"),
        (dict(patience=2.5), TypeError, "patience"),
        (dict(rtol=0.0, atol=0.0), ValueError, "rtol"),
        (dict(rtol=1.5), ValueError, "rtol"),
        (dict(atol=-1.0), ValueError, "atol"),
        (dict(cooldown=-1), ValueError, "cooldown"),
        (dict(accumulation_size=0), ValueError, "accumulation_size"),
        (dict(min_scale=-0.1), ValueError, "min_scale"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gdt.reduce_on_plateau(**kwargs)
