# %% [markdown]
# # 1. Mini-batch gradient descent
#
# Split the $m$ training examples into mini-batches of $B$ examples and take one
# gradient step per mini-batch; one pass over all of them is an **epoch**.
# $B = m$ is **batch** gradient descent (one exact, expensive step per epoch),
# $B = 1$ is **stochastic** gradient descent (many cheap, very noisy steps, and no
# benefit from vectorized arithmetic), and $1 < B < m$ is **mini-batch** gradient
# descent, usually the fastest in wall time. The data are reshuffled every epoch
# and the last mini-batch may be smaller than $B$.
#
# gdtransforms has the pieces: `gdt.toolkit.minibatches` (a Python iterator),
# `gdt.toolkit.scan_epoch` (a whole epoch as one `lax.scan`, compiled with the step) and
# `gdt.toolkit.batch_size_advice` (the rule of thumb of the notes).

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72})

# A softmax-regression problem: m = 1024 examples, 10 features, 4 classes, labels
# drawn from a random linear "teacher" (numpy, seed 0).
rng = np.random.default_rng(0)
m, d, n_classes = 1024, 10, 4
x_np = rng.normal(size=(m, d))
logits_np = x_np @ (1.5 * rng.normal(size=(d, n_classes)))
y_np = np.argmax(logits_np + rng.gumbel(size=(m, n_classes)), axis=1)  # softmax sampling
X, Y = jnp.asarray(x_np, jnp.float32), jnp.asarray(y_np, jnp.int32)
k_train = jax.random.PRNGKey(0)

def loss_fn(params, x, y, mask=None):
    logits = x @ params["w"] + params["b"]
    losses = -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1)[:, 0]
    mask = jnp.ones_like(losses) if mask is None else mask
    return jnp.sum(mask * losses) / jnp.sum(mask)


params0 = {"w": jnp.zeros((d, n_classes)), "b": jnp.zeros(n_classes)}

# %% [markdown]
# `gdt.toolkit.minibatches` walks the data in shuffled mini-batches, a new order every
# epoch; with $m = 1024$ and $B = 100$ the last batch holds the 24 examples left.

# %%
sizes = [len(y) for _, y in gdt.toolkit.minibatches((X, Y), 100, key=jax.random.PRNGKey(1))]
print("batch sizes of one epoch with B = 100:", sizes)
first = [np.asarray(y[:5]) for _, y in gdt.toolkit.minibatches((X, Y), 100, key=jax.random.PRNGKey(1), num_epochs=2)]
print("first labels of epoch 1 / epoch 2:", first[0], first[11])

# %% [markdown]
# ## Batch, stochastic and mini-batch on the same problem
#
# Each method trains with plain `gdt.sgd` for a number of epochs in one compiled
# call: every epoch is a `gdt.toolkit.scan_epoch` over freshly shuffled mini-batches.
# After every step we record the loss on the whole training set (for the plots
# only; it is timed separately, without that extra work).


# %%
def make_train(batch_size, learning_rate, epochs, record_full_loss):
    opt = gdt.sgd(learning_rate)

    def step(carry, batch, mask):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch, mask)
        updates, state = opt.update(grads, state, params)
        params = gdt.apply_updates(params, updates)
        return (params, state), (loss_fn(params, X, Y) if record_full_loss else loss)

    @jax.jit
    def train(params):
        def epoch(carry, e):
            key = jax.random.fold_in(k_train, e)
            return gdt.toolkit.scan_epoch(step, carry, (X, Y), batch_size, key=key, drop_last=False)

        (params, _), losses = jax.lax.scan(epoch, (params, opt.init(params)), jnp.arange(epochs))
        return params, losses.reshape(-1)

    return train


methods = {  # name: (B, learning rate, epochs)
    "batch (B = m = 1024)": (m, 1.0, 150),
    "mini-batch (B = 64)": (64, 0.5, 15),
    "stochastic (B = 1)": (1, 0.05, 3),
}
curves, seconds_per_step, trains = {}, {}, {}
for name, (B, lr, epochs) in methods.items():
    trains[name] = make_train(B, lr, epochs, record_full_loss=True)
    curves[name] = np.asarray(trains[name](params0)[1])
    timed_run = make_train(B, lr, epochs, record_full_loss=False).lower(params0).compile()
    start = time.perf_counter()
    jax.block_until_ready(timed_run(params0))
    seconds_per_step[name] = (time.perf_counter() - start) / len(curves[name])

