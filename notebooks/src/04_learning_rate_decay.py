# %% [markdown]
# # 4. Learning-rate decay
#
# With mini-batches the gradient is noisy, so even near the minimum every step
# jumps around. A constant learning rate that is large enough to make fast
# progress at the start keeps the parameters wandering in a wide region around
# the minimum at the end. **Decaying** the rate, large steps early and small
# steps late, lets training settle. The notes list several decay rules
# (`epoch_num` counts from 1):
#
# | rule | formula |
# |---|---|
# | inverse time | $\alpha = \alpha_0 / (1 + \text{decay\_rate} \cdot \text{epoch\_num})$ |
# | exponential | $\alpha = 0.95^{\text{epoch\_num}}\, \alpha_0$ |
# | inverse square root, per epoch | $\alpha = k\, \alpha_0 / \sqrt{\text{epoch\_num}}$ |
# | inverse square root, per mini-batch | $\alpha = k\, \alpha_0 / \sqrt{t}$ |
# | discrete staircase | a different constant in each interval of steps |
# | manual decay | a person lowers the rate while training runs |
# | cyclic | raise and lower the rate periodically (helps leave saddle points) |
#
# In gdtransforms a schedule is a function of the step count; pass it wherever a
# learning rate goes. `gdt.epoch_schedule` turns a rule written in epochs into a
# function of the step.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72})

alpha0, S = 0.2, 50  # initial rate, mini-batches per epoch
steps = jnp.arange(10 * S)
schedules = {
    "inverse time (decay_rate 1)": gdt.epoch_schedule(gdt.inverse_time_decay(alpha0, 1.0, decay_steps=1), S),
    "exponential (0.95 per epoch)": gdt.epoch_schedule(gdt.exponential_decay(alpha0, 1, 0.95), S),
    "k / sqrt(epoch_num), k = 1": gdt.inverse_sqrt_decay(alpha0, decay_steps=S, staircase=True),
    "k / sqrt(t) per mini-batch": gdt.inverse_sqrt_decay(alpha0, decay_steps=1),
    "discrete staircase": gdt.piecewise_constant_schedule(alpha0, {100: 0.5, 200: 0.5, 350: 0.2}),
    "cosine decay (optax's)": gdt.cosine_decay_schedule(alpha0, decay_steps=10 * S),
    "warmup + cosine (optax's)": gdt.warmup_cosine_decay_schedule(0.0, alpha0, 50, 10 * S),
    "cyclic (triangular)": gdt.cyclic_schedule(0.01, alpha0, step_size_up=S),
}
fig, axes = plt.subplots(2, 4, figsize=(11, 4.4), sharex=True, sharey=True)
for ax, (name, schedule) in zip(axes.ravel(), schedules.items()):
    ax.plot(steps, jax.vmap(schedule)(steps), color="tab:blue")
    for e in range(1, 10):
        ax.axvline(e * S, color="0.9", lw=0.8, zorder=0)
    ax.set_title(name, fontsize=9)
for ax in axes[1]:
    ax.set_xlabel("step (gray lines: epochs)")
for ax in axes[:, 0]:
    ax.set_ylabel("learning rate")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The check table
#
# The notes' example: $\alpha_0 = 0.2$, decay_rate $= 1$. During epoch 1 the rate
# is $0.2/2 = 0.1$, during epoch 2 $0.2/3 = 0.067$, and so on.

# %%
inverse_time = schedules["inverse time (decay_rate 1)"]
print("epoch | alpha")
for epoch in range(1, 5):
    values = {float(inverse_time(c)) for c in range((epoch - 1) * S, epoch * S)}
    assert len(values) == 1  # constant within the epoch
    print(f"{epoch:5d} | {values.pop():.3f}")
np.testing.assert_allclose(
    [inverse_time((e - 1) * S) for e in range(1, 5)], [0.1, 0.2 / 3, 0.05, 0.04], rtol=1e-6
)

# %% [markdown]
# ## Decay in action
#
# Linear regression with mini-batches of 8: with a constant rate the loss stops
# falling at a noise floor; the same initial rate with inverse-time decay keeps
# going down. A schedule is just the `learning_rate` argument.

# %%
rng = np.random.default_rng(0)
x_np = rng.normal(size=(1024, 10))
y_np = x_np @ rng.normal(size=10) + 0.5 * rng.normal(size=1024)
X, Y = jnp.asarray(x_np, jnp.float32), jnp.asarray(y_np, jnp.float32)
k_batches = jax.random.PRNGKey(0)

def mse(w, x, y):
    return jnp.mean((x @ w - y) ** 2)


def train(opt, num_steps=10 * S, batch=8):
    """Mini-batch SGD; returns the full-data loss after every step."""

    def step(carry, key):
        w, state = carry
        idx = jax.random.randint(key, (batch,), 0, X.shape[0])
        updates, state = opt.update(jax.grad(mse)(w, X[idx], Y[idx]), state, w)
        w = gdt.apply_updates(w, updates)
        return (w, state), mse(w, X, Y)

    w0 = jnp.zeros(10)
    _, losses = jax.lax.scan(step, (w0, opt.init(w0)), jax.random.split(k_batches, num_steps))
    return losses


