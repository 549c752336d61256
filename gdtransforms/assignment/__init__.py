"""optax.assignment's twin."""

__all__: list[str] = []
