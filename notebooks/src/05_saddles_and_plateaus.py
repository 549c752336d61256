# %% [markdown]
# # 5. Local optima, saddle points and plateaus
#
# The classic picture of optimization is a landscape full of bad local minima. In
# the high-dimensional spaces of neural networks a point where the gradient is
# zero is far more often a **saddle point**: a minimum along some directions and a
# maximum along others, and with thousands of directions it is unlikely that all
# of them curve up. What really slows learning are saddles and **plateaus**, long
# stretches where the gradient is nearly zero. Momentum, RMSprop and Adam help to
# leave them: momentum builds up speed on a gentle slope, and RMSprop/Adam divide
# the gradient by its own recent size, so a tiny gradient still makes a step of
# about the learning rate.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (8, 3.2)})


def run_paths(optimizers, f, x0, steps):
    """`gdt.toolkit.surfaces.run_path` for every optimizer of a dict, compiled together as one program.

    Returns name -> the points visited, `[steps + 1, *x0.shape]`.
    """
    paths = jax.jit(lambda x0: [gdt.toolkit.surfaces.run_path(opt, f, x0, steps).points for opt in optimizers.values()])(x0)
    return dict(zip(optimizers, paths))


def first_step_below(losses, level):
    """The first step at which the loss is below `level`, as text."""
    hit = np.flatnonzero(np.asarray(losses) < level)
    return str(hit[0]) if hit.size else f"not within {len(losses) - 1} steps"


# %% [markdown]
# ## In many dimensions, critical points are saddles
#
# A crude model: at a critical point the Hessian is a random symmetric matrix
# (Gaussian entries). It is a minimum only if *all* its eigenvalues are positive.
# The fraction of such points collapses as the dimension grows.

# %%
rng = np.random.default_rng(0)
dims = np.arange(1, 9)
fractions = []
for n in dims:
    a = rng.normal(size=(20_000, n, n))
    eig = np.linalg.eigvalsh((a + a.transpose(0, 2, 1)) / 2)
    fractions.append(np.mean(np.all(eig > 0, axis=1)))
for n, frac in zip(dims, fractions):
    print(f"dimension {n}: {100 * frac:6.3f} % of random critical points are minima")

fig, ax = plt.subplots(figsize=(6, 2.6))
ax.semilogy(dims, np.maximum(fractions, 1e-5), "o-")
ax.set(xlabel="dimension", ylabel="fraction that are minima", title="the rest are saddles (or maxima)")
ax.grid(True)
plt.show()

# %% [markdown]
# ## Escaping a saddle
#
# $f(x, y) = x^2/2 + y^4/4 - y^2/2$ has a saddle at the origin and two minima at
# $(0, \pm 1)$ with $f = -1/4$. We start at $(1, 10^{-6})$, almost exactly on the
# ridge that leads into the saddle: the pull away from it, along $y$, is about
# $10^{-6}$. Plain gradient descent grows $y$ by a factor $(1 + \eta)$ per step, so it
# needs about $\ln(10^6)/\ln(1.1) \approx 145$ steps at $\eta = 0.1$ to notice the
# way out.


# %%
def saddle(p):
    return p[0] ** 2 / 2 + p[1] ** 4 / 4 - p[1] ** 2 / 2


optimizers = {
    "SGD (lr 0.1)": gdt.sgd(0.1),
    "Momentum (lr 0.1, 0.9)": gdt.sgd(0.1, momentum=0.9),
    "Nesterov (lr 0.1, 0.9)": gdt.sgd(0.1, momentum=0.9, nesterov=True),
    "AdaGrad (lr 0.1)": gdt.adagrad(0.1),
    "RMSprop (lr 0.01)": gdt.rmsprop(0.01),
    "Adam (lr 0.05)": gdt.adam(0.05),
}
x0 = jnp.array([1.0, 1e-6])
paths = run_paths(optimizers, saddle, x0, 250)

print("steps until f < -0.2 (near a minimum):")
for name, path in paths.items():
    print(f"  {name:24s} {first_step_below(jax.vmap(saddle)(path), -0.2)}")

