"""Placeholder."""


def register(server):
    """Add no routes yet."""
