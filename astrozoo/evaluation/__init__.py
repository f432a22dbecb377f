"""Evaluation: confusion matrices, detection mAP, occlusion maps."""

from astrozoo.evaluation.detection_map import average_precision, coco_map, voc_map

__all__ = ["average_precision", "coco_map", "voc_map"]
