"""Evaluation: confusion matrices, detection mAP, occlusion maps."""

__all__ = []
