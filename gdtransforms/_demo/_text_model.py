"""The text race's model: a small byte-level transformer decoder in plain JAX.

Token and position embeddings, ``layers`` pre-LayerNorm blocks (causal
multi-head self-attention, then a GELU MLP of width ``4 d``, each added to
the residual stream), a final LayerNorm and an untied linear head over the
256 byte values. Parameters are a plain dict of arrays, so every optimizer
sees the same tree.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

import gdtransforms as gdt
from gdtransforms._demo._text_data import VOCAB

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model's size."""

    layers: int = 2
    d_model: int = 64
    heads: int = 4
    context: int = 64

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"`d_model` ({self.d_model}) must be a multiple of `heads` ({self.heads})")


def _layer_norm(x: jax.Array, p: Params) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["scale"][None, None] + p["bias"][None, None]


def init_model(key: jax.Array, cfg: ModelConfig) -> Params:
    """GPT-2-style initialization: N(0, 0.02) everywhere, residual projections
    divided by sqrt(2 * layers), and a head small enough that the first loss is
    about log(256)."""
    d = cfg.d_model
    keys = jax.random.split(key, 3 + cfg.layers)

    def normal(k: jax.Array, shape: tuple[int, ...], std: float = 0.02) -> jax.Array:
        return std * jax.random.normal(k, shape, jnp.float32)

    def ln() -> Params:
        return {"scale": jnp.ones(d), "bias": jnp.zeros(d)}

    resid = 0.02 / math.sqrt(2 * cfg.layers)
    blocks = []
    for k in keys[3:]:
        k1, k2, k3, k4 = jax.random.split(k, 4)
        blocks.append(
            {
                "ln1": ln(),
                "qkv": normal(k1, (d, 3 * d)),
                "proj": normal(k2, (d, d), resid),
                "ln2": ln(),
                "fc": {"w": normal(k3, (d, 4 * d)), "b": jnp.zeros(4 * d)},
                "out": {"w": normal(k4, (4 * d, d), resid), "b": jnp.zeros(d)},
            }
        )
    return {
        "embed": normal(keys[0], (VOCAB, d)),
        "pos": normal(keys[1], (cfg.context, d)),
        "blocks": blocks,
        "ln_f": ln(),
        "head": normal(keys[2], (d, VOCAB), 0.02 / math.sqrt(d)),
    }


def hidden_matrices(params: Params) -> Params:
    """True for the blocks' weight matrices, False for embeddings, head, norms and biases.

    Muon orthogonalizes only the hidden matrices; the embeddings and the
    head go to AdamW, as in Jordan et al. (2024).
    """
    return jax.tree_util.tree_map_with_path(lambda path, x: path[0].key == "blocks" and x.ndim == 2, params)


def logits_fn(params: Params, tokens: jax.Array, heads: int) -> jax.Array:
    """Next-byte logits ``[batch, time, 256]`` for int tokens ``[batch, time]``."""
    b, t = tokens.shape
    x = params["embed"][tokens] + params["pos"][None, :t]
    d = x.shape[-1]
    hd = d // heads
    causal = jnp.tril(jnp.ones((t, t), bool))
    for blk in params["blocks"]:
        h = _layer_norm(x, blk["ln1"])
        q, k, v = (z.reshape(b, t, heads, hd) for z in jnp.split(h @ blk["qkv"], 3, axis=-1))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)
        att = jax.nn.softmax(jnp.where(causal[None, None], scores, -1e9), axis=-1)
        x = x + jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, t, d) @ blk["proj"]
        h = jax.nn.gelu(_layer_norm(x, blk["ln2"]) @ blk["fc"]["w"] + blk["fc"]["b"][None, None])
        x = x + h @ blk["out"]["w"] + blk["out"]["b"][None, None]
    return _layer_norm(x, params["ln_f"]) @ params["head"]


def loss_fn(params: Params, windows: jax.Array, heads: int) -> jax.Array:
    """Mean next-byte cross-entropy (nats) over windows ``[batch, context + 1]``."""
    logits = logits_fn(params, windows[:, :-1], heads)
    return gdt.losses.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()


#: ``eval_loss(params, windows, heads)``, jitted; shared by every racer (and the tests), so compiled once per shape.
eval_loss = jax.jit(loss_fn, static_argnums=2)

#: ``loss_and_grad(params, windows, heads) -> (loss, grads)``, jitted and shared like :data:`eval_loss`.
loss_and_grad = jax.jit(jax.value_and_grad(loss_fn), static_argnums=2)
