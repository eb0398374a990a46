"""See the package docstring of appariement."""
__all__: list[str] = []
