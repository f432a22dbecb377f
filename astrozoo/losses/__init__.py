"""Custom Keras losses of astrozoo (all registered under the package "astrozoo")."""

from astrozoo.losses.yolo import YoloLoss

__all__ = ["YoloLoss"]
