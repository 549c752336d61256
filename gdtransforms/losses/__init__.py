"""optax.losses's twin."""

__all__: list[str] = []
