# %% [markdown]
# # 10. Recent optimizers on one small problem: AdamW, Muon, schedule-free, Prodigy, ADOPT
#
# `gdt.contrib` holds the optimizers people reach for now. Here five of them
# train the same two-hidden-layer MLP on scikit-learn's digits, from the same
# initial weights and the same mini-batches, for the same number of steps:
#
# - **AdamW** with warmup and cosine decay, the usual baseline;
# - **Muon**, which orthogonalises the momentum of every weight matrix with a
#   few Newton-Schulz iterations (vectors and biases go to AdamW);
# - **schedule-free AdamW**, which needs no decay schedule: it averages its
#   iterates, and the averaged weights (`schedule_free_eval_params`) are the ones
#   to evaluate;
# - **Prodigy**, which estimates its own step size (learning rate 1.0 is the
#   intended setting);
# - **ADOPT**, Adam with the second moment taken from the previous step.
#
# On a problem this small every optimizer learns; what differs is how fast.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72})

digits = load_digits()
x_all = (digits.data / 16.0).astype(np.float32)
y_all = digits.target
perm = np.random.default_rng(0).permutation(len(y_all))
x_train, y_train = jnp.asarray(x_all[perm[:1400]]), jnp.asarray(y_all[perm[:1400]])
x_val, y_val = jnp.asarray(x_all[perm[1400:]]), jnp.asarray(y_all[perm[1400:]])


def init_mlp(key, sizes=(64, 128, 128, 10)):
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), "b": jnp.zeros(b)}
        for k, a, b in zip(keys, sizes[:-1], sizes[1:])
    ]


def mlp(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
    return jnp.mean(gdt.losses.softmax_cross_entropy_with_integer_labels(mlp(params, x), y))


params0 = init_mlp(jax.random.key(0))
STEPS, BATCH = 400, 64
batches = jax.random.randint(jax.random.key(1), (STEPS, BATCH), 0, len(y_train))

# %% [markdown]
# Every optimizer runs in one compiled `lax.scan`. Schedule-free AdamW is
# evaluated at its averaged weights, as its paper prescribes.

# %%
warmup_cosine = gdt.warmup_cosine_decay_schedule(0.0, 3e-3, 40, STEPS)
racers = {
    "AdamW (warmup + cosine)": gdt.adamw(warmup_cosine, weight_decay=1e-4),
    "Muon": gdt.contrib.muon(0.02, adam_learning_rate=3e-3),
    "schedule-free AdamW": gdt.contrib.schedule_free_adamw(3e-3, warmup_steps=40),
    "Prodigy (lr 1.0)": gdt.contrib.prodigy(1.0),
    "ADOPT": gdt.contrib.adopt(3e-3),
}


def race(opt):
    def step(carry, idx):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, x_train[idx], y_train[idx])
        updates, state = opt.update(grads, state, params)
        return (gdt.apply_updates(params, updates), state), loss

    (params, state), losses = jax.lax.scan(step, (params0, opt.init(params0)), batches)
    return params, state, losses


results = {}
for name, opt in racers.items():
    params, state, losses = jax.jit(lambda o=opt: race(o))()
    if name.startswith("schedule-free"):
        params = gdt.contrib.schedule_free_eval_params(state, params)
    logits = mlp(params, x_val)
    val_loss = float(jnp.mean(gdt.losses.softmax_cross_entropy_with_integer_labels(logits, y_val)))
    val_acc = float(jnp.mean(jnp.argmax(logits, -1) == y_val))
    results[name] = (np.asarray(losses), val_loss, val_acc)
    print(f"{name:26s} final train loss {float(losses[-20:].mean()):.4f}  val loss {val_loss:.4f}  val acc {val_acc:.1%}")

# %% [markdown]
# Every racer must have learned the digits (better than 90% on the 397
# held-out images), and the curves show how fast each got there.

# %%
for name, (_, val_loss, val_acc) in results.items():
    assert val_acc > 0.9, (name, val_acc)
    assert np.isfinite(val_loss), name

fig, ax = plt.subplots(figsize=(7, 4))
for name, (losses, _, _) in results.items():
    smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
    ax.plot(np.arange(len(smooth)) + 20, smooth, label=name)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("training loss (20-step mean)")
ax.set_title("Five optimizers, one MLP on digits, the same batches")
ax.legend()
plt.show()
