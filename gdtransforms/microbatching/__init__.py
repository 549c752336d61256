"""Micro-batched evaluation of functions and per-example gradients (optax.microbatching's twin)."""

from gdtransforms._wrappers._microbatching import (
    AccumulationType,
    Accumulator,
    micro_grad,
    micro_vmap,
    microbatch,
    reshape_batch_axis,
)

__all__ = ["AccumulationType", "Accumulator", "micro_grad", "micro_vmap", "microbatch", "reshape_batch_axis"]
