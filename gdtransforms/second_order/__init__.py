"""optax.second_order's twin."""

__all__: list[str] = []
