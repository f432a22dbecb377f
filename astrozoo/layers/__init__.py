"""Custom Keras layers of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.layers.cianna import CiannaGroupNorm, CiannaLeakyReLU, CiannaLogistic
from astrozoo.layers.cianna import CiannaGroupNorm, CiannaLeakyReLU
from astrozoo.layers.embedding import SinusoidalEmbedding
from astrozoo.layers.galaxy_zoo import GalaxyZooSchema, GalaxyZooTree, galaxy_zoo_schema, question_fractions
from astrozoo.layers.nms import YoloDecoder
from astrozoo.layers.yolo import YoloHead

__all__ = [
    "CiannaGroupNorm",
    "CiannaLeakyReLU",
    "CiannaLogistic",
    "galaxy_zoo_schema",
    "GalaxyZooSchema",
    "GalaxyZooTree",
    "question_fractions",
    "SinusoidalEmbedding",
    "YoloDecoder",
    "YoloHead",
]