runs = {
    "constant 0.05": gdt.sgd(0.05),
    "constant 0.005": gdt.sgd(0.005),
    "0.05, inverse time decay": gdt.sgd(gdt.epoch_schedule(gdt.inverse_time_decay(0.05, 1.0, decay_steps=1), S)),
}
losses = dict(zip(runs, jax.jit(lambda: [train(opt) for opt in runs.values()])()))
best = float(mse(jnp.asarray(np.linalg.lstsq(x_np, y_np, rcond=None)[0], jnp.float32), X, Y))

fig, ax = plt.subplots(figsize=(8, 3.2))
for name, curve in losses.items():
    ax.semilogy(curve - best, lw=1, label=f"{name}: final {float(curve[-1] - best):.1e}")
ax.set(xlabel="step", ylabel="loss - best possible loss", title="mini-batch SGD with and without decay")
ax.legend(fontsize=8)
ax.grid(True)
plt.show()

# %% [markdown]
# The large constant rate is fast at first, then wanders at its noise floor; the
# small one is quiet but slow. The decayed rate is both: fast early, settled late.
#
# ## Manual decay while training runs, without recompiling
#
# `gdt.inject_hyperparams` moves an optimizer's hyperparameters into its state.
# Changing `state.hyperparams["learning_rate"]` between steps changes the rate of
# the *same* compiled step function. The counter below counts how often JAX traces
# (compiles) the step.

# %%
opt = gdt.inject_hyperparams(gdt.sgd)(learning_rate=0.05)
traces = 0


@jax.jit
def sgd_step(w, state, key):
    global traces
    traces += 1  # runs only while JAX traces the function
    idx = jax.random.randint(key, (8,), 0, X.shape[0])
    updates, state = opt.update(jax.grad(mse)(w, X[idx], Y[idx]), state, w)
    w = gdt.apply_updates(w, updates)
    return w, state, mse(w, X, Y)


w = jnp.zeros(10)
state = opt.init(w)
manual, rates = [], []
for t, key in enumerate(jax.random.split(k_batches, 10 * S)):
    if t in (150, 300):  # "the loss has flattened: lower the rate"
        state.hyperparams["learning_rate"] = state.hyperparams["learning_rate"] * 0.2
    w, state, loss = sgd_step(w, state, key)
    manual.append(loss)
    rates.append(state.hyperparams["learning_rate"])
manual, rates = np.asarray(manual) - best, np.asarray(rates)
print(f"the step function was compiled {traces} time(s) for {len(manual)} steps and 3 learning rates")
assert traces == 1

fig, ax1 = plt.subplots(figsize=(8, 3.2))
ax1.semilogy(manual, lw=1, label="loss - best (manual decay)")
ax1.semilogy(losses["constant 0.05"] - best, lw=1, alpha=0.5, label="loss - best (constant 0.05)")
ax1.set(xlabel="step", ylabel="loss - best possible loss")
ax2 = ax1.twinx()
ax2.plot(rates, color="k", ls="--", label="learning rate")
ax2.set_ylabel("learning rate")
fig.legend(loc="upper right", fontsize=8, bbox_to_anchor=(0.9, 0.88))
ax1.set_title("manual decay: lower the rate by hand at steps 150 and 300")
plt.show()

# %% [markdown]
# ## A cyclic rate helps leave a saddle
#
# On $f(x, y) = 5x^2 + y^4/4 - y^2/2$ (a saddle at the origin, steep in $x$) plain
# gradient descent from $(1, 10^{-6})$ leaves the saddle at a speed set by the
# learning rate, but a large constant rate is unstable in the steep $x$
# direction ($\eta < 2/10$). A cyclic rate that rises to 0.19 for short stretches
# and falls back to 0.01 leaves the saddle much sooner than the constant 0.01,
# and still takes small steps at the bottom of every cycle.


# %%
def saddle(p):
    return 5 * p[0] ** 2 + p[1] ** 4 / 4 - p[1] ** 2 / 2


def descend(opt, num_steps=400):
    def step(carry, _):
        p, state = carry
        updates, state = opt.update(jax.grad(saddle)(p), state, p)
        p = gdt.apply_updates(p, updates)
        return (p, state), (saddle(p), p[1])

    p0 = jnp.array([1.0, 1e-6])
    return jax.lax.scan(step, (p0, opt.init(p0)), None, length=num_steps)[1]


cyclic = gdt.cyclic_schedule(0.01, 0.19, step_size_up=25)
curves = jax.jit(lambda: [descend(gdt.sgd(0.01)), descend(gdt.sgd(cyclic))])()
for name, (curve, _) in zip(["constant 0.01", "cyclic 0.01 - 0.19"], curves):
    hit = np.flatnonzero(np.asarray(curve) < -0.2)
    print(f"{name:20s} f < -0.2 from step {hit[0]}" if hit.size else f"{name:20s} f < -0.2 not within 400 steps")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
ax1.plot(jax.vmap(cyclic)(jnp.arange(400)), color="tab:orange")
ax1.axhline(0.01, color="tab:blue")
ax1.set(xlabel="step", ylabel="learning rate", title="the two rates")
ax2.semilogy(jnp.abs(curves[0][1]), color="tab:blue", label="constant 0.01")
ax2.semilogy(jnp.abs(curves[1][1]), color="tab:orange", label="cyclic 0.01 - 0.19")
ax2.set(xlabel="step", ylabel="|y| (distance from the ridge)", title="leaving the saddle (the minima: |y| = 1)")
ax2.legend(fontsize=8)
for ax in (ax1, ax2):
    ax.grid(True)
fig.tight_layout()
plt.show()
