"""Custom Keras layers of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.layers.cianna import CiannaGroupNorm, CiannaLeakyReLU
from astrozoo.layers.nms import YoloDecoder
from astrozoo.layers.yolo import YoloHead

__all__ = ["CiannaGroupNorm", "CiannaLeakyReLU", "YoloDecoder", "YoloHead"]
