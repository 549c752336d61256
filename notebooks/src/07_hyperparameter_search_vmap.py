# %% [markdown]
# # 7. Hyperparameter search with `vmap`
#
# The last step of the training checklist is to tune the hyperparameters, above
# all the learning rate, with short runs, by **grid search** (values on a regular,
# usually logarithmic, grid) or **random search** (values drawn at random, which
# tries more distinct values of each hyperparameter for the same budget).
#
# In JAX a short run is a pure function of its hyperparameters, so `jax.vmap`
# turns "train once" into "train $N$ configurations at once": one compilation, one
# call. The optimizer is built *inside* the vmapped function from the array it
# receives, with `gdt.inject_hyperparams`, which keeps the hyperparameters in the
# optimizer state (`state.hyperparams`), where they can be read, changed and
# vmapped over. (A plain factory such as `gdt.adamw(learning_rate=lr)` also
# accepts a traced `lr`.)

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72})

# Two interleaved spirals (numpy, seeds 0 and 1): 2 x 50 training and 2 x 100
# validation points.
def spirals(seed, n):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.3, 3 * np.pi, n)
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5
    x = np.concatenate([arm, -arm]) + 0.08 * rng.normal(size=(2 * n, 2))
    return jnp.asarray(x, jnp.float32), jnp.asarray(np.repeat([0, 1], n), jnp.int32)


x_train, y_train = spirals(0, 50)
x_val, y_val = spirals(1, 100)
k_init = jax.random.PRNGKey(0)

def init_params(key, width=16):
    k1, k2, k3 = jax.random.split(key, 3)
    xavier = lambda k, shape: jax.random.normal(k, shape) / jnp.sqrt(shape[0])
    return {
        "l1": {"w": xavier(k1, (2, width)), "b": jnp.zeros(width)},
        "l2": {"w": xavier(k2, (width, width)), "b": jnp.zeros(width)},
        "out": {"w": xavier(k3, (width, 2)), "b": jnp.zeros(2)},
    }


def loss_fn(params, x, y):
    h = jnp.tanh(x @ params["l1"]["w"] + params["l1"]["b"])
    h = jnp.tanh(h @ params["l2"]["w"] + params["l2"]["b"])
    logits = h @ params["out"]["w"] + params["out"]["b"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


params0 = init_params(k_init)
STEPS = 300


def short_run(learning_rate, weight_decay=0.0):
    """Train STEPS full-batch AdamW steps; return the validation loss."""
    opt = gdt.inject_hyperparams(gdt.adamw)(learning_rate=learning_rate, weight_decay=weight_decay)

    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss_fn)(params, x_train, y_train)
        updates, state = opt.update(grads, state, params)
        return (gdt.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params0, opt.init(params0)), None, length=STEPS)
    val = loss_fn(params, x_val, y_val)
    return jnp.where(jnp.isfinite(val), val, jnp.inf)


# %% [markdown]
# ## Grid search over the learning rate, three ways
#
# 1. **A loop of separate runs**, the way one would write it first: each run
#    builds its optimizer from a Python float, so each run is compiled again.
# 2. **A loop over one compiled function** that takes the learning rate as an
#    argument: one compilation, then $N$ calls one after the other.
# 3. **One `vmap`ped call**: one compilation, one call that trains all $N$.
#
# We time the first call (compilation included) and a second call (run only).

# %%
grid = jnp.logspace(-4, 0, 16)


def timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def loop_recompiling(lrs):
    return jnp.stack([jax.jit(lambda: short_run(float(lr)))() for lr in lrs])


run_one = jax.jit(short_run)
run_all = jax.jit(jax.vmap(short_run))
loop_compiled_once, first = timed(lambda: jnp.stack([run_one(lr) for lr in grid]))
timings = {"loop over one compiled run": (first, timed(lambda: jnp.stack([run_one(lr) for lr in grid]))[1])}
vmapped, first = timed(lambda: run_all(grid))
timings["one vmapped call"] = (first, timed(lambda: run_all(grid))[1])
# Recompiling costs the same every time; time 2 of the 16 runs and scale up.
loop_recompiled, seconds = timed(lambda: loop_recompiling(grid[:2]))
timings = {"loop, one compile per run": (8 * seconds, 8 * seconds), **timings}

