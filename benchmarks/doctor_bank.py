"""Generates the doctor's bank of real training runs: ``tests/data/doctor_bank.npz``.

Seven setups (logistic regression and a ReLU MLP on breast cancer, a tanh MLP on
wine, a wide ReLU MLP on ``make_classification``, a deep tanh MLP on digits, an
MSE linear regression on diabetes, a 1-D conv net on synthetic sequences) train
with gdtransforms' SGD, momentum and Adam at several rates, batch sizes and
seeds: healthy runs, and runs with one fault planted in the training code.
Every run of a setup goes through one compiled, vmapped function (the faults
are traced arguments), so the bank takes a few minutes on two CPU cores.

Each run is stored with its labels: the setup, the fault, the reading the
doctor should give (``expected``; ``""`` for a healthy run) and whether the
fault's symptom shows in the run (``symptom``), decided from numbers the doctor
never sees: the validation loss on the full validation set for a run with a
tiny one, the healthy twin's speed for a tiny init, the healthy groups' spread
for the doubled softmax. Run from the repository root:

    python benchmarks/doctor_bank.py [out.npz [seed_offset]]

A nonzero ``seed_offset`` makes a fresh bank with other seeds (other inits,
batches and validation draws): runs the doctor was never calibrated on.
"""

from __future__ import annotations

import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import gdtransforms as gdt  # noqa: E402

STEPS, EVAL_EVERY, BMAX = 500, 10, 32
OUT = _ROOT / "tests" / "data" / "doctor_bank.npz"


def _split(x, y, n_train, n_val, seed=0, classify=True):
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order]
    mean, std = x[:n_train].mean(0), x[:n_train].std(0)
    x = (x - mean) / np.where(std > 0, std, 1.0)
    x = np.concatenate([x, np.zeros((len(x), 1), np.float32)], 1)  # a padding column, always 0
    y = y.astype(np.int32) if classify else ((y - y[:n_train].mean()) / y[:n_train].std()).astype(np.float32)
    return x[:n_train], y[:n_train], x[n_train : n_train + n_val], y[n_train : n_train + n_val]


def _sequences(n, length=32, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi, n)
    x = np.sin(2 * np.pi * (1 + 2 * y)[:, None] * t[None] / length + phase[:, None]) + rng.normal(size=(n, length))
    return x.astype(np.float32), y


def datasets():
    from sklearn import datasets as ds

    cancer = ds.load_breast_cancer(return_X_y=True)
    wine = ds.load_wine(return_X_y=True)
    digits = ds.load_digits(return_X_y=True)
    synth = ds.make_classification(2000, 20, n_informative=10, n_classes=4, random_state=0)
    diabetes = ds.load_diabetes(return_X_y=True)
    return {
        "cancer": (_split(*cancer, 300, 260), 2),
        "wine": (_split(*wine, 100, 78), 3),
        "digits": (_split(*digits, 800, 600), 10),
        "synth": (_split(*synth, 1000, 600), 4),
        "diabetes": (_split(*diabetes, 300, 142, classify=False), 0),
        "seq": (_split(*_sequences(1200), 600, 600), 3),
    }


def _dense(key, sizes, scale):
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (scale * jax.random.normal(k, (a, b)) / np.sqrt(a), jnp.zeros(b)) for k, a, b in zip(keys, sizes, sizes[1:])
    ]


def mlp(hidden, act):
    def init(key, d, k, scale):
        gain = np.sqrt(2.0) if act is jax.nn.relu else 1.0
        params = _dense(key, (d, *hidden, k), scale)
        return [(w * (gain if i < len(params) - 1 else 1.0), b) for i, (w, b) in enumerate(params)]

    def apply(params, x):
        for w, b in params[:-1]:
            x = act(x @ w + b)
        return x @ params[-1][0] + params[-1][1]

    return init, apply


def conv1d(channels=8, width=5):
    def init(key, d, k, scale):
        k1, k2 = jax.random.split(key)
        w = scale * np.sqrt(2.0) * jax.random.normal(k1, (width, channels)) / np.sqrt(width)
        return [(w, jnp.zeros(channels)), *_dense(k2, (channels, k), scale)]

    def apply(params, x):
        x = x[:, :-1]  # the padding column is not part of the sequence
        patches = jnp.stack([x[:, i : x.shape[1] - width + 1 + i] for i in range(width)], -1)
        h = jax.nn.relu(patches @ params[0][0] + params[0][1]).mean(1)
        return h @ params[1][0] + params[1][1]

    return init, apply


