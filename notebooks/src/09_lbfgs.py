# %% [markdown]
# # 9. L-BFGS with a line search, next to scipy
#
# For a smooth, deterministic objective of moderate size (a full-batch logistic
# regression, a least-squares fit, a small physics model) a quasi-Newton method
# beats any first-order optimizer: L-BFGS estimates the inverse Hessian from the
# last few gradient differences and a line search picks each stepsize, so there
# is no learning rate to tune. `gdt.lbfgs()` is optax's L-BFGS (same iterates),
# and `gdt.lbfgs_minimize` runs the whole solve in one compiled loop, with box
# bounds if you want them. Here both fit a logistic regression to scikit-learn's
# breast-cancer data, next to `scipy.optimize.minimize(method="L-BFGS-B")`.

# %%
import time

import jax

jax.config.update("jax_enable_x64", True)  # compare with scipy in double precision

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import scipy.optimize
from sklearn.datasets import load_breast_cancer

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72})

data = load_breast_cancer()
X_np = (data.data - data.data.mean(0)) / data.data.std(0)  # 569 samples, 30 standardised features
X, y = jnp.asarray(X_np), jnp.asarray(data.target, jnp.float64)
l2 = 1e-2


def loss(params):
    """Mean logistic loss plus an L2 penalty on the weights."""
    logits = X @ params["w"] + params["b"]
    return jnp.mean(jax.nn.softplus(logits) - y * logits) + 0.5 * l2 * jnp.sum(params["w"] ** 2)


params0 = {"w": jnp.zeros(30), "b": jnp.asarray(0.0)}
print(f"{X.shape[0]} samples, {X.shape[1]} features; loss at zero: {loss(params0):.6f}")

# %% [markdown]
# ## The optimizer, step by step
#
# `gdt.lbfgs()` is a chain: the L-BFGS direction, then a zoom line search that
# needs the objective (`value_fn`) as well as the value and gradient. The line
# search evaluates the objective and its gradient at the point it accepts, and
# `gdt.value_and_grad_from_state` reads them back at the next step, so each
# iteration costs only the line search's evaluations.

# %%
opt = gdt.lbfgs()
value_and_grad = gdt.value_and_grad_from_state(loss)


@jax.jit
def step(params, state):
    value, grad = value_and_grad(params, state=state)
    updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss)
    return gdt.apply_updates(params, updates), state, value, grad


params, state = params0, opt.init(params0)
gdt_values = []
for it in range(100):
    params, state, value, grad = step(params, state)
    gdt_values.append(float(value))
    if float(jnp.linalg.norm(jnp.concatenate([grad["w"], grad["b"][None]]))) < 1e-9:
        break
gdt_values.append(float(loss(params)))
print(f"gdt.lbfgs: {it + 1} iterations, loss {gdt_values[-1]:.10f}")

# %% [markdown]
# ## scipy's L-BFGS-B on the same objective
#
# scipy works on one flat NumPy vector; we give it the jitted value and gradient.

# %%
flat0, unravel = jax.flatten_util.ravel_pytree(params0)
scipy_value_and_grad = jax.jit(jax.value_and_grad(lambda f: loss(unravel(f))))
scipy_values = [float(loss(params0))]


def fun(f):
    v, g = scipy_value_and_grad(jnp.asarray(f))
    return float(v), np.asarray(g)


res = scipy.optimize.minimize(
    fun,
    np.asarray(flat0),
    jac=True,
    method="L-BFGS-B",
    options=dict(ftol=1e-15, gtol=1e-9, maxiter=500),
    callback=lambda xk: scipy_values.append(float(loss(unravel(jnp.asarray(xk))))),
)
print(f"scipy L-BFGS-B: {res.nit} iterations, {res.nfev} evaluations, loss {res.fun:.10f}")

