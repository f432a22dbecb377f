"""Evaluation: confusion matrices, detection mAP, occlusion maps."""

from astrozoo.evaluation.confusion import ConfusionMatrix, confusion_matrix

__all__ = ["ConfusionMatrix", "confusion_matrix"]
