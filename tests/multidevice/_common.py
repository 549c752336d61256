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
# Backend optimization level 0: LLVM's optimizations are most of a CPU compile's
# time and change nothing the scripts check (shardings are decided by XLA's HLO
# passes, which still run; sharded and unsharded runs compile with the same flags).
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + f" --xla_force_host_platform_device_count={NUM_DEVICES} --xla_backend_optimization_level=0"
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


# The FSDP scripts (muon_fsdp.py, and fsdp_second_order.py for SOAP, Shampoo and Kron):
# a dict of params placed on a 1-D "fsdp" mesh, the same gradients and step, and
# the same sharding and number checks.


class Placed:
    """``host_params`` placed by ``specs`` on a 1-D ``"fsdp"`` mesh over all devices.

    Attributes: ``mesh``, ``shardings`` (a ``NamedSharding`` per key), ``params``
    (sharded) and ``unsharded`` (all on the first device).
    """

    def __init__(self, host_params: dict, specs: dict):
        from jax.sharding import Mesh, NamedSharding

        self.mesh = Mesh(np.array(jax.devices()), ("fsdp",))
        self.shardings = {k: NamedSharding(self.mesh, specs[k]) for k in host_params}
        self.params = jax.device_put(host_params, self.shardings)
        self.unsharded = jax.device_put(host_params, jax.devices()[0])

    def assert_like_params(self, tree: dict, what: str) -> None:
        """Each leaf of ``tree`` (keyed like the params) has its param's sharding."""
        for k, leaf in tree.items():
            want = self.shardings[k]
            assert leaf.sharding.is_equivalent_to(want, leaf.ndim), (what, k, leaf.sharding, want)


def grads_at(params, t):
    """Deterministic gradients of step ``t`` (a function of the params)."""
    return jax.tree.map(lambda p: jnp.sin(p * (1.0 + t)) + 0.1 * p, params)


def make_step(opt):
    """``step(params, state, t) -> (new params, new state, updates)`` with ``grads_at``."""
    import gdtransforms as gdt

    def step(params, state, t):
        updates, state = opt.update(grads_at(params, t), state, params)
        return gdt.apply_updates(params, updates), state, updates

    return step


def init_eager_and_jit(opt, params, check_state):
    """``opt.init`` eagerly, then jitted with ``gdt.state_shardings``; ``check_state(state, what)`` on both.

    Returns ``(state_shardings, jitted init's state)``.
    """
    import gdtransforms as gdt

    check_state(opt.init(params), "eager init")
    state_sh = gdt.state_shardings(jax.eval_shape(opt.init, params), params)
    state = jax.jit(opt.init, out_shardings=state_sh)(params)
    check_state(state, "jit init")
    return state_sh, state


def run_eager(opt, params, steps: int, check=None):
    """``steps`` eager steps from ``opt.init(params)``; ``check(updates, state, t)`` after each.

    Returns ``(params, state)``.
    """
    import gdtransforms as gdt

    p, s = params, opt.init(params)
    for t in range(steps):
        updates, s = opt.update(grads_at(p, t), s, p)
        p = gdt.apply_updates(p, updates)
        if check is not None:
            check(updates, s, t)
    return p, s


def run_against_unsharded(
    fn, opt, placed: Placed, state, steps: int, check_state, rtol: float, atol: float, ref_params_at=None
):
    """``steps`` steps of the jitted ``fn`` from ``(placed.params, state)`` beside an unsharded jitted run.

    After each step the updates and params must have each param's sharding,
    ``check_state(state, t)`` must pass, and the updates must equal the
    unsharded run's within ``rtol``/``atol``. Returns ``((params, state),
    (unsharded params, unsharded state))``. If ``ref_params_at`` is a list,
    the unsharded params after each step are appended to it (a reference for
    an eager run of fewer steps, without a second, eager unsharded run).
    """
    plain = jax.jit(make_step(opt))
    # The eager init's state committed to the device, as the step's outputs are:
    # else the second step sees other arguments and compiles the step again.
    ref_p, ref_s = placed.unsharded, jax.device_put(opt.init(placed.unsharded), jax.devices()[0])
    p, s = placed.params, state
    for t in range(steps):
        p, s, u = fn(p, s, jnp.float32(t))
        ref_p, ref_s, ref_u = plain(ref_p, ref_s, jnp.float32(t))
        if ref_params_at is not None:
            ref_params_at.append(ref_p)
        placed.assert_like_params(u, f"updates, step {t}")
        placed.assert_like_params(p, f"params, step {t}")
        check_state(s, t)
        assert_trees_close(u, ref_u, rtol=rtol, atol=atol, msg=f"updates, step {t}")
    return (p, s), (ref_p, ref_s)


def run_sharded(fn, placed: Placed, state, steps: int, check_state, label: str = ""):
    """``steps`` steps of the jitted ``fn`` from ``(placed.params, state)``, no reference run.

    After each step the updates and params must have each param's sharding
    and ``check_state(state, t)`` must pass. Returns ``(params, state)``.
    """
    p, s = placed.params, state
    for t in range(steps):
        p, s, u = fn(p, s, jnp.float32(t))
        placed.assert_like_params(u, f"{label}updates, step {t}")
        placed.assert_like_params(p, f"{label}params, step {t}")
        check_state(s, t)
    return p, s
