"""Advice with concrete values, from the optimizer's hyperparameters (docs/notes.md §10)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdtransforms.toolkit._readings import Finding

__all__ = ["read_hyperparams", "tailor"]

_NAMES = {"sgd": "SGD", "momentum": "SGD with momentum", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSProp"}


def _number(name: str, value: Any) -> float:
    try:
        x = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`hyperparams[{name!r}]` must be a number, got {type(value).__name__}") from None
    if x.size != 1:
        raise ValueError(f"`hyperparams[{name!r}]` must be a scalar, got shape {x.shape}")
    return float(x.reshape(()))


def read_hyperparams(hyperparams: Any) -> dict[str, Any] | None:
    """The learning rate, batch size, optimizer name and eps from a mapping or an inject_hyperparams state."""
    if hyperparams is None:
        return None
    if not isinstance(hyperparams, Mapping):
        inner = getattr(hyperparams, "hyperparams", None)
        if not isinstance(inner, Mapping):
            raise TypeError(
                "`hyperparams` must be a mapping (e.g. {'learning_rate': 0.1, 'batch_size': 32, 'optimizer': 'sgd'}) "
                f"or an inject_hyperparams state, got {type(hyperparams).__name__}"
            )
        hyperparams = inner
    info: dict[str, Any] = {}
    for key in ("learning_rate", "lr"):
        if key in hyperparams:
            info["learning_rate"] = _number(key, hyperparams[key])
    for key in ("batch_size", "eps", "momentum"):
        if key in hyperparams and hyperparams[key] is not None:
            info[key] = _number(key, hyperparams[key])
    opt = hyperparams.get("optimizer")
    if opt is not None:
        if not isinstance(opt, str):
            raise TypeError(f"`hyperparams['optimizer']` must be a name such as 'sgd', got {type(opt).__name__}")
        info["optimizer"] = opt.lower()
    return info


def _g(v: float) -> str:
    return f"{v:.2g}"


def _setup(info: Mapping[str, Any]) -> str:
    parts = [f"rate {_g(info['learning_rate'])}"]
    if "optimizer" in info:
        parts.append(f"with {_NAMES.get(info['optimizer'], info['optimizer'])}")
    if "batch_size" in info:
        parts.append(f"at batch {int(info['batch_size'])}")
    return " ".join(parts)


def tailor(f: Finding, info: Mapping[str, Any] | None) -> Finding:
    """``f`` with concrete values put in front of its advice, where the hyperparameters tell them."""
    if not info:
        return f
    lr = info.get("learning_rate")
    concrete = None
    if lr is not None and lr == 0.0 and f.name in ("not_learning", "lr_too_low"):
        concrete = "the learning rate is 0: set it (e.g. 1e-3 for Adam, 0.01-0.1 for SGD)"
    elif lr is not None and f.name in ("lr_too_high", "loss_rising"):
        concrete = f"{_setup(info)}: try {_g(lr / 10)}-{_g(lr / 3)}"
    elif lr is not None and f.name == "lr_too_low":
        concrete = f"{_setup(info)}: try {_g(3 * lr)}-{_g(10 * lr)}"
    elif f.name == "overflow" and "eps" in info and info["eps"] == 0.0:
        concrete = "eps is 0: set it to 1e-8 (1e-6 in half precision)"
    elif f.name == "overflow" and lr is not None:
        concrete = f"{_setup(info)}: if the loss grew before the NaN, try {_g(lr / 10)}-{_g(lr / 3)}"
    elif f.name == "noisy_validation" and "batch_size" in info:
        concrete = "measure validation on at least 1,000 examples, whatever the training batch"
    elif f.name == "slow_start" and info.get("optimizer") == "sgd" and lr is not None:
        concrete = f"{_setup(info)}: momentum 0.9 (with rate {_g(lr / 10)}) or Adam crosses the plateau sooner"
    if concrete is None:
        return f
    return dataclasses.replace(f, advice=f"{concrete}; {f.advice}")
