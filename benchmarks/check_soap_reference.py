"""Cross-check of gdt.soap against pytorch-optimizer's SOAP (not part of the test suite).

Needs torch and pytorch-optimizer (``pip install torch pytorch-optimizer``;
neither is a dependency of gdtransforms). Runs 20 steps of the same small
problem through both, float32, each from its own iterates, and prints per
step the largest relative difference of the iterates (max over leaves of
``max|p_gdt - p_ref| / max|p_ref|``, with ``max|p_ref|`` at least the leaf's
initial size).

pytorch-optimizer's SOAP follows the authors' implementation
(github.com/nikhilvyas/SOAP): the first call only builds the eigenbases and
makes no step, eps is added to sqrt(V) with the bias correction on the step,
the first moment lives in the parameters' coordinates, V is permuted with the
re-sorted basis on each refresh. Its weight decay differs from a chain: it
multiplies the already-stepped params by ``1 - lr * wd`` and skips the first
call, where ``gdt.soap`` (``add_decayed_weights`` before
``scale_by_learning_rate``) decays the params before the step, on every call.
The third run below applies the reference's decay around ``scale_by_soap`` to
show that this is the only difference.

Run: ``PYTHONPATH=. python benchmarks/check_soap_reference.py``
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch
from pytorch_optimizer import SOAP

import gdtransforms as gdt

STEPS = 20
rng = np.random.default_rng(0)
# A full 4x4 matrix; 3x5 with its long axis over max_precond_dim; 3x4; a
# preconditioned 2-vector; a 5-vector left in its own basis; a scalar.
# (Shapes whose first factor has no repeated zero eigenvalue: there eigh's
# basis is unique up to signs, so both libraries start from the same one.)
PARAMS = {
    "w": rng.normal(size=(4, 4)),
    "v": rng.normal(size=(3, 5)),
    "r": rng.normal(size=(3, 4)),
    "b": rng.normal(size=2),
    "c": rng.normal(size=5),
    "s": np.array(0.7),
}
HYPER = dict(lr=0.05, b1=0.95, b2=0.95, eps=1e-8, precondition_frequency=3, max_precond_dim=4, precondition_1d=True)


def grads_torch(params, t):
    return {k: torch.sin(p * (1 + 0.1 * t)) + 0.1 * p + 0.05 * t for k, p in params.items()}


def grads_jax(params, t):
    return {k: jnp.sin(p * (1 + 0.1 * t)) + 0.1 * p + 0.05 * t for k, p in params.items()}


def run_reference(weight_decay: float) -> list[dict[str, np.ndarray]]:
    params = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in PARAMS.items()}
    opt = SOAP(
        list(params.values()),
        lr=HYPER["lr"],
        betas=(HYPER["b1"], HYPER["b2"]),
        eps=HYPER["eps"],
        weight_decay=weight_decay,
        precondition_frequency=HYPER["precondition_frequency"],
        max_precondition_dim=HYPER["max_precond_dim"],
        precondition_1d=HYPER["precondition_1d"],
    )
    out = []
    for t in range(STEPS):
        with torch.no_grad():
            grads = grads_torch(params, t)
        for k, p in params.items():
            p.grad = grads[k].clone()
        opt.step()
        out.append({k: p.detach().numpy().copy() for k, p in params.items()})
    return out


def run_gdt(weight_decay: float, reference_decay: bool = False) -> list[dict[str, np.ndarray]]:
    lr = HYPER["lr"]
    kwargs = {k: v for k, v in HYPER.items() if k != "lr"}
    if reference_decay:
        tx = gdt.chain(gdt.scale_by_soap(**kwargs), gdt.scale_by_learning_rate(lr))
    else:
        tx = gdt.soap(learning_rate=lr, weight_decay=weight_decay, **kwargs)

    @jax.jit
    def step(params, state, t):
        updates, state = tx.update(grads_jax(params, t), state, params)
        params = gdt.apply_updates(params, updates)
        if reference_decay:  # decay the stepped params, from the second call on
            factor = jnp.where(state[0].count > 1, 1.0 - lr * weight_decay, 1.0)
            params = jax.tree.map(lambda p: p * factor, params)
        return params, state

    params = {k: jnp.asarray(v, jnp.float32) for k, v in PARAMS.items()}
    state, out = tx.init(params), []
    for t in range(STEPS):
        params, state = step(params, state, jnp.float32(t))
        out.append({k: np.asarray(v) for k, v in params.items()})
    return out


def max_rel_diff(a: dict, b: dict) -> float:
    # Relative to the leaf's size now or at the start (the scalar leaf passes through zero).
    return max(float(np.max(np.abs(a[k] - b[k])) / max(np.max(np.abs(b[k])), np.max(np.abs(PARAMS[k])))) for k in b)


def main() -> None:
    print(f"torch {torch.__version__}, pytorch_optimizer SOAP; hyperparameters {HYPER}")
    runs = {
        "gdt.soap wd=0.01": (run_gdt(0.01), run_reference(0.01)),
        "gdt.soap wd=0": (run_gdt(0.0), run_reference(0.0)),
        "scale_by_soap + ref. decay wd=0.01": (run_gdt(0.01, reference_decay=True), run_reference(0.01)),
    }
    names = list(runs)
    print("| step | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    worst = dict.fromkeys(names, 0.0)
    for t in range(STEPS):
        diffs = [max_rel_diff(*(run[t] for run in runs[n])) for n in names]
        for n, d in zip(names, diffs):
            worst[n] = max(worst[n], d)
        print(f"| {t + 1} | " + " | ".join(f"{d:.2e}" for d in diffs) + " |")
    print("| max | " + " | ".join(f"{worst[n]:.2e}" for n in names) + " |")


if __name__ == "__main__":
    main()
