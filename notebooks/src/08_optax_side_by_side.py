# %% [markdown]
# # 8. gdtransforms and optax side by side
#
# gdtransforms is meant as a drop-in for optax: swap `import optax` for
# `import gdtransforms as gdt` wherever both have the same thing. The names,
# signatures, defaults, state field names and the numbers are the same, and the
# transformations of the two libraries mix freely in one `chain`. This notebook
# trains the same small network with both, optimizer by optimizer, and compares
# the results bit for bit.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72})

# A two-class "XOR" problem: the label is whether x0 * x1 > 0.
x_np = np.random.default_rng(0).normal(size=(256, 2))
X = jnp.asarray(x_np, jnp.float32)
y = jnp.asarray(x_np[:, 0] * x_np[:, 1] > 0, jnp.int32)
k_init = jax.random.PRNGKey(0)


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {
        "hidden": {"w": jax.random.normal(k1, (2, 32)) / jnp.sqrt(2.0), "b": jnp.zeros(32)},
        "out": {"w": jax.random.normal(k2, (32, 2)) / jnp.sqrt(32.0), "b": jnp.zeros(2)},
    }


def loss_fn(params):
    h = jnp.tanh(X @ params["hidden"]["w"] + params["hidden"]["b"])
    logits = h @ params["out"]["w"] + params["out"]["b"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


params0 = init_params(k_init)


def train(*opts, steps=300):
    """Full-batch training with each optimizer, all in one compiled program.

    Returns one (final params, losses) pair per optimizer.
    """

    def run(opt, params):
        def step(carry, _):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, state = opt.update(grads, state, params)
            return (gdt.apply_updates(params, updates), state), loss

        (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
        return params, losses

    return jax.jit(lambda params: [run(opt, params) for opt in opts])(params0)


def max_abs_diff(a, b):
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# %% [markdown]
# ## The same training, the same numbers
#
# Each row builds the optimizer twice, once from each library with the same
# arguments (`gdt.adam(**kwargs)` and `optax.adam(**kwargs)`, ...), and trains
# 300 full-batch steps with each.

# %%
configs = {
    "sgd": dict(learning_rate=0.1, momentum=0.9),
    "sgd (nesterov)": dict(learning_rate=0.1, momentum=0.9, nesterov=True),
    "adagrad": dict(learning_rate=0.1),
    "rmsprop": dict(learning_rate=0.01),
    "adam": dict(learning_rate=0.01),
    "adamw": dict(learning_rate=0.01, weight_decay=1e-2),
    "lion": dict(learning_rate=3e-3),
    "lamb": dict(learning_rate=0.01),
}
results = {}
print(f"{'optimizer':15s} {'final loss (gdt)':>17s} {'final loss (optax)':>19s} {'max |params diff|':>18s}")
for label, kwargs in configs.items():
    name = label.split()[0]
    (p_gdt, l_gdt), (p_optax, l_optax) = train(getattr(gdt, name)(**kwargs), getattr(optax, name)(**kwargs))
    results[label] = (l_gdt, l_optax)
    diff = max_abs_diff(p_gdt, p_optax)
    print(f"{label:15s} {float(l_gdt[-1]):17.6f} {float(l_optax[-1]):19.6f} {diff:18.1e}")
    np.testing.assert_allclose(l_gdt, l_optax, rtol=1e-5, atol=1e-6)
    assert diff < 1e-5

# %%
fig, ax = plt.subplots(figsize=(8, 3.6))
for (label, (l_gdt, l_optax)), color in zip(results.items(), plt.cm.tab10.colors):
    ax.plot(l_gdt, color=color, lw=1.3, label=label)
    ax.plot(np.arange(0, 300, 25), l_optax[::25], "o", color=color, ms=4, mfc="none")
ax.set(xlabel="step", ylabel="training loss", yscale="log",
       title="lines: gdtransforms, circles: optax (every 25 steps)")
ax.legend(fontsize=7, ncol=2)
ax.grid(True)
plt.show()

# %% [markdown]
# ## The same state
#
# The optimizer state has optax's layout and field names (`count`, `mu`, `nu` for
# Adam), so code that reads the state, or a checkpoint of its leaves, works with
# either. Only the NamedTuple classes differ (`gdt.ScaleByAdamState` vs
# `optax.ScaleByAdamState`).

# %%
s_gdt, s_optax = gdt.adam(0.01).init(params0), optax.adam(0.01).init(params0)
print("gdt:  ", type(s_gdt[0]).__name__, s_gdt[0]._fields)
print("optax:", type(s_optax[0]).__name__, s_optax[0]._fields)
leaves = [(x.shape, x.dtype) for x in jax.tree.leaves(s_gdt)]
assert leaves == [(x.shape, x.dtype) for x in jax.tree.leaves(s_optax)]
print(f"{len(leaves)} state leaves, same shapes and dtypes in the same order")

# %% [markdown]
# ## Mixing both in one chain
#
# A transformation of either library is a pair of pure functions `(init, update)`,
# so they compose both ways: a `gdt.chain` of optax pieces, an `optax.chain` of
# gdtransforms pieces, and optax wrappers such as `optax.MultiSteps` (gradient
# accumulation) around a gdtransforms optimizer. All give the numbers of the pure
# optax version.

# %%
pure = optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam(), optax.scale_by_learning_rate(0.01))
mixes = {
    "gdt.chain(optax clip, gdt adam, optax lr)": gdt.chain(
        optax.clip_by_global_norm(1.0), gdt.scale_by_adam(), optax.scale_by_learning_rate(0.01)
    ),
    "optax.chain(gdt clip, optax adam, gdt lr)": optax.chain(
        gdt.clip_by_global_norm(1.0), optax.scale_by_adam(), gdt.scale_by_learning_rate(0.01)
    ),
}
(p_pure, l_pure), *mixed = train(pure, *mixes.values())
for label, (p_mix, l_mix) in zip(mixes, mixed):
    print(f"{label:45s} max |params diff| vs pure optax: {max_abs_diff(p_mix, p_pure):.1e}")
    assert max_abs_diff(p_mix, p_pure) < 1e-5

(p_gdt, l_acc_gdt), (p_optax, l_acc_optax) = train(
    optax.MultiSteps(gdt.adam(0.01), every_k_schedule=4), optax.MultiSteps(optax.adam(0.01), every_k_schedule=4)
)
print(f"{'optax.MultiSteps(gdt.adam) vs (optax.adam)':45s} max |params diff|: {max_abs_diff(p_gdt, p_optax):.1e}")
assert max_abs_diff(p_gdt, p_optax) < 1e-5

fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(l_pure, lw=3, alpha=0.4, label="pure optax: clip + adam")
ax.plot(l_mix, "--", label="mixed chain")
ax.plot(l_acc_gdt, lw=1.5, label="optax.MultiSteps(gdt.adam), k = 4")
ax.plot(l_acc_optax, ":", color="k", label="optax.MultiSteps(optax.adam), k = 4")
ax.set(xlabel="step", ylabel="training loss", yscale="log", title="mixing the two libraries")
ax.legend(fontsize=8)
ax.grid(True)
plt.show()