for label, (first, again) in timings.items():
    print(f"{label:28s} first call {first:5.2f} s, again {again:5.2f} s   ({len(grid)} runs of {STEPS} steps)")
print(f"(one compile per run: {seconds:.2f} s measured for 2 of the runs, times 8)")
best = int(jnp.argmin(vmapped))
print(f"best learning rate on the grid: {float(grid[best]):.2g} (validation loss {float(vmapped[best]):.3f})")

# %% [markdown]
# Do the numbers agree? The two loops compute the same thing and agree to the
# last bit. The vmapped call multiplies *batches* of matrices, which sums the same
# products in another order: its results differ in the last bits, and 300 steps
# of training amplify that, a lot at the largest learning rates, where training
# is chaotic.

# %%
np.testing.assert_array_equal(loop_recompiled, loop_compiled_once[:2])
smooth = grid <= 0.1
np.testing.assert_allclose(vmapped[smooth], loop_compiled_once[smooth], rtol=5e-2)
rel = np.abs(np.asarray(vmapped - loop_compiled_once)) / np.asarray(loop_compiled_once)
for lr, r in zip(grid.tolist(), rel):
    print(f"lr {lr:8.2g}: |vmap - loop| / loop = {r:.1e}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.3), gridspec_kw={"width_ratios": [1.3, 1]})
ax1.semilogx(grid, jnp.minimum(vmapped, 2.0), "o-", label="one vmapped call")
ax1.semilogx(grid, jnp.minimum(loop_compiled_once, 2.0), "x", color="k", label="loop of runs")
ax1.axvline(float(grid[best]), color="tab:green", ls=":")
ax1.set(xlabel="learning rate", ylabel="validation loss (clipped at 2)", title="grid search: 16 learning rates")
ax1.legend(fontsize=8)
ax1.grid(True)
labels = [label.replace(", ", ",\n").replace(" over", "\nover") for label in timings]
first, again = np.array(list(timings.values())).T
ax2.barh(np.arange(3) + 0.2, first, height=0.4, color="tab:red", label="first call (compile + run)")
ax2.barh(np.arange(3) - 0.2, again, height=0.4, color="tab:green", label="again (run only)")
ax2.set_yticks(np.arange(3), labels, fontsize=8)
ax2.set(xlabel="seconds (log scale)", xscale="log", title="the same 16 runs")
ax2.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# Too small a rate learns too little in 300 steps, too large a one jumps around;
# the best rate sits in between. Compiling once instead of sixteen times is the
# big saving. Once compiled, the 16 trainings cost about the same as one vmapped
# program or one after another on a CPU that even one small run keeps busy; on an
# accelerator, where one small run leaves most of the chip idle, the vmapped call
# is the faster one. It holds all 16 runs in memory at once.
#
# ## Random search over the learning rate and the weight decay
#
# Random search draws each configuration at random, here log-uniformly. With the
# same 16 runs a $4 \times 4$ grid would try only 4 distinct learning rates; 16
# random draws try 16. `vmap` over two arrays trains them all in one call.

# %%
k_lr, k_wd = jax.random.split(jax.random.PRNGKey(1))
lrs = 10.0 ** jax.random.uniform(k_lr, (16,), minval=-4, maxval=0)
wds = 10.0 ** jax.random.uniform(k_wd, (16,), minval=-5, maxval=0)
search = jax.jit(jax.vmap(short_run))
random_losses, t_random = timed(lambda: search(lrs, wds))
best = int(jnp.argmin(random_losses))
print(f"16 random configurations in one call: {t_random:.2f} s (compile included)")
print(f"best: learning rate {float(lrs[best]):.2g}, weight decay {float(wds[best]):.2g}, "
      f"validation loss {float(random_losses[best]):.3f}")

fig, ax = plt.subplots(figsize=(6.5, 3.3))
sc = ax.scatter(lrs, wds, c=jnp.minimum(random_losses, 2.0), cmap="viridis_r", s=50)
ax.scatter(lrs[best], wds[best], s=200, facecolors="none", edgecolors="tab:red", label="best")
ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight decay", title="random search")
fig.colorbar(sc, label="validation loss (clipped at 2)")
ax.legend(fontsize=8)
plt.show()
