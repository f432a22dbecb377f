"""tf.data pipelines for the datasets of the course."""

from astrozoo.datasets._idx import read_idx
from astrozoo.datasets.coco import coco, read_coco_index
from astrozoo.datasets.detection_augment import DetectionAugmenter, voc_detection_preset
from astrozoo.datasets.voc import VOC_CLASSES, parse_voc_xml, read_voc_index, voc
from astrozoo.datasets.voc_cutouts import voc_cutouts

__all__ = [
    "DetectionAugmenter",
    "VOC_CLASSES",
    "coco",
    "parse_voc_xml",
    "read_coco_index",
    "read_idx",
    "read_voc_index",
    "voc",
    "voc_cutouts",
    "voc_detection_preset",
]
