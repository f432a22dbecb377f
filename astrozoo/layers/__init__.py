"""Custom Keras layers of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.layers.cianna import CiannaGroupNorm, CiannaLeakyReLU
from astrozoo.layers.galaxy_zoo import GalaxyZooSchema, GalaxyZooTree, galaxy_zoo_schema, question_fractions

__all__ = [
    "CiannaGroupNorm",
    "CiannaLeakyReLU",
    "GalaxyZooSchema",
    "GalaxyZooTree",
    "galaxy_zoo_schema",
    "question_fractions",
]
