# %% [markdown]
# # 2. Exponentially weighted averages
#
# Momentum, RMSprop and Adam all keep *exponentially weighted averages* (EWAs) of
# the gradients. An EWA of a sequence $\theta_1, \theta_2, \dots$ is
#
# $$v_0 = 0, \qquad v_t = \beta\, v_{t-1} + (1 - \beta)\, \theta_t .$$
#
# It averages roughly the last $1/(1-\beta)$ values: $\beta = 0.9$ about 10,
# $\beta = 0.98$ about 50, $\beta = 0.5$ about 2. In gdtransforms the EWA is the
# primitive `gdt.ema`, the same transformation that `gdt.ema_momentum` and Adam
# are built from. Here we feed it temperatures instead of gradients.
#
# **The data.** The lecture averages a year of daily London temperatures (40 °F,
# 49 °F, 45 °F, ...). No download is possible here and no installed package ships
# such a series (scikit-learn's bundled data sets have no daily temperatures), so we
# use the documented *synthetic* year of `gdt.toolkit.daily_temperatures()`: a seasonal
# cycle $52 - 12\cos(2\pi (d - 15)/365)$ °F (coldest mid January, warmest mid
# July, like London) plus day-to-day noise of standard deviation 4 °F (`numpy`
# seed 0), starting with the lecture's 40, 49, 45 °F.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (8, 3.2), "axes.grid": True})

temps = jnp.asarray(gdt.toolkit.daily_temperatures(), dtype=jnp.float32)  # 365 days
days = np.arange(1, len(temps) + 1)
print("first days (F):", np.round(np.asarray(temps[:6]), 1))

# %% [markdown]
# One `jax.lax.scan` runs `gdt.ema` over the year; `jax.vmap` over $\beta$ computes
# the three averages of the lecture in one compiled call ($\beta$ is an ordinary
# traced array: hyperparameters need not be Python constants).


# %%
def ewa(theta, beta, debias=False):
    """v_t for every day t: gdt.ema applied to the sequence theta."""
    tx = gdt.ema(decay=beta, debias=debias)

    def step(state, x):
        v, state = tx.update(x, state)
        return state, v

    _, v = jax.lax.scan(step, tx.init(theta[0]), theta)
    return v


ewa_many = jax.jit(jax.vmap(ewa, in_axes=(None, 0, None)), static_argnums=2)
betas = jnp.array([0.9, 0.98, 0.5])
v = ewa_many(temps, betas, False)
for v_b, beta in zip(v, betas.tolist()):  # the same as the toolkit's float64 reference
    np.testing.assert_allclose(v_b, gdt.toolkit.ema_curve(np.asarray(temps), beta), rtol=1e-5)

fig, ax = plt.subplots()
ax.plot(days, temps, ".", ms=3, color="0.6", label=r"$\theta_t$ (daily)")
for v_b, beta, color in zip(v, betas.tolist(), ["tab:red", "tab:green", "gold"]):
    ax.plot(days, v_b, color=color, lw=1.6, label=rf"$\beta$ = {beta:g} (~{1 / (1 - beta):.0f} days)")
ax.set(xlabel="day of the year", ylabel="temperature (F)", title="EWA of a year of daily temperatures")
ax.legend(loc="lower center", ncol=2, fontsize=8)
plt.show()

# %% [markdown]
# $\beta = 0.98$ (green) is smooth but lags behind the seasons and starts far too low;
# $\beta = 0.5$ (yellow) follows every wiggle; $\beta = 0.9$ (red) is in between.
#
# **Why "about $1/(1-\beta)$ values".** Unrolling the recursion, the value $k$ steps
# back has weight $(1-\beta)\beta^k$. We read these weights straight off `gdt.ema` by
# feeding it one impulse followed by zeros. The weight falls to $1/e$ of its first
# value after $k = 1/(1-\beta)$ steps, because $(1-\varepsilon)^{1/\varepsilon}
# \approx 1/e$ with $\varepsilon = 1-\beta$.

