"""Real training runs with planted faults, for the loss-curve doctor.

A small MLP learns scikit-learn's digits (8x8 images, 10 classes) with
gdtransforms' own optimizers. Each run differs from the healthy one only by
the planted fault. One compiled function runs every fault of a model: the
faults are traced arguments (a gradient sign, a learning rate, whether updates
are applied, a softmax before the loss, an ``eps``, the batch indices of the
whole run, the validation weights), so the whole suite compiles three times.

Used by ``tests/toolkit/test_doctor_runs.py`` and ``benchmarks/doctor_reliability.py``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt

N_TRAIN, N_VAL, BATCH = 512, 400, 16
STEPS_PER_EPOCH = N_TRAIN // BATCH  # 32
STEPS, EVAL_EVERY = 640, 8  # 20 epochs, 80 validation points


@functools.cache
def digits() -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(x_train, y_train, x_val, y_val)``, standardized with training statistics."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = data.data.astype(np.float32), data.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    x_tr, y_tr = x[:N_TRAIN], y[:N_TRAIN]
    x_val, y_val = x[1000 : 1000 + N_VAL], y[1000 : 1000 + N_VAL]
    mean, std = x_tr.mean(0), x_tr.std(0)
    std = np.where(std > 0, std, 1.0)  # pixels that are always 0 stay 0
    return tuple(jnp.asarray(a) for a in ((x_tr - mean) / std, y_tr, (x_val - mean) / std, y_val))


@dataclasses.dataclass(frozen=True)
class Model:
    """An MLP: hidden layer sizes, activation, the healthy optimizer and rate."""

    hidden: tuple[int, ...]
    activation: Callable[[jax.Array], jax.Array]
    gain: float  # init std = gain * scale / sqrt(fan_in)
    learning_rate: float

    def init(self, key: jax.Array, scale: float = 1.0) -> list[tuple[jax.Array, jax.Array]]:
        sizes = (64, *self.hidden, 10)
        keys = jax.random.split(key, len(sizes) - 1)
        params = []
        for i, k in enumerate(keys):
            gain = self.gain if i < len(keys) - 1 else 1.0
            w = scale * gain * jax.random.normal(k, (sizes[i], sizes[i + 1])) / np.sqrt(sizes[i])
            params.append((w, jnp.zeros(sizes[i + 1])))
        return params

    def logits(self, params, x):
        for w, b in params[:-1]:
            x = self.activation(x @ w + b[None])
        return x @ params[-1][0] + params[-1][1][None]


SHALLOW = Model((32, 32), jnp.tanh, 1.0, 0.3)
DEEP = Model((32, 32, 32), jax.nn.relu, float(np.sqrt(2.0)), 0.03)


def _loss(model, params, x, y, weights, double_softmax):
    z = model.logits(params, x)
    z = jnp.where(double_softmax, jax.nn.softmax(z), z)  # the planted doubled activation
    losses = -jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1)[:, 0]
    return jnp.sum(weights * losses) / jnp.sum(weights)


@functools.cache
def trainer(model: Model, optimizer: str):
    """A jitted ``run(params, hyper, batch_indices, val_weights) -> (train, val)``; one weight row per evaluation."""
    x_tr, y_tr, x_val, y_val = digits()

    def run(params, hyper, batch_indices, val_weights):
        if optimizer == "sgd":
            opt = gdt.sgd(hyper["lr"])
        else:  # a traced eps passes the construction-time check, as a live hyperparameter does
            opt = gdt.adam(hyper["lr"], eps=hyper["eps"])
        ones = jnp.ones(BATCH)

        def step(carry, idx):
            params, state = carry
            loss, grads = jax.value_and_grad(_loss, argnums=1)(
                model, params, x_tr[idx], y_tr[idx], ones, hyper["double"]
            )
            grads = jax.tree.map(lambda g: hyper["sign"] * g, grads)
            updates, state = opt.update(grads, state, params)
            updates = jax.tree.map(lambda u: hyper["apply"] * u, updates)
            return (gdt.apply_updates(params, updates), state), loss

        def chunk(carry, xs):
            idx, weights = xs
            carry, losses = jax.lax.scan(step, carry, idx)
            val = _loss(model, carry[0], x_val, y_val, weights, hyper["double"])
            return carry, (losses, val)

        idx = batch_indices.reshape(STEPS // EVAL_EVERY, EVAL_EVERY, BATCH)
        _, (train, val) = jax.lax.scan(chunk, (params, opt.init(params)), (idx, val_weights))
        return train.reshape(-1), val

    return jax.jit(run, static_argnums=())


@functools.partial(jax.jit, static_argnums=(1, 2))
def batch_indices(key: jax.Array, num_examples: int, shuffle: bool) -> jax.Array:
    """The batches of the whole run, ``[STEPS, BATCH]``, epoch after epoch."""
    epochs = -(-STEPS // (num_examples // BATCH))
    if shuffle:
        keys = jax.vmap(lambda e: jax.random.fold_in(key, e))(jnp.arange(epochs))
        rows = jax.vmap(lambda k: gdt.toolkit.epoch_indices(k, num_examples, BATCH).indices)(keys)
    else:  # the same order every epoch, and that order sorted by label
        order = jnp.argsort(digits()[1][:num_examples], stable=True)
        plan = gdt.toolkit.epoch_indices(None, num_examples, BATCH).indices
        rows = jnp.broadcast_to(order[plan], (epochs, *plan.shape))
    return rows.reshape(-1, BATCH)[:STEPS]


@dataclasses.dataclass(frozen=True)
class Fault:
    """A planted fault and the doctor reading it must produce."""

    name: str
    reading: str | None
    model: Model = SHALLOW
    optimizer: str = "sgd"
    lr_factor: float = 1.0
    sign: float = 1.0
    apply: float = 1.0
    double: bool = False
    eps: float = 1e-8
    init_scale: float = 1.0
    train_size: int = N_TRAIN
    shuffle: bool = True
    val_size: int = N_VAL


FAULTS = (
    Fault("healthy", None),
    Fault("gradient sign flipped", "loss_rising", sign=-1.0),
    Fault("learning rate 1000x too small", "lr_too_low", lr_factor=1e-3),
    Fault("sorted data, no reshuffle", "epoch_bumps", shuffle=False),
    Fault("eps removed", "overflow", optimizer="adam", eps=0.0),
    Fault("validation batch of 8", "noisy_validation", val_size=8),
    Fault("training set of 32", "overfitting", train_size=32),
    Fault("gradients never applied", "not_learning", apply=0.0),
    Fault("tiny init", "slow_start", init_scale=0.03),
)
HEALTHY_ADAM = Fault("healthy (adam)", None, optimizer="adam")
DOUBLE_SOFTMAX = Fault("softmax applied twice", "runs_disagree", model=DEEP, double=True)
HEALTHY_DEEP = Fault("healthy (deep)", None, model=DEEP)
ADAM_LR = 3e-3


def run(fault: Fault, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Trains with ``fault`` planted; returns ``(train_loss, val_loss, steps_per_epoch)``."""
    model = fault.model
    lr = (ADAM_LR if fault.optimizer == "adam" else model.learning_rate) * fault.lr_factor
    hyper = {
        "lr": jnp.float32(lr),
        "eps": jnp.float32(fault.eps),
        "sign": jnp.float32(fault.sign),
        "apply": jnp.float32(fault.apply),
        "double": jnp.bool_(fault.double),
    }
    params = model.init(jax.random.key(1000 + seed), fault.init_scale)
    idx = batch_indices(jax.random.key(seed), fault.train_size, fault.shuffle)
    # A small validation set is drawn afresh at each evaluation (a "validation batch").
    evals = STEPS // EVAL_EVERY
    if fault.val_size < N_VAL:
        rng = np.random.default_rng(seed)
        rows = np.stack([rng.permutation(N_VAL) < fault.val_size for _ in range(evals)])
    else:
        rows = np.ones((evals, N_VAL), bool)
    val_weights = jnp.asarray(rows, jnp.float32)
    train, val = trainer(model, fault.optimizer)(params, hyper, idx, val_weights)
    return np.asarray(train), np.asarray(val), fault.train_size // BATCH