# %% [markdown]
# ## The whole solve in one compiled call
#
# `gdt.lbfgs_minimize` runs the same iterations under `jax.lax.while_loop` and
# returns the solution, the value, the iteration and evaluation counts and a
# convergence flag. It works under `jit` and `vmap`: below, one compiled call
# fits the model for five strengths of the L2 penalty at once.

# %%
result = jax.jit(lambda p: gdt.lbfgs_minimize(loss, p, tol=1e-9))(params0)
print(
    f"lbfgs_minimize: {int(result.num_iterations)} iterations, {int(result.num_fun_evals)} evaluations, "
    f"loss {float(result.value):.10f}, converged: {bool(result.converged)}"
)
ours, theirs = float(result.value), float(res.fun)
assert abs(ours - theirs) <= 1e-6 * abs(theirs), (ours, theirs)
assert abs(gdt_values[-1] - theirs) <= 1e-6 * abs(theirs)
w_ours = jax.flatten_util.ravel_pytree(result.params)[0]
print(f"largest difference of the weights from scipy's: {float(jnp.max(jnp.abs(w_ours - res.x))):.2e}")


def fit(strength):
    def penalised(params):
        logits = X @ params["w"] + params["b"]
        return jnp.mean(jax.nn.softplus(logits) - y * logits) + 0.5 * strength * jnp.sum(params["w"] ** 2)

    return gdt.lbfgs_minimize(penalised, params0, tol=1e-8)


strengths = jnp.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
start = time.perf_counter()
sweep = jax.block_until_ready(jax.jit(jax.vmap(fit))(strengths))
print(f"five fits in one call: {time.perf_counter() - start:.2f} s (compile included)")
accuracy = jnp.mean(((X @ sweep.params["w"].T + sweep.params["b"]) > 0) == (y[:, None] > 0.5), axis=0)
for s, acc, n in zip(strengths, accuracy, sweep.num_iterations):
    print(f"  l2 = {float(s):6g}: training accuracy {float(acc):.3f} after {int(n)} iterations")
assert bool(jnp.all(sweep.converged))

# %% [markdown]
# ## Box bounds
#
# With `lower`/`upper`, `lbfgs_minimize` takes projected quasi-Newton steps on
# the variables not held at a bound (an L-BFGS-B-style method). Constraining
# every weight to [-0.5, 0.5] gives the same solution as scipy's L-BFGS-B with
# the same bounds.

# %%
lower = {"w": jnp.full(30, -0.5), "b": jnp.asarray(-jnp.inf)}
upper = {"w": jnp.full(30, 0.5), "b": jnp.asarray(jnp.inf)}
boxed = gdt.lbfgs_minimize(loss, params0, lower=lower, upper=upper, tol=1e-8)
bounds = [(-0.5, 0.5)] * 30 + [(None, None)]
res_box = scipy.optimize.minimize(fun, np.asarray(flat0), jac=True, method="L-BFGS-B", bounds=bounds,
                                  options=dict(ftol=1e-15, gtol=1e-9))
print(f"bounded: gdt {float(boxed.value):.10f}, scipy {res_box.fun:.10f}; "
      f"{int(jnp.sum(jnp.abs(boxed.params['w']) >= 0.5))} weights at a bound")
assert abs(float(boxed.value) - res_box.fun) <= 1e-6 * abs(res_box.fun)

# %%
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
best = min(min(gdt_values), min(scipy_values))
ax[0].semilogy(np.array(gdt_values) - best + 1e-16, "o-", label="gdt.lbfgs")
ax[0].semilogy(np.array(scipy_values) - best + 1e-16, "s--", label="scipy L-BFGS-B")
ax[0].set(xlabel="iteration", ylabel="loss - best loss", title="convergence")
ax[0].legend()
ax[1].bar(np.arange(30) - 0.2, np.asarray(result.params["w"]), width=0.4, label="gdt")
ax[1].bar(np.arange(30) + 0.2, res.x[:30], width=0.4, label="scipy")
ax[1].set(xlabel="feature", ylabel="weight", title="the fitted weights")
ax[1].legend()
fig.tight_layout()
plt.show()
