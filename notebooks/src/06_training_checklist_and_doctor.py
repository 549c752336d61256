# %% [markdown]
# # 6. The training checklist and the loss-curve doctor
#
# Before tuning anything, the notes' checklist catches most bugs cheaply:
#
# 1. Prepare and normalize the data (mean 0, standard deviation 1).
# 2. Choose the architecture.
# 3. **Check the initial loss** with regularization off: an $n$-class classifier
#    that knows nothing predicts about $1/n$ for every class, so its cross-entropy
#    must be about $-\log(1/n) = \log n$. With regularization on, the loss must go
#    up.
# 4. **Overfit a tiny subset**: 64 examples in batches of 16 must reach 100 %
#    training accuracy. A network that cannot memorize them has a bug.
# 5. Tune the hyperparameters with short runs (notebook 7).
#
# Then, while training, **read the loss curve**: each fault leaves its own mark.
# `gdt.toolkit.diagnose` reads a curve the way the notes do and names what it sees.
#
# The data: scikit-learn's handwritten digits (8x8 images, 10 classes, shipped
# with the package), standardized with the training set's statistics.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import gdtransforms as gdt

plt.rcParams.update({"figure.dpi": 72})

digits = load_digits()
x_all, y_all = digits.data.astype(np.float32), digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(x_all))
x_all, y_all = x_all[order], y_all[order]
N_TRAIN, N_VAL = 512, 400
x_tr, y_tr = x_all[:N_TRAIN], y_all[:N_TRAIN]
x_val, y_val = x_all[1000 : 1000 + N_VAL], y_all[1000 : 1000 + N_VAL]
mean, std = x_tr.mean(0), x_tr.std(0)
std = np.where(std > 0, std, 1.0)  # pixels that are always 0 stay 0
x_tr, x_val = (x_tr - mean) / std, (x_val - mean) / std  # step 1: normalize
x_tr, y_tr, x_val, y_val = map(jnp.asarray, (x_tr, y_tr, x_val, y_val))
print(f"train {x_tr.shape}, validation {x_val.shape}, 10 classes: log(10) = {np.log(10):.4f}")


# Step 2: an MLP 64 -> 32 -> 32 -> 10 (tanh), Xavier-initialized: std 1/sqrt(fan_in).
def init_mlp(key, scale=1.0, sizes=(64, 32, 32, 10), gain=1.0):
    """Weights ~ scale * gain / sqrt(fan_in) (gain only on the hidden layers), zero biases."""
    keys = jax.random.split(key, len(sizes) - 1)
    gains = [gain] * (len(sizes) - 2) + [1.0]
    return [
        (scale * g * jax.random.normal(k, (a, b)) / np.sqrt(a), jnp.zeros(b))
        for k, g, a, b in zip(keys, gains, sizes[:-1], sizes[1:])
    ]


def logits_fn(params, x, activation=jnp.tanh):
    for w, b in params[:-1]:
        x = activation(x @ w + b)
    return x @ params[-1][0] + params[-1][1]


