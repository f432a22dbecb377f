"""Evaluation: confusion matrices, detection mAP, occlusion maps."""

from astrozoo.evaluation.confusion import ConfusionMatrix, confusion_matrix
from astrozoo.evaluation.detection_map import average_precision, coco_map, voc_map
from astrozoo.evaluation.occlusion import occlusion_map, plot_occlusion
from astrozoo.evaluation.sliding_window import sliding_window_detect, window_grid

__all__ = [
    "average_precision",
    "coco_map",
    "confusion_matrix",
    "ConfusionMatrix",
    "occlusion_map",
    "plot_occlusion",
    "sliding_window_detect",
    "voc_map",
    "window_grid",
]