x, y = np.meshgrid(np.linspace(-1.2, 1.2, 150), np.linspace(-1.5, 1.5, 150))
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
ax1.contour(x, y, x**2 / 2 + y**4 / 4 - y**2 / 2, levels=15, colors="0.75", linewidths=0.7)
for name, path in paths.items():
    ax1.plot(path[:, 0], path[:, 1], lw=1.3, label=name)
    ax2.semilogy(np.abs(np.asarray(path[:, 1])), lw=1.3, label=name)
ax1.plot(0, 0, "kx")
ax1.set(xlabel="x", ylabel="y", title="paths from (1, 1e-6)")
ax2.set(xlabel="step", ylabel="|y| (distance from the ridge)", title="leaving the saddle")
ax2.grid(True)
ax2.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# On the log scale plain SGD's $|y|$ is a straight line: exponential growth at a
# slow rate set by the small negative curvature. Momentum multiplies that rate.
# RMSprop and Adam leave at once: they divide the $y$ gradient by its own (tiny)
# size, so from the first step on they move $y$ by about the learning rate; what
# is left is the walk to the minimum, about $1/\eta$ steps. Adam adds momentum to
# that and is out first. AdaGrad with its default `initial_accumulator_value=0.1`
# does *not* normalize a gradient this small (the $h_0$ term dominates, see the
# plateau below) and grows exponentially like momentum.
#
# Exactly *on* the ridge ($y = 0$) the gradient has no $y$ component at all and no
# optimizer can leave; it is the noise of mini-batch gradients that pushes real
# training off such ridges.

# %%
for name, path in run_paths(optimizers, saddle, jnp.array([1.0, 0.0]), 250).items():
    end = path[-1]
    print(f"{name:24s} from (1, 0) ends at ({float(end[0]):.1e}, {float(end[1]):.1e})")
    assert float(end[1]) == 0.0

# %% [markdown]
# ## Crossing a plateau
#
# $f(w) = 1 - \exp(-(w - 5)^2/2)$ is a well at $w = 5$ surrounded by an almost flat
# plateau at height 1. From $w = 1$ the slope is only $4e^{-8} \approx 0.0013$.


# %%
def plateau(w):
    return 1.0 - jnp.exp(-((w[0] - 5.0) ** 2) / 2)


optimizers = {
    "SGD (lr 0.5)": gdt.sgd(0.5),
    "Momentum (lr 0.5, 0.9)": gdt.sgd(0.5, momentum=0.9),
    "AdaGrad (lr 0.5)": gdt.adagrad(0.5),
    "AdaGrad (lr 0.5, h0 = 0)": gdt.adagrad(0.5, initial_accumulator_value=0.0),
    "RMSprop (lr 0.05)": gdt.rmsprop(0.05),
    "Adam (lr 0.1)": gdt.adam(0.1),
}
paths = run_paths(optimizers, plateau, jnp.array([1.0]), 300)

print("steps until f < 0.05 (inside the well):")
for name, path in paths.items():
    print(f"  {name:26s} {first_step_below(jax.vmap(plateau)(path), 0.05)}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
w = jnp.linspace(0, 8, 200)
ax1.plot(w, jax.vmap(plateau)(w[:, None]), color="k")
ax1.axvline(1.0, color="0.6", ls=":")
ax1.set(xlabel="w", ylabel="f(w)", title="a plateau around a well (start: dotted)")
for name, path in paths.items():
    ax2.plot(jax.vmap(plateau)(path), lw=1.3, label=name)
ax2.set(xlabel="step", ylabel="f", title="crossing the plateau")
ax2.legend(fontsize=7)
for ax in (ax1, ax2):
    ax.grid(True)
fig.tight_layout()
plt.show()

# %% [markdown]
# SGD barely moves in 300 steps: its step is the learning rate times a gradient of
# about 0.001. Momentum keeps adding up those small gradients, so its step grows to
# about $\eta/(1-\beta) = 10\eta$ times the gradient. RMSprop and Adam normalize the
# gradient and walk across the plateau at about the learning rate per step. AdaGrad
# also normalizes, but by $\sqrt{h_0 + \sum g^2}$: with the usual
# `initial_accumulator_value=0.1` the $h_0$ term dominates a tiny gradient and
# AdaGrad behaves like SGD with a rate about $3\times$ larger; with $h_0 = 0$ it
# normalizes from the first step and crosses fastest, before its rate decays.
