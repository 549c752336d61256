"""One of two processes of tests/scaleout/test_two_processes.py (jax.distributed on 127.0.0.1).

Usage: ``python _two_process_worker.py <process_id> <port> <shared_dir>``. Each
process has 2 CPU devices (4 in all), and collectives run over gloo. Checks:

1. A data-parallel AdamW step (params replicated, the batch split over the 4
   devices of both processes) equals the single-process run.
2. A replicated state: ``save_state`` writes it from each process's own copy,
   ``restore_state`` puts it back on the same global shardings, the next
   jitted step runs.
3. A state split across processes: ``save_state`` refuses it, saying so and
   naming orbax-checkpoint; orbax saves and restores it onto its shardings.
"""

from __future__ import annotations

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["JAX_PLATFORMS"] = "cpu"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")
process_id, port, shared = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import gdtransforms as gdt  # noqa: E402

assert jax.process_count() == 2 and jax.device_count() == 4, (jax.process_count(), jax.device_count())
mesh = Mesh(np.array(jax.devices()), ("data",))
replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
rng = np.random.default_rng(0)
params_np = {"w": rng.standard_normal((8, 4)).astype(np.float32), "b": np.zeros(4, np.float32)}
x_np = rng.standard_normal((16, 8)).astype(np.float32)
y_np = rng.standard_normal((16, 4)).astype(np.float32)
opt = gdt.adamw(1e-2, weight_decay=1e-2)


def loss(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def global_array(value, sharding):
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def train_step(params, state, x, y):
    grads = jax.grad(loss)(params, x, y)
    updates, state = opt.update(grads, state, params)
    return gdt.apply_updates(params, updates), state


def check(name):
    print(f"ok: {name}", flush=True)


# 1. Data parallel over both processes equals the single-process run.
params = jax.tree.map(lambda v: global_array(v, replicated), params_np)
x, y = global_array(x_np, split), global_array(y_np, split)
state = jax.jit(opt.init, out_shardings=replicated)(params)
step = jax.jit(train_step, out_shardings=(replicated, replicated))
for _ in range(3):
    params, state = step(params, state, x, y)
local = jax.local_devices()[0]
ref_params = jax.device_put(params_np, local)
ref_state = opt.init(ref_params)
for _ in range(3):
    ref_params, ref_state = jax.jit(train_step)(
        ref_params, ref_state, jax.device_put(x_np, local), jax.device_put(y_np, local)
    )
for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params)):
    np.testing.assert_allclose(np.asarray(a.addressable_data(0)), np.asarray(b), rtol=2e-6, atol=1e-7)
check("data-parallel AdamW over 2 processes equals the single-process run")

# 2. A replicated state saves from each process's copy and restores onto the global shardings.
path = os.path.join(shared, "replicated.npz")
if process_id == 0:
    gdt.save_state(path, state)
multihost_utils.sync_global_devices("saved")
target = jax.jit(opt.init, out_shardings=replicated)(params)
restored = gdt.restore_state(path, target)
for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
    assert a.sharding.is_equivalent_to(b.sharding, a.ndim), (a.sharding, b.sharding)
    np.testing.assert_array_equal(np.asarray(a.addressable_data(0)), np.asarray(b.addressable_data(0)))
step(params, restored, x, y)  # the next jitted update runs
check("a replicated multi-process state saves and restores onto its shardings")

# 3. A state split across processes: save_state says so; orbax saves and restores it.
zero = gdt.zero_state_shardings(jax.eval_shape(opt.init, params), mesh, "data")
sharded_state = jax.jit(opt.init, out_shardings=zero)(params)
sharded_state = jax.jit(lambda s: jax.tree.map(lambda v: v + 1 if v.dtype != jnp.int32 else v, s), out_shardings=zero)(
    sharded_state
)
try:
    gdt.save_state(os.path.join(shared, f"split{process_id}.npz"), sharded_state)
except ValueError as e:
    assert "split across processes" in str(e) and "orbax-checkpoint" in str(e), e
else:
    raise AssertionError("save_state wrote a state split across processes")
import orbax.checkpoint as ocp  # noqa: E402

checkpointer = ocp.StandardCheckpointer()
checkpointer.save(os.path.join(shared, "orbax"), sharded_state)
checkpointer.wait_until_finished()
abstract = jax.tree.map(lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=v.sharding), sharded_state)
back = checkpointer.restore(os.path.join(shared, "orbax"), abstract)
for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(sharded_state)):
    assert a.sharding.is_equivalent_to(b.sharding, a.ndim)
    for sa, sb in zip(a.addressable_shards, b.addressable_shards):
        np.testing.assert_array_equal(np.asarray(sa.data), np.asarray(sb.data))
check("a state split across processes: save_state refuses it, orbax saves and restores it")
multihost_utils.sync_global_devices("done")
print("ALL OK", flush=True)
