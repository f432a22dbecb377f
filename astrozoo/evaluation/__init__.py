"""Evaluation: confusion matrices, detection mAP, occlusion maps."""

from astrozoo.evaluation.detection_map import average_precision, coco_map, voc_map
from astrozoo.evaluation.sliding_window import sliding_window_detect, window_grid

__all__ = ["average_precision", "coco_map", "sliding_window_detect", "voc_map", "window_grid"]
