"""Custom Keras layers of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.layers.cianna import CiannaGroupNorm, CiannaLeakyReLU, CiannaLogistic
from astrozoo.layers.nms import YoloDecoder
from astrozoo.layers.yolo import YoloHead

__all__ = [
    "CiannaGroupNorm",
    "CiannaLeakyReLU",
    "CiannaLogistic",
    "YoloDecoder",
    "YoloHead",
]
