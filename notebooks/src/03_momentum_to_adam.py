# %% [markdown]
# # 3. Momentum, Nesterov, AdaGrad, RMSprop, Adam: visual logs
#
# The notes compare optimizers by drawing their paths on
# $f(x, y) = x^2/20 + y^2$ from the same start $(-7, 2)$: a bowl 20 times steeper
# in $y$ than in $x$. Plain gradient descent zig-zags across the steep direction;
# momentum averages the zig-zag away and rolls like a ball; AdaGrad and RMSprop
# divide each coordinate by its own gradient scale, so they head straight for the
# minimum; Adam combines both. Every optimizer here is one `gdtransforms` alias
# (`gdt.sgd`, `gdt.adagrad`, `gdt.rmsprop`, `gdt.adam`, `gdt.ema_momentum`), and
# every path is one `jax.lax.scan` (`gdt.toolkit.surfaces.run_path`) on one of the toolkit's
# surfaces (`gdt.toolkit.surfaces.elongated_bowl`, `gdt.toolkit.surfaces.rosenbrock`).

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72, "axes.grid": False})


def run_paths(optimizers, f, x0, steps):
    """`gdt.toolkit.surfaces.run_path` for every optimizer of a dict, compiled together as one program.

    Returns name -> the points visited, `[steps + 1, *x0.shape]`.
    """
    paths = jax.jit(lambda x0: [gdt.toolkit.surfaces.run_path(opt, f, x0, steps).points for opt in optimizers.values()])(x0)
    return dict(zip(optimizers, paths))


def contour(ax, f, xlim, ylim, levels):
    x, y = np.meshgrid(np.linspace(*xlim, 200), np.linspace(*ylim, 200))
    z = np.asarray(jax.vmap(f)(jnp.stack([x.ravel(), y.ravel()], axis=1))).reshape(x.shape)
    ax.contour(x, y, z, levels=levels, colors="0.75", linewidths=0.7)
    ax.set(xlim=xlim, ylim=ylim)


bowl = gdt.toolkit.surfaces.elongated_bowl  # the toolkit's surface: f(p) = p[0]**2 / 20 + p[1]**2


# %% [markdown]
# ## The visual logs on $x^2/20 + y^2$
#
# 30 steps each, with the learning rates the notes use (SGD 0.95, momentum 0.1,
# AdaGrad 1.5, Adam 0.3), plus Nesterov momentum and RMSprop.

# %%
optimizers = {
    "SGD (lr 0.95)": gdt.sgd(0.95),
    "Momentum (lr 0.1, 0.9)": gdt.sgd(0.1, momentum=0.9),
    "Nesterov (lr 0.1, 0.9)": gdt.sgd(0.1, momentum=0.9, nesterov=True),
    "AdaGrad (lr 1.5)": gdt.adagrad(1.5, initial_accumulator_value=0.0),
    "RMSprop (lr 0.15)": gdt.rmsprop(0.15),
    "Adam (lr 0.3)": gdt.adam(0.3),
}
x0 = jnp.array([-7.0, 2.0])
paths = run_paths(optimizers, bowl, x0, 30)

