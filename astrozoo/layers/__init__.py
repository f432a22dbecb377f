"""Custom Keras layers of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.layers.cianna import CiannaGroupNorm, CiannaLeakyReLU
from astrozoo.layers.embedding import SinusoidalEmbedding

__all__ = ["CiannaGroupNorm", "CiannaLeakyReLU", "SinusoidalEmbedding"]