def cross_entropy(logits, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


params = init_mlp(jax.random.PRNGKey(1000))

# %% [markdown]
# ## Step 3: the initial loss
#
# `gdt.toolkit.check_initial_loss` compares the loss before training with $\log n$. With
# Xavier initialization the logits are small and the loss is close to
# $\log 10$. Initial weights 10 times too large make the untrained network
# confidently wrong, and the check says by how much.

# %%
good = gdt.toolkit.check_initial_loss(cross_entropy(logits_fn(params, x_tr), y_tr), num_classes=10)
too_big = gdt.toolkit.check_initial_loss(
    cross_entropy(logits_fn(init_mlp(jax.random.PRNGKey(1000), scale=10.0), x_tr), y_tr), num_classes=10
)
print(good)
print(too_big)
assert good.passed and not too_big.passed and too_big.verdict == "too high"


# %% [markdown]
# With regularization on, the loss must go up: the L2 penalty
# $\frac{\lambda}{2B}\sum_l \|W^{[l]}\|_F^2$ of the notes adds to it.
# `gdt.toolkit.check_regularization` catches a penalty that is never added, or subtracted.

# %%
def l2_penalty(params, lam, batch_size):
    return lam / (2 * batch_size) * sum(jnp.sum(w**2) for w, _ in params)


base = cross_entropy(logits_fn(params, x_tr), y_tr)
penalty = l2_penalty(params, 0.1, N_TRAIN)
right = gdt.toolkit.check_regularization(base, base + penalty, strength=0.1)
sign_bug = gdt.toolkit.check_regularization(base, base - penalty, strength=0.1)
print(right)
print(sign_bug)
assert right.passed and sign_bug.verdict == "lowered"

# %% [markdown]
# ## Step 4: overfit a tiny subset
#
# `gdt.toolkit.overfit_tiny_subset` trains on 64 random examples in batches of 16
# (reshuffled every epoch) until it reaches 100 % training accuracy. The healthy
# network memorizes them in a few epochs. The same network with a learning rate
# 1000 times too small (a wrong unit, say) cannot, and the check says so.

# %%
key = jax.random.PRNGKey(0)
healthy = gdt.toolkit.overfit_tiny_subset(logits_fn, params, gdt.adam(1e-2), x_tr, y_tr, key=key, max_epochs=200)
too_slow = gdt.toolkit.overfit_tiny_subset(logits_fn, params, gdt.adam(1e-5), x_tr, y_tr, key=key, max_epochs=60)
print(healthy)
print(too_slow)
assert healthy.passed and not too_slow.passed

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
for result, label in ((healthy, "adam(1e-2)"), (too_slow, "adam(1e-5): 1000x too small")):
    ax1.semilogy(result.history["loss"], label=label)
    ax2.plot(100 * result.history["accuracy"], label=label)
ax1.set(xlabel="epoch", ylabel="training loss (64 examples)", title="overfitting a tiny subset")
ax2.set(xlabel="epoch", ylabel="training accuracy (%)", ylim=(0, 102))
for ax in (ax1, ax2):
    ax.grid(True)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Reading loss curves: the doctor
#
# The notes name a fault for each shape of curve. We plant one fault at a time in
# otherwise healthy training runs (the MLP above, mini-batches of 16, 640 steps =
# 20 epochs, validation every 8 steps) and let `gdt.toolkit.diagnose` read each run:
#
# | planted fault | what the curve shows | reading |
# |---|---|---|
# | none | falls, then levels off | (healthy) |
# | the gradient applied with the wrong sign | loss rising | `loss_rising` |
# | learning rate 1000x too small | slow steady decrease | `lr_too_low` |
# | data sorted by label, never reshuffled | a bump at every epoch | `epoch_bumps` |
# | Adam with `eps = 0` | ends abruptly in NaN | `overflow` (and `too_short`: nothing finite is left to read) |
# | a validation set of 8 examples | very noisy validation curve | `noisy_validation` |
# | a training set of 32 examples | training loss -> 0, validation pulls away | `overfitting` |
# | updates never applied | flat from the start | `not_learning` |
# | initial weights 30x too small | flat start, then a drop | `slow_start` |
# | softmax applied twice (deeper ReLU net, 5 seeds) | identical runs disagree | `runs_disagree` |
#
# Every fault is a traced argument of one compiled training function, so all the
# runs of a model share one compilation.

# %%
BATCH, STEPS, EVAL_EVERY = 16, 640, 8


def make_trainer(optimizer, activation):
    def loss(params, x, y, weights, double_softmax):
        z = logits_fn(params, x, activation)
        z = jnp.where(double_softmax, jax.nn.softmax(z), z)  # the planted doubled activation
        losses = -jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1)[:, 0]
        return jnp.sum(weights * losses) / jnp.sum(weights)

    @jax.jit
    def run(params, hyper, batch_idx, val_weights):
        if optimizer == "sgd":
            opt = gdt.sgd(hyper["lr"])
        else:  # a traced eps is not checked up front, like a live (injected) hyperparameter
            opt = gdt.adam(hyper["lr"], eps=hyper["eps"])

        def step(carry, idx):
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params, x_tr[idx], y_tr[idx], jnp.ones(BATCH), hyper["double"])
            grads = jax.tree.map(lambda g: hyper["sign"] * g, grads)
            updates, state = opt.update(grads, state, params)
            updates = jax.tree.map(lambda u: hyper["apply"] * u, updates)
            return (gdt.apply_updates(params, updates), state), value

        def chunk(carry, xs):
            idx, weights = xs
            carry, train = jax.lax.scan(step, carry, idx)
            return carry, (train, loss(carry[0], x_val, y_val, weights, hyper["double"]))

        idx = batch_idx.reshape(STEPS // EVAL_EVERY, EVAL_EVERY, BATCH)
        _, (train, val) = jax.lax.scan(chunk, (params, opt.init(params)), (idx, val_weights))
        return train.reshape(-1), val

    return run


def batch_indices(key, n, shuffle):
    """The mini-batches of the whole run, [STEPS, BATCH], epoch after epoch."""
    epochs = -(-STEPS // (n // BATCH))
    if shuffle:
        keys = jax.vmap(lambda e: jax.random.fold_in(key, e))(jnp.arange(epochs))
        rows = jax.vmap(lambda k: gdt.toolkit.epoch_indices(k, n, BATCH).indices)(keys)
    else:  # the same order every epoch, and that order sorted by label
        plan = gdt.toolkit.epoch_indices(None, n, BATCH).indices
        rows = jnp.broadcast_to(jnp.argsort(y_tr[:n], stable=True)[plan], (epochs, *plan.shape))
    return rows.reshape(-1, BATCH)[:STEPS]


trainers = {
    ("sgd", "tanh"): make_trainer("sgd", jnp.tanh),
    ("adam", "tanh"): make_trainer("adam", jnp.tanh),
    ("sgd", "relu"): make_trainer("sgd", jax.nn.relu),
}


def train(seed=0, optimizer="sgd", deep=False, lr_factor=1.0, sign=1.0, apply=1.0, double=False,
          eps=1e-8, init_scale=1.0, train_size=N_TRAIN, shuffle=True, val_size=N_VAL):
    """One run with the given fault planted; returns (train_loss, val_loss, steps_per_epoch)."""
    lr = (3e-3 if optimizer == "adam" else 0.03 if deep else 0.3) * lr_factor
    hyper = {"lr": jnp.float32(lr), "eps": jnp.float32(eps), "sign": jnp.float32(sign),
             "apply": jnp.float32(apply), "double": jnp.bool_(double)}
    sizes, gain = ((64, 32, 32, 32, 10), np.sqrt(2.0)) if deep else ((64, 32, 32, 10), 1.0)
    params = init_mlp(jax.random.PRNGKey(1000 + seed), init_scale, sizes, gain)
    idx = batch_indices(jax.random.PRNGKey(seed), train_size, shuffle)
    # A small validation set is a fresh random batch at each evaluation (a "validation batch").
    rng = np.random.default_rng(seed)
    evals = STEPS // EVAL_EVERY
    val_weights = jnp.asarray(np.stack([rng.permutation(N_VAL) < val_size for _ in range(evals)]), jnp.float32)
    run = trainers[(optimizer, "relu" if deep else "tanh")]
    tr, va = run(params, hyper, idx, val_weights)
    return np.asarray(tr), np.asarray(va), train_size // BATCH


faults = {  # name: (the reading the notes give, the planted fault)
    "healthy": (None, {}),
    "gradient sign flipped": ("loss_rising", dict(sign=-1.0)),
    "learning rate 1000x too small": ("lr_too_low", dict(lr_factor=1e-3)),
    "sorted data, no reshuffle": ("epoch_bumps", dict(shuffle=False)),
    "adam with eps = 0": (("overflow", "too_short"), dict(optimizer="adam", eps=0.0)),
    "validation set of 8": ("noisy_validation", dict(val_size=8)),
    "training set of 32": ("overfitting", dict(train_size=32)),
    "updates never applied": ("not_learning", dict(apply=0.0)),
    "initial weights 30x too small": ("slow_start", dict(init_scale=0.03)),
    "softmax applied twice": ("runs_disagree", dict(deep=True, double=True)),
}
curves, diagnoses = {}, {}
for name, (reading, fault) in faults.items():
    tr, va, spe = train(**fault)
    others = [train(seed, **fault)[0] for seed in range(1, 5)] if fault.get("double") else None
    curves[name] = (tr, va)
    diagnoses[name] = gdt.toolkit.diagnose(tr, va, spe, others, val_every=EVAL_EVERY)
    found = diagnoses[name].names
    expected = reading if isinstance(reading, tuple) else (reading,) if reading else ()
    print(f"{name:31s} expected {', '.join(expected) or 'healthy':21s} found {', '.join(found) or 'healthy'}")
    assert found == expected, str(diagnoses[name])

# %%
gdt.toolkit.plot_loss_curves(curves, diagnoses, val_every=EVAL_EVERY)

# %% [markdown]
# Each finding comes with the steps it rests on (shaded above), the numbers, and
# advice. For example:

# %%
for name in ("sorted data, no reshuffle", "adam with eps = 0", "training set of 32"):
    print(f"{name}:\n{diagnoses[name]}\n")
