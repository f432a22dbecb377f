"""Custom Keras layers of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.layers.cianna import CiannaGroupNorm, CiannaLeakyReLU, CiannaLogistic

__all__ = ["CiannaGroupNorm", "CiannaLeakyReLU", "CiannaLogistic"]
