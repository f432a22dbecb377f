"""Custom Keras losses of astrozoo (all registered under the package "astrozoo")."""

__all__ = []
