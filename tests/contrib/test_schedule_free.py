"""Schedule-free: the first steps by hand, and optax's known issues fixed.

- optax PR #1744: the schedule is read at step 0 on the first step.
- bfloat16 leaves: the averaging weights and b1 stay float32, so the average
  keeps its 1/t weights and the evaluation params are exact.
- optax #1038: updates have the params' dtype whatever ``state_dtype`` is, so
  gradient accumulation (MultiSteps) and scan carries keep their types.
"""

import jax
import jax.numpy as jnp
import optax
import pytest

import gdtransforms as gdt
from tests.contrib._helpers import G1, G2, P0, close

SF = gdt.contrib


def test_first_two_steps_by_hand():
    lr, b1 = 0.1, 0.9
    opt = SF.schedule_free_sgd(lr, b1=b1)
    u1, state = opt.update(G1, opt.init(P0), P0)
    z1 = P0 - lr * G1  # c_1 = 1: x_1 = z_1, y_1 = z_1
    close(u1, z1 - P0, rtol=1e-6, atol=1e-7)
    y1 = P0 + u1
    u2, state = opt.update(G2, state, y1)
    z2 = z1 - lr * G2
    x2 = 0.5 * z1 + 0.5 * z2  # c_2 = lr^2 / (2 lr^2)
    close(u2, b1 * x2 + (1 - b1) * z2 - y1, rtol=1e-5, atol=1e-6)
    close(SF.schedule_free_eval_params(state, y1 + u2), x2, rtol=1e-5, atol=1e-6)


def test_schedule_is_read_from_step_zero_pr_1744():
    """With a warm-up from 0 the first step is a no-op for z and for the average alike."""
    opt = SF.schedule_free_sgd(0.1, warmup_steps=2)
    state = opt.init(P0)
    assert int(state.step_count) == 0
    u1, state = opt.update(G1, state, P0)
    assert float(jnp.abs(u1).max()) == 0.0 and float(state.max_lr) == 0.0
    u2, state = opt.update(G2, state, P0)
    close(state.max_lr, 0.05)  # schedule(1): the rate the base optimizer used
    close(u2, -0.05 * G2, rtol=1e-6)  # c = 1: y = z
    # optax reads the averaging schedule one step ahead of the base optimizer.
    theirs = optax.contrib.schedule_free_sgd(0.1, warmup_steps=2)
    _, s = theirs.update(G1, theirs.init(P0), P0)
    assert int(s.step_count) == 2 and float(s.max_lr) > 0.0


def _run_many(opt, params, steps):
    state = opt.init(params)

    def body(_, carry):
        p, s = carry
        u, s = opt.update(jax.tree.map(lambda x: jnp.ones_like(x) * 0.01, p), s, p)
        return gdt.apply_updates(p, u), s

    return jax.jit(lambda p, s: jax.lax.fori_loop(0, steps, body, (p, s)))(params, state)


def test_bfloat16_leaf_keeps_the_average_uniform_and_b1_exact():
    params = {"w": jnp.ones(3, jnp.float32), "b": jnp.ones(2, jnp.bfloat16)}
    steps, lr = 600, 0.1
    _, ours = _run_many(SF.schedule_free_sgd(lr), params, steps)
    assert ours.weight_sum.dtype == ours.b1.dtype == jnp.float32
    close(ours.weight_sum, steps * lr**2, rtol=1e-4)
    assert float(ours.b1) == jnp.float32(0.9)
    _, theirs = _run_many(optax.contrib.schedule_free_sgd(lr), params, steps)
    assert float(theirs.weight_sum) < 0.8 * steps * lr**2  # optax's bfloat16 sum stalls


def test_eval_params_have_the_params_dtypes():
    params = {"w": jnp.ones(3, jnp.float32), "b": jnp.ones(2, jnp.bfloat16)}
    opt = SF.schedule_free_adamw(0.01, state_dtype=jnp.float32)
    u, state = opt.update(params, opt.init(params), params)
    assert jax.tree.map(lambda x: x.dtype, u) == jax.tree.map(lambda x: x.dtype, params)
    x = SF.schedule_free_eval_params(state, gdt.apply_updates(params, u))
    assert jax.tree.map(lambda x: x.dtype, x) == jax.tree.map(lambda x: x.dtype, params)
    assert state.z["b"].dtype == jnp.float32


@pytest.mark.parametrize("params_dtype,state_dtype", [(jnp.bfloat16, jnp.float32), (jnp.float32, jnp.bfloat16)])
def test_gradient_accumulation_and_scan_keep_types_issue_1038(params_dtype, state_dtype):
    params = {"w": jnp.ones((2, 3), params_dtype), "b": jnp.zeros(3, params_dtype)}
    inner = SF.schedule_free(gdt.adamw(0.01, b1=0.0), learning_rate=0.01, state_dtype=state_dtype)
    opt = gdt.MultiSteps(inner, every_k_schedule=2)

    def step(carry, _):
        p, s = carry
        u, s = opt.update(jax.tree.map(jnp.ones_like, p), s, p)
        return (gdt.apply_updates(p, u), s), u

    (p, _), updates = jax.jit(lambda p, s: jax.lax.scan(step, (p, s), None, length=4))(params, opt.init(params))
    assert jax.tree.map(lambda x: x.dtype, updates) == jax.tree.map(lambda x: x.dtype, params)
    assert float(jnp.abs(p["b"].astype(jnp.float32)).max()) > 0


def test_wrong_state_for_eval_params_is_named():
    with pytest.raises(ValueError, match="ScheduleFreeState"):
        SF.schedule_free_eval_params(gdt.adam(0.1).init(P0), P0)
