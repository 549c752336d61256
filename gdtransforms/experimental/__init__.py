"""optax.experimental's twin: experimental namespaces (``aggregating``: per-example gradient aggregators)."""

from gdtransforms.experimental import aggregating

__all__ = ["aggregating"]
