"""L-BFGS: gdtransforms, optax and scipy side by side.

For three problems (Rosenbrock in 20 dimensions, an L2-regularised logistic
regression with 2000 samples and 50 features, a 400 x 100 least-squares
problem), each solver runs from the same start to a gradient norm of
``1e-5`` (float64) and the table lists its iterations, its evaluations of the
objective with its gradient, the final value and, for the two JAX solvers,
the median time of a whole jitted solve and its compile time. gdtransforms
and optax run in alternating rounds in one process.

  * gdt: ``gdt.lbfgs_minimize`` (``gdt.lbfgs`` under ``lax.while_loop``).
  * optax: ``optax.lbfgs`` with ``value_and_grad_from_state`` in the same
    ``lax.while_loop`` (the loop optax's documentation writes by hand).
  * scipy: ``scipy.optimize.minimize(method="L-BFGS-B")`` (Fortran, on NumPy
    arrays, with the jitted value-and-gradient of the same objective).

Run from the repository root:

    python benchmarks/bench_lbfgs.py [--rounds N]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import scipy.optimize  # noqa: E402

import gdtransforms as gdt  # noqa: E402

TOL = 1e-5
MAX_ITER = 1000


def problems():
    rng = np.random.default_rng(0)

    def rosenbrock(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    x_log = jnp.asarray(rng.normal(size=(2000, 50)))
    y_log = jnp.asarray((np.asarray(x_log) @ rng.normal(size=50) + rng.normal(size=2000) > 0).astype(np.float64))

    def logistic(w):
        logits = x_log @ w
        return jnp.mean(jax.nn.softplus(logits) - y_log * logits) + 1e-3 * jnp.sum(w**2)

    a_lsq, b_lsq = jnp.asarray(rng.normal(size=(400, 100))), jnp.asarray(rng.normal(size=400))

    def least_squares(x):
        return 0.5 * jnp.sum((a_lsq @ x - b_lsq) ** 2)

    return {
        "rosenbrock (20)": (rosenbrock, jnp.tile(jnp.array([-1.2, 1.0]), 10)),
        "logistic (2000x50)": (logistic, jnp.zeros(50)),
        "least squares (400x100)": (least_squares, jnp.zeros(100)),
    }


def optax_solve(fun, x0):
    """optax.lbfgs in a while_loop, stopping as gdt does; returns (x, value, iterations, evaluations)."""
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(fun)

    def keep_going(carry):
        _, state, it, _ = carry
        grad = optax.tree.get(state, "grad")
        first = it == 0
        return first | ((it < MAX_ITER) & (optax.tree.norm(grad) > TOL) & (optax.tree.get(state, "learning_rate") > 0))

    def body(carry):
        x, state, it, evals = carry
        value, grad = value_and_grad(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        steps = optax.tree.get(state, "num_linesearch_steps")
        return optax.apply_updates(x, updates), state, it + 1, evals + steps + jnp.where(it == 0, 1, 0)

    x, state, it, evals = jax.lax.while_loop(keep_going, body, (x0, opt.init(x0), 0, 0))
    return x, optax.tree.get(state, "value"), it, evals


def gdt_solve(fun, x0):
    r = gdt.lbfgs_minimize(fun, x0, tol=TOL, max_iterations=MAX_ITER)
    return r.params, r.value, r.num_iterations, r.num_fun_evals


def timed(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    print(f"jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0].platform}, float64, tol {TOL}")
    columns = ("problem", "solver", "iters", "f+g evals", "final value", "solve ms", "compile s")
    widths = (-24, -6, 6, 10, 16, 10, 10)
    header = " ".join(f"{c:<{-w}}" if w < 0 else f"{c:>{w}}" for c, w in zip(columns, widths))
    print(header)
    print("-" * len(header))
    for name, (fun, x0) in problems().items():
        rows = {}
        compiled = {}
        for label, solve in (("gdt", gdt_solve), ("optax", optax_solve)):
            jitted = jax.jit(lambda x, solve=solve, fun=fun: solve(fun, x))
            start = time.perf_counter()
            compiled[label] = jitted.lower(x0).compile()
            rows[label] = {"compile": time.perf_counter() - start, "times": []}
        for _ in range(rounds):  # alternate the two, round by round
            for label in ("gdt", "optax"):
                out, seconds = timed(compiled[label], x0)
                rows[label]["times"].append(seconds)
                rows[label]["out"] = out
        for label in ("gdt", "optax"):
            _, value, it, evals = rows[label]["out"]
            ms = 1e3 * statistics.median(rows[label]["times"])
            print(
                f"{name:<24} {label:<6} {int(it):>6} {int(evals):>10} {float(value):>16.10g} "
                f"{ms:>10.2f} {rows[label]['compile']:>10.2f}"
            )
        value_and_grad = jax.jit(jax.value_and_grad(fun))

        def scipy_fun(x, value_and_grad=value_and_grad):
            v, g = value_and_grad(jnp.asarray(x))
            return float(v), np.asarray(g)

        jax.block_until_ready(value_and_grad(x0))  # compile outside the timing
        start = time.perf_counter()
        res = scipy.optimize.minimize(
            scipy_fun, np.asarray(x0), jac=True, method="L-BFGS-B", options=dict(gtol=TOL, maxiter=MAX_ITER)
        )
        ms = 1e3 * (time.perf_counter() - start)
        print(f"{name:<24} {'scipy':<6} {res.nit:>6} {res.nfev:>10} {res.fun:>16.10g} {ms:>10.2f} {'-':>10}")


if __name__ == "__main__":
    main()