# The best possible training loss, for reference: 20 x 150 more exact steps.
params = params0
for _ in range(20):
    params, losses = trains["batch (B = m = 1024)"](params)
best = float(losses[-1])
for name, curve in curves.items():
    print(f"{name:22s} {len(curve):5d} steps, {1e6 * seconds_per_step[name]:7.1f} us/step, "
          f"final loss {curve[-1]:.4f} (best {best:.4f})")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for name, curve in curves.items():
    steps = np.arange(1, len(curve) + 1)
    ax1.loglog(steps, curve - best, lw=1, label=name)
    ax2.loglog(steps * seconds_per_step[name] * 1e3, curve - best, lw=1, label=name)
ax1.set(xlabel="step", ylabel="training loss - best", title="against steps")
ax2.set(xlabel="wall time (ms, compiled, excluding compilation)", title="against wall time")
for ax in (ax1, ax2):
    ax.grid(True, which="both", alpha=0.3)
ax1.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Per *step*, batch gradient descent is the best: every step uses the exact
# gradient. But every step touches all $m$ examples, so per unit of *time* the
# mini-batch steps, which touch $B$ each, get further. Stochastic gradient descent
# takes the cheapest steps, yet a step on one example is not $64\times$ cheaper than
# a step on 64 (vectorized arithmetic is nearly free), and its path is so noisy
# that it must use a small learning rate and never settles.
#
# ## The noise of each
#
# A mini-batch gradient is an unbiased estimate of the full gradient; its error
# shrinks like $1/\sqrt{B}$ (times $\sqrt{(m-B)/(m-1)}$, since the batch is drawn
# without replacement from $m$ examples: zero at $B = m$). Measured at the initial
# parameters over 200 random batches per size, all in one `vmap`ped call (a batch
# of $B$ examples is a 0/1 mask over the data, so $B$ can be an array):

# %%
full_grad = jax.grad(loss_fn)(params0, X, Y)


def grad_error(key, B):
    """|g_B - g| for one random mini-batch of B examples (B may be traced)."""
    rank = jnp.argsort(jax.random.permutation(key, m))  # a random order of the examples
    g = jax.grad(loss_fn)(params0, X, Y, mask=(rank < B).astype(X.dtype))
    return jnp.sqrt(sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(full_grad))))


sizes = jnp.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
keys = jax.random.split(jax.random.PRNGKey(2), 200)
rms = jax.jit(jax.vmap(lambda B: jnp.sqrt(jnp.mean(jax.vmap(grad_error, (0, None))(keys, B) ** 2))))
errors = np.asarray(rms(sizes))
sizes = np.asarray(sizes)
theory = errors[0] * np.sqrt((m - sizes) / (m - 1) / sizes)

fig, ax = plt.subplots(figsize=(6.5, 3))
ax.loglog(sizes[:-1], errors[:-1], "o", label="measured")
ax.loglog(sizes[:-1], theory[:-1], "--", color="0.4", label=r"$\propto \sqrt{(m-B)/((m-1)B)}$")
ax.set(xlabel="batch size B", ylabel="|g_B - g| (rms)", title=f"gradient noise (B = m = {m}: {errors[-1]:.0e})")
ax.legend(fontsize=8)
ax.grid(True, which="both", alpha=0.3)
plt.show()
np.testing.assert_allclose(errors[:-1], theory[:-1], rtol=0.2)

# %% [markdown]
# ## Which batch size?
#
# The notes' advice: with $m \le 2000$ examples use batch gradient descent;
# otherwise a power of two, 64, 128, 256 or 512, whose batch fits in the memory of
# the CPU/GPU. `gdt.toolkit.batch_size_advice` applies it.

# %%
print(gdt.toolkit.batch_size_advice(1024))
print(gdt.toolkit.batch_size_advice(50_000))
# 50 000 images whose step needs ~1 MB each (activations and their gradients), 300 MB free:
print(gdt.toolkit.batch_size_advice(50_000, bytes_per_example=1_000_000, memory_bytes=300_000_000))
print(gdt.toolkit.batch_size_advice(50_000, bytes_per_example=1_000_000, memory_bytes=40_000_000))
assert gdt.toolkit.batch_size_advice(1024).batch_size == 1024
assert gdt.toolkit.batch_size_advice(50_000, bytes_per_example=1_000_000, memory_bytes=300_000_000).batch_size == 256
