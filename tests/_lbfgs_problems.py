"""The three test problems of the L-BFGS checks: Rosenbrock, logistic regression, least squares.

Each problem is ``(loss, x0)`` with ``loss(params) -> scalar``; the data are
fixed numpy draws, converted to the current default float dtype when built
(so the same problem serves float32 parity and float64 scipy checks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tests._trees import jit_level0

_RNG = np.random.default_rng(0)
_X_LOGISTIC = _RNG.normal(size=(80, 4))
_Y_LOGISTIC = (_X_LOGISTIC @ np.array([1.5, -2.0, 0.5, 1.0]) + 0.3 * _RNG.normal(size=80) > 0).astype(np.float64)
_A_LSQ = _RNG.normal(size=(30, 6))
_B_LSQ = _RNG.normal(size=30)


def rosenbrock():
    def loss(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return loss, jnp.asarray([-1.2, 1.0, -1.2, 1.0, 0.5])


def logistic():
    """L2-regularised logistic regression on a dict of params (``w``, ``b``)."""
    x, y = jnp.asarray(_X_LOGISTIC), jnp.asarray(_Y_LOGISTIC)

    def loss(params):
        logits = x @ params["w"] + params["b"]
        nll = jnp.mean(jax.nn.softplus(logits) - y * logits)
        return nll + 0.01 * jnp.sum(params["w"] ** 2)

    return loss, {"w": jnp.zeros(4), "b": jnp.asarray(0.0)}


def least_squares():
    a, b = jnp.asarray(_A_LSQ), jnp.asarray(_B_LSQ)

    def loss(x):
        return 0.5 * jnp.sum((a @ x - b) ** 2)

    return loss, jnp.ones(6)


PROBLEMS = {"rosenbrock": rosenbrock, "logistic": logistic, "least_squares": least_squares}


def run_optimizer(module, opt, loss, x0, steps, *, jit, level0=False):
    """``steps`` iterations of ``opt`` with ``module.value_and_grad_from_state``; per step (params, value, state).

    With ``level0`` the jitted step compiles at XLA backend optimization level 0
    (``tests._trees.jit_level0``), for comparisons whose both sides run so.
    """
    value_and_grad = module.value_and_grad_from_state(loss)

    def step(x, state):
        value, grad = value_and_grad(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=loss)
        return module.apply_updates(x, updates), state, value

    if jit:
        step = jit_level0(step) if level0 else jax.jit(step)
    x, state, history = x0, opt.init(x0), []
    for _ in range(steps):
        x, state, value = step(x, state)
        history.append((x, value, state))
    return history
