"""Shared test setup: the suite runs on one CPU device with float32 defaults."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
