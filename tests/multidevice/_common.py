"""Shared setup of the multi-device scripts: 8 simulated CPU devices.

Importing this module before jax sets ``XLA_FLAGS`` so that the host platform
has 8 devices. Each script runs in its own process (``tests/scaleout/test_multidevice.py``
starts them), so the rest of the suite keeps one device. Run one by hand with
``python tests/multidevice/<script>.py``.
"""

from __future__ import annotations

import os
import sys

NUM_DEVICES = 8

if "jax" in sys.modules:
    raise RuntimeError("import tests/multidevice/_common.py before jax")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={NUM_DEVICES}"
).strip()
os.environ["JAX_PLATFORMS"] = "cpu"
# The checkout this file belongs to comes first (not an installed copy).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from tests._trees import assert_trees_close  # noqa: E402,F401  (used by the scripts)

jax.config.update("jax_numpy_rank_promotion", "raise")
assert jax.device_count() == NUM_DEVICES, jax.devices()

# Collectives in compiled HLO: any of them in a step means data moved between devices.
COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter")


def collectives_in(compiled) -> list[str]:
    """The collective ops in a compiled function's HLO."""
    text = compiled.as_text()
    return [op for op in COLLECTIVES if op + "(" in text or op + "-start" in text]


def check(name: str) -> None:
    print(f"ok: {name}", flush=True)


def mlp_params(seed: int = 0, hidden: int = 32, shift: int = 5):
    """A small nested model: list of dict layers, a tuple and a scalar.

    Built with numpy: eager jax ops would each compile once, which costs more
    than the tests themselves.
    """
    rng = np.random.default_rng(seed)
    normal = lambda *shape, scale: jnp.asarray(scale * rng.standard_normal(shape, np.float32))
    # (Strongly typed leaves: a weakly typed param such as jnp.full(8, 0.1)
    # gives a weakly typed state at init and a strong one after update, so
    # the step would compile twice.)
    return {
        "layers": [
            {"w": normal(16, hidden, scale=0.3), "b": jnp.zeros(hidden, jnp.float32)},
            {"w": normal(hidden, 8, scale=0.3), "b": (jnp.asarray(np.full(8, 0.1, np.float32)),)},
        ],
        "scale": jnp.float32(1.0),
        "shift": normal(shift, scale=0.1),
    }


def mlp_loss(params, x, y):
    """Mean squared error of a two-layer tanh network."""
    first, second = params["layers"]
    h = jnp.tanh(x @ first["w"] + first["b"][None, :])
    out = (h @ second["w"] + second["b"][0][None, :]) * params["scale"]
    return jnp.mean((out - y) ** 2) + jnp.mean(params["shift"] ** 2)


def data(step: int, batch: int = 64):
    """A deterministic full batch ``(x, y)`` of numpy arrays for one step."""
    rng = np.random.default_rng(1000 + step)
    return rng.standard_normal((batch, 16), np.float32), rng.standard_normal((batch, 8), np.float32)