# %%
impulse = jnp.zeros(120).at[0].set(1.0)
weights = ewa_many(impulse, betas, False)  # weights[b, k] = (1 - beta) beta^k
k = np.arange(120)
np.testing.assert_allclose(weights, (1 - betas[:, None]) * betas[:, None] ** k, rtol=1e-5, atol=1e-12)

print(" beta | window 1/(1-beta) | beta^(1/(1-beta)) |  1/e")
for beta in betas.tolist():
    print(f"{beta:5.2f} | {1 / (1 - beta):17.0f} | {beta ** (1 / (1 - beta)):17.3f} | {np.exp(-1):.3f}")

fig, ax = plt.subplots(figsize=(8, 2.8))
for w, beta, color in zip(weights, betas.tolist(), ["tab:red", "tab:green", "gold"]):
    ax.plot(k[:80], w[:80], color=color, label=rf"$\beta$ = {beta:g}")
    n = 1 / (1 - beta)
    ax.axvline(n, color=color, ls=":", lw=1)
ax.set(xlabel="k (steps back)", ylabel=r"weight $(1-\beta)\beta^k$", yscale="log", ylim=(1e-4, 1),
       title=r"weights read off gdt.ema (dotted: $k = 1/(1-\beta)$)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Bias correction
#
# Because $v_0 = 0$, the first averages are far too small: with $\beta = 0.98$,
# $v_1 = 0.02\,\theta_1$ and $v_2 = 0.0196\,\theta_1 + 0.02\,\theta_2$. Dividing by
# $1 - \beta^t$ fixes it: $1 - \beta^2 = 0.0396$, exactly the sum of the two weights,
# so $v_2 / (1-\beta^2)$ is a proper weighted average of $\theta_1, \theta_2$. The
# correction matters only early on: $\beta^t \to 0$ as $t$ grows.
#
# `gdt.ema(..., debias=True)` applies it inside the optimizer state;
# `gdt.bias_correction(v, beta, t)` applies it to any average.

# %%
beta = 0.98
theta_1, theta_2 = 40.0, 49.0
w1 = ewa(jnp.array([1.0, 0.0]), beta)[1]  # weight of theta_1 in v_2
w2 = ewa(jnp.array([0.0, 1.0]), beta)[1]  # weight of theta_2 in v_2
v2 = ewa(jnp.array([theta_1, theta_2]), beta)[1]
corrected = gdt.bias_correction(v2, beta, 2)
print(f"v_2 = {float(w1):.4f} theta_1 + {float(w2):.4f} theta_2 = {float(v2):.4f}")
print(f"1 - beta^2 = {1 - beta**2:.4f};  v_2 / (1 - beta^2) = {float(corrected):.3f} F")
np.testing.assert_allclose([w1, w2], [0.0196, 0.02], rtol=1e-5)
np.testing.assert_allclose(corrected, (0.0196 * theta_1 + 0.02 * theta_2) / 0.0396, rtol=1e-5)
np.testing.assert_allclose(ewa(jnp.array([theta_1, theta_2]), beta, True)[1], corrected, rtol=1e-6)

raw, debiased = ewa(temps, beta), ewa(temps, beta, True)
fig, ax = plt.subplots()
ax.plot(days[:90], temps[:90], ".", ms=4, color="0.6", label=r"$\theta_t$")
ax.plot(days[:90], raw[:90], color="tab:purple", label=r"$v_t$ ($\beta$ = 0.98, no correction)")
ax.plot(days[:90], debiased[:90], color="tab:green", label=r"$v_t / (1-\beta^t)$")
ax.set(xlabel="day of the year", ylabel="temperature (F)", title="Bias correction: the first 90 days")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Memory.** An EWA costs one number per averaged quantity: the state of `gdt.ema`
# on a scalar is one scalar (plus an `int32` step count used by the bias
# correction), whatever the length of the sequence.

# %%
print(gdt.ema(decay=0.9, debias=True).init(jnp.zeros(())))