# name: (data set, model, healthy SGD rates, healthy Adam rates, faults that show on it)
ALL = ("no_update", "sign", "lr_low", "no_shuffle", "eps", "tiny_val", "tiny_train")
SETUPS = {
    "logreg-cancer": ("cancer", mlp((), jnp.tanh), (0.05, 0.2), (0.003, 0.01), ALL),
    "mlp-cancer": (
        "cancer",
        mlp((32,), jax.nn.relu),
        (0.03, 0.1),
        (0.001, 0.003),
        (*ALL, "lr_high", "chance", "tiny_init"),
    ),
    "mlp-wine": ("wine", mlp((16,), jnp.tanh), (0.03, 0.1), (0.003, 0.01), (*ALL, "chance", "tiny_init")),
    "wide-mlp-synth": ("synth", mlp((256,), jax.nn.relu), (0.03, 0.1), (0.001, 0.003), (*ALL, "lr_high", "chance")),
    "deep-mlp-digits": (
        "digits",
        mlp((32, 32, 32), jax.nn.relu),
        (0.03, 0.1),
        (0.001, 0.003),
        (*ALL, "double", "tiny_init", "lr_high"),
    ),
    "linreg-diabetes": ("diabetes", mlp((), jnp.tanh), (0.01, 0.03), (0.003, 0.01), ALL),
    "conv1d-seq": ("seq", conv1d(), (0.3, 1.0), (0.01, 0.03), (*ALL, "chance", "lr_high")),
}
EXPECTED = {
    "healthy": "", "no_update": "not_learning", "sign": "loss_rising", "lr_high": "lr_too_high",
    "lr_low": "lr_too_low", "no_shuffle": "epoch_bumps", "eps": "overflow", "tiny_val": "noisy_validation",
    "tiny_train": "overfitting", "tiny_init": "slow_start", "double": "runs_disagree", "chance": "not_learning",
}  # fmt: skip


def specs(setup):
    """The runs of one setup: dicts of hyperparameters, the fault and the seed."""
    _, _, sgd_rates, adam_rates, faults = SETUPS[setup]
    runs = []

    def add(fault, opt, lr, batch, seed, group=-1, **kw):
        runs.append(dict(fault=fault, opt=opt, lr=lr, batch=batch, seed=seed, group=group, **kw))

    for i, (opt, rates) in enumerate((("sgd", sgd_rates), ("momentum", sgd_rates), ("adam", adam_rates))):
        for j, lr in enumerate(rates):
            lr = lr / 10 if opt == "momentum" else lr
            for k, batch in enumerate((8, 32)):
                add("healthy", opt, lr, batch, 10 * i + 4 * j + k)
    opts = [("sgd", sgd_rates[0]), ("momentum", sgd_rates[0] / 10), ("adam", adam_rates[0]), ("sgd", sgd_rates[1])]
    for f in faults:
        if f == "double":
            continue
        for seed, (opt, lr) in enumerate(opts * (2 if f == "lr_high" else 1)):
            if f == "eps" and opt != "adam":
                opt, lr = "adam", adam_rates[seed % 2]
            factor = {"lr_low": 0.02}.get(f, 1.0)
            if f == "lr_high":
                factor = 30.0 if opt == "sgd" else 100.0
            add(f, opt, lr * factor, (16, 32)[seed % 2], 100 + seed)
    if "double" in faults:
        for g, fault in enumerate(("double", "double", "healthy", "healthy")):
            for s in range(5):
                add(fault, "sgd", sgd_rates[0], 16, 200 + 10 * g + s, group=g)
    return runs


