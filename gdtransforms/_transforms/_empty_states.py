"""optax's names for the (empty) states of stateless transformations.

Each is :class:`EmptyState` itself, as in optax, so states built by either
name compare equal and restore into one another.
"""

from __future__ import annotations

from gdtransforms._core._base import EmptyState

__all__ = [
    "AddDecayedWeightsState",
    "ClipByGlobalNormState",
    "ClipState",
    "ScaleByTrustRatioState",
    "ScaleState",
]

AddDecayedWeightsState = EmptyState
ClipByGlobalNormState = EmptyState
ClipState = EmptyState
ScaleByTrustRatioState = EmptyState
ScaleState = EmptyState