fig, axes = plt.subplots(2, 3, figsize=(10, 5.4), sharex=True, sharey=True)
for ax, (name, path) in zip(axes.ravel(), paths.items()):
    contour(ax, bowl, (-10, 10), (-5, 5), levels=np.linspace(0.5, 25, 12) ** 1.3 / 6)
    ax.plot(path[:, 0], path[:, 1], "o-", color="tab:red", ms=3, lw=1)
    ax.plot(0, 0, "+", color="k", ms=10)
    ax.set_title(f"{name}\nf after 30 steps = {float(bowl(path[-1])):.2g}", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# SGD zig-zags across the steep $y$ direction while creeping along $x$. Momentum
# rolls past the minimum and swings back; Nesterov's look-ahead gradient damps the
# swing. AdaGrad's first step is $-\eta\,\mathrm{sign}(g)$ in *both* coordinates (a
# 45° line), then it goes straight with ever smaller steps (it divides by the sum
# of *all* past squared gradients). RMSprop divides by a moving average of recent
# squared gradients instead, so it also goes straight. Adam rolls like momentum
# with less side-to-side swing.

# %% [markdown]
# ## The two forms of momentum differ only by a rescaled learning rate
#
# The lectures write momentum as an EWA, $v \leftarrow \beta v + (1-\beta) g$,
# $\theta \leftarrow \theta - \alpha v$ (`gdt.ema_momentum`). The heavy-ball form
# (`gdt.sgd(..., momentum=...)`, optax's `trace`) is
# $v \leftarrow \mu v + g$, $\theta \leftarrow \theta - \eta v$. With $\beta = \mu$ the
# EWA buffer is exactly $(1-\beta)$ times the heavy-ball buffer, so the two take the
# same steps when $\alpha (1-\beta) = \eta$, i.e. $\alpha = \eta / (1-\beta)$: with
# $\beta = 0.9$, heavy-ball $\eta = 0.1$ is EMA $\alpha = 1.0$. Same number, different
# form: EMA $\alpha = 0.1$ takes steps 10 times smaller.

# %%
beta, eta = 0.9, 0.1
forms = {
    "heavy ball": gdt.sgd(eta, momentum=beta),
    "EMA, same steps": gdt.ema_momentum(eta / (1 - beta), beta=beta),
    "EMA, same number": gdt.ema_momentum(eta, beta=beta),
}
heavy_ball, ema_same_steps, ema_same_number = run_paths(forms, bowl, x0, 60).values()
gap = jnp.max(jnp.abs(heavy_ball - ema_same_steps), axis=1)
print(f"largest gap between the two forms over 60 steps: {float(gap.max()):.1e}")
np.testing.assert_allclose(heavy_ball, ema_same_steps, atol=1e-5)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
contour(ax1, bowl, (-10, 10), (-5, 5), levels=np.linspace(0.5, 25, 12) ** 1.3 / 6)
ax1.plot(heavy_ball[:, 0], heavy_ball[:, 1], "-", color="tab:blue", lw=3, alpha=0.5, label=r"heavy ball, $\eta$ = 0.1")
ax1.plot(ema_same_steps[:, 0], ema_same_steps[:, 1], "x", color="tab:red", ms=4, label=r"EMA form, $\alpha$ = 1.0")
ax1.plot(ema_same_number[:, 0], ema_same_number[:, 1], "--", color="tab:green", label=r"EMA form, $\alpha$ = 0.1")
ax1.legend(fontsize=8, loc="lower right")
ax1.set_title(r"$\beta = \mu = 0.9$: same path when $\alpha = \eta/(1-\beta)$", fontsize=9)
ax2.semilogy(np.maximum(np.asarray(gap), 1e-9), color="tab:red")
ax2.set(xlabel="step", ylabel="largest |difference|", title="heavy ball vs EMA form (float32 rounding)")
ax2.title.set_fontsize(9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Rosenbrock's banana valley
#
# $f(x, y) = (1-x)^2 + 100\,(y - x^2)^2$ has its minimum at $(1, 1)$ at the end of a
# long, curved, flat-bottomed valley: the walls are steep, the floor almost flat.
# 3000 steps from $(-1.5, 2)$; the learning rates are near the largest that are
# stable for each method.


# %%
rosenbrock = gdt.toolkit.surfaces.rosenbrock
optimizers = {
    "SGD (lr 1e-3)": gdt.sgd(1e-3),
    "Momentum (lr 1e-3, 0.9)": gdt.sgd(1e-3, momentum=0.9),
    "Nesterov (lr 1e-3, 0.9)": gdt.sgd(1e-3, momentum=0.9, nesterov=True),
    "AdaGrad (lr 0.5)": gdt.adagrad(0.5),
    "RMSprop (lr 3e-3)": gdt.rmsprop(3e-3),
    "Adam (lr 0.05)": gdt.adam(0.05),
}
x0 = jnp.array([-1.5, 2.0])
paths = run_paths(optimizers, rosenbrock, x0, 3000)

fig, axes = plt.subplots(2, 3, figsize=(10, 5.6), sharex=True, sharey=True)
for ax, (name, path) in zip(axes.ravel(), paths.items()):
    contour(ax, rosenbrock, (-2, 2), (-1, 3), levels=np.logspace(-0.5, 3.2, 9))
    ax.plot(path[:, 0], path[:, 1], "-", color="tab:red", lw=1)
    ax.plot(path[::300, 0], path[::300, 1], "o", color="tab:red", ms=3)
    ax.plot(1, 1, "*", color="k", ms=10)
    ax.set_title(f"{name}\nf after 3000 steps = {float(rosenbrock(path[-1])):.1e}", fontsize=9)
fig.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(8, 3.2))
for name, path in paths.items():
    ax.semilogy(jax.vmap(rosenbrock)(path), label=name, lw=1.2)
ax.set(xlabel="step", ylabel="f", title="Rosenbrock: loss against step (dots on the paths: every 300 steps)")
ax.legend(fontsize=8, ncol=2)
ax.grid(True)
plt.show()

# %% [markdown]
# Plain SGD and AdaGrad are still crawling along the valley floor after 3000 steps
# (AdaGrad's rates only shrink). Momentum and Nesterov build up speed along the
# floor; Adam gets there fastest (the floor at $10^{-12}$ is float32 precision).
# RMSprop gets down into the valley fast, then creeps along the floor, and a
# larger rate does not help: with lr 1e-2 it jitters across the floor at
# $f \approx 0.02$ and stops improving, because its normalized steps stay about
# the learning rate in size. Lowering the rate as training goes on is the cure:
# learning-rate decay, notebook 4.

# %%
losses = gdt.toolkit.surfaces.run_path(gdt.rmsprop(1e-2), rosenbrock, x0, 3000).values
print("RMSprop, lr 1e-2: f after 1000 / 2000 / 3000 steps =", ", ".join(f"{float(losses[t]):.4f}" for t in (1000, 2000, 3000)))
