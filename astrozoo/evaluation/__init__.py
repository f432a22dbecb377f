"""Evaluation: confusion matrices, detection mAP, occlusion maps."""

from astrozoo.evaluation.occlusion import occlusion_map, plot_occlusion

__all__ = ["occlusion_map", "plot_occlusion"]