def trainer(apply, classify, x_tr, y_tr, x_val, y_val):
    """``run(hyper) -> (train [STEPS], val [STEPS // EVAL_EVERY], full_val)``, vmapped over runs."""
    x_tr, y_tr, x_val, y_val = map(jnp.asarray, (x_tr, y_tr, x_val, y_val))

    def loss(params, x, y, w, double):
        z = apply(params, x)
        if classify:
            z = jnp.where(double, jax.nn.softmax(z), z)  # the planted doubled activation
            per = -jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], 1)[:, 0]
        else:
            per = (z[:, 0] - y) ** 2
        return jnp.sum(w * per) / jnp.sum(w)

    def run(params, h):
        sgd = gdt.sgd(h["lr"], momentum=h["mom"])
        adam = gdt.adam(h["lr"], eps=h["eps"])  # a traced eps, as an injected hyperparameter is

        def step(carry, idx):
            params, s1, s2 = carry
            value, g = jax.value_and_grad(loss)(params, x_tr[idx], y_tr[idx], h["bw"], h["double"])
            g = jax.tree.map(lambda a: h["sign"] * a, g)
            u1, s1 = sgd.update(g, s1, params)
            u2, s2 = adam.update(g, s2, params)
            u = jax.tree.map(lambda a, b: h["apply"] * jnp.where(h["adam"], b, a), u1, u2)
            return (gdt.apply_updates(params, u), s1, s2), value

        def chunk(carry, xs):
            idx, vw = xs
            carry, values = jax.lax.scan(step, carry, idx)
            ones = jnp.ones(len(y_val))
            return carry, (
                values,
                loss(carry[0], x_val, y_val, vw, h["double"]),
                loss(carry[0], x_val, y_val, ones, h["double"]),
            )

        idx = h["idx"].reshape(STEPS // EVAL_EVERY, EVAL_EVERY, BMAX)
        carry = (params, sgd.init(params), adam.init(params))
        _, (train, val, full) = jax.lax.scan(chunk, carry, (idx, h["vw"]))
        return train.reshape(-1), val, full

    return jax.jit(jax.vmap(run))


def batches(rng, n, batch, shuffle, y):
    """``[STEPS, BMAX]`` indices (the first ``batch`` of each row are used)."""
    per_epoch = n // batch
    rows = []
    order = np.argsort(y[:n], kind="stable") if not shuffle else None
    while len(rows) < STEPS:
        perm = rng.permutation(n) if shuffle else order
        rows.extend(perm[: per_epoch * batch].reshape(per_epoch, batch))
    idx = np.zeros((STEPS, BMAX), np.int32)
    idx[:, :batch] = np.asarray(rows[:STEPS])
    return idx, per_epoch


def _val_weights(rng, n, tiny):
    """``[evaluations, n]`` weights: the whole set, or (the fault) a fresh batch of 8 at each evaluation."""
    if not tiny:
        return np.ones((STEPS // EVAL_EVERY, n), np.float32)
    w = np.zeros((STEPS // EVAL_EVERY, n), np.float32)
    for row in w:
        row[rng.choice(n, 8, replace=False)] = 1.0
    return w


def generate_setup(setup, data, offset=0):
    name, (init, apply), *_ = SETUPS[setup]
    (x_tr, y_tr, x_val, y_val), k = data[name]
    classify = k > 0
    runs = specs(setup)
    hyper, params = [], []
    for r in runs:
        rng = np.random.default_rng(r["seed"] + 1000 * list(SETUPS).index(setup) + 100_003 * offset)
        n = 24 if r["fault"] == "tiny_train" else len(x_tr)
        batch = min(r["batch"], n // 2)
        idx, spe = batches(rng, n, batch, r["fault"] != "no_shuffle", y_tr if classify else np.zeros(len(y_tr)))
        r.update(batch=batch, steps_per_epoch=spe, num_classes=k)
        scale = {"tiny_init": 0.1 if setup == "deep-mlp-digits" else 0.01, "chance": 0.0}.get(r["fault"], 1.0)
        key = jax.random.key(r["seed"] + 7919 * list(SETUPS).index(setup) + 100_003 * offset)
        p = init(key, x_tr.shape[1], max(k, 1), 1.0)
        params.append(
            jax.tree.map(lambda a: a * scale, p) if r["fault"] != "chance" else jax.tree.map(jnp.zeros_like, p)
        )
        hyper.append(dict(
            lr=np.float32(r["lr"]), mom=np.float32(0.9 if r["opt"] == "momentum" else 0.0),
            eps=np.float32(0.0 if r["fault"] == "eps" else 1e-8), adam=r["opt"] == "adam",
            sign=np.float32(-1.0 if r["fault"] == "sign" else 1.0), apply=np.float32(r["fault"] != "no_update"),
            double=r["fault"] == "double", idx=idx, bw=(np.arange(BMAX) < batch).astype(np.float32),
            vw=_val_weights(rng, len(y_val), r["fault"] == "tiny_val"),
        ))  # fmt: skip
    stack = lambda trees: jax.tree.map(lambda *a: jnp.stack(a), *trees)  # noqa: E731
    train, val, full = trainer(apply, classify, x_tr, y_tr, x_val, y_val)(stack(params), stack(hyper))
    return runs, np.asarray(train), np.asarray(val), np.asarray(full)


def _smooth(x, w):
    return np.convolve(np.pad(x, (w // 2, w - 1 - w // 2), mode="edge"), np.ones(w) / w, mode="valid")


def _half_time(x):
    s = _smooth(x, 25)
    hit = np.flatnonzero(s <= s[0] - 0.5 * (s[0] - s.min()))
    return int(hit[0])


def label(runs, train, val, full):
    """Sets ``expected`` and ``symptom`` of each run from what only the generator knows."""
    healthy_half = {}
    for r, t in zip(runs, train):
        if r["fault"] == "healthy" and np.isfinite(t).all():
            healthy_half.setdefault(r["opt"], []).append(_half_time(t))
    groups = {}
    for i, r in enumerate(runs):
        if r["group"] >= 0:
            groups.setdefault(r["group"], []).append(float(np.mean(full[i][-5:])))
    first = {g: np.mean([train[i][:10].mean() for i, r in enumerate(runs) if r["group"] == g]) for g in groups}
    spread = {g: (max(v) - min(v)) / (first[g] - np.mean(v)) for g, v in groups.items()}
    healthy_spread = max(
        [s for g, s in spread.items() if runs[[r["group"] for r in runs].index(g)]["fault"] == "healthy"] or [0]
    )
    for i, r in enumerate(runs):
        f, t, v, fv = r["fault"], train[i], val[i], full[i]
        r["expected"], r["symptom"] = EXPECTED[f], True
        broken = not np.isfinite(t).all() or not np.isfinite(v).all()
        if broken:
            r["expected"] = "overflow"
        if f == "healthy":  # some healthy setups overfit by themselves: that is no false alarm
            s = _smooth(v, 5)
            if s[-5:].mean() - s.min() > 0.25 * (v[0] - s.min()):
                r["fault"], r["expected"] = "healthy_overfits", "overfitting"
        elif f == "eps":  # the zero eps only bites where a gradient is exactly 0
            r["symptom"] = broken
        elif broken:
            pass
        elif f == "tiny_val":  # the small set's loss wanders off the full set's and beyond the training noise
            tb = t.reshape(len(v), -1).mean(1)
            wiggle = lambda c: np.median(np.abs(c - _smooth(c, 5)))  # noqa: E731
            r["symptom"] = bool(wiggle(v - fv) > 3 * wiggle(fv) and wiggle(v) > 2.5 * wiggle(tb))
        elif f == "tiny_train":  # the validation loss climbs back a quarter of what it gained
            s = _smooth(v, 5)
            r["symptom"] = bool(s[-5:].mean() - s.min() > 0.25 * (v[0] - s.min()))
        elif f == "tiny_init":
            late = _half_time(t) > max(3 * np.median(healthy_half.get(r["opt"], [0])), 0.1 * STEPS)
            r["symptom"] = bool(late and _smooth(t, 25).min() < 0.7 * t[:10].mean())  # and then it learns
        elif f == "double":
            r["symptom"] = bool(spread[r["group"]] > 3 * healthy_spread)
        elif f == "lr_low":  # it learns, slowly, and is still falling in the last quarter
            q = len(fv) // 4
            r["symptom"] = bool(fv[0] - fv[-1] > 0.02 * abs(fv[0]) and fv[-q] - fv[-1] > 0.1 * (fv[0] - fv[-1]))
        elif f == "lr_high":  # it blew up and died: a spike, then flat at the chance level, validation too
            chance = np.log(r["num_classes"])
            spike = np.max(t[1:]) > t[0] + 0.2 * chance
            flat = abs(t[-100:-50].mean() - t[-50:].mean()) < 0.05 * chance and np.ptp(fv[-10:]) < 0.05 * chance
            r["symptom"] = bool(spike and flat and abs(t[-100:].mean() - chance) < 0.1 * chance)
    return runs


def main(out: str | None = None, offset: str = "0") -> None:
    start = time.perf_counter()
    data = datasets()
    records, trains, vals = [], [], []
    for setup in SETUPS:
        t0 = time.perf_counter()
        runs, train, val, full = generate_setup(setup, data, int(offset))
        for r in label(runs, train, val, full):
            r["setup"] = setup
            r["group"] = r["group"] + 100 * list(SETUPS).index(setup) if r["group"] >= 0 else -1
        records += runs
        trains.append(train)
        vals.append(val)
        print(f"{setup:18s} {len(runs):4d} runs  {time.perf_counter() - t0:6.1f} s", flush=True)
    fields = ("setup", "fault", "opt", "expected")
    numbers = ("lr", "batch", "seed", "group", "steps_per_epoch", "num_classes", "symptom")
    path = pathlib.Path(out) if out else OUT
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        train=np.concatenate(trains).astype(np.float32),
        val=np.concatenate(vals).astype(np.float32),
        val_every=EVAL_EVERY,
        **{f: np.array([r[f] for r in records]) for f in fields},
        **{f: np.array([r[f] for r in records], dtype=np.float64 if f == "lr" else np.int64) for f in numbers},
    )
    print(f"{len(records)} runs -> {path} ({path.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(*sys.argv[1:3])
