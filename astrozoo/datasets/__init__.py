"""tf.data pipelines for the datasets of the course.

Each loader returns a ``tf.data.Dataset`` of ``(x, y)`` batches ready for
``model.fit``, from TensorFlow Datasets or from files on disk, with the
normalisation of the builder it pairs with (``list_datasets()`` says which).
"""

from astrozoo.datasets import augment
from astrozoo.datasets._common import RESCALE_MODES, CorruptFilesWarning, pipeline_options
from astrozoo.datasets._idx import read_idx
from astrozoo.datasets.arrays import from_arrays
from astrozoo.datasets.asirra import asirra
from astrozoo.datasets.cifar10 import cifar10
from astrozoo.datasets.coco import coco, read_coco_index
from astrozoo.datasets.detection_augment import DetectionAugmenter, voc_detection_preset
from astrozoo.datasets.digits import load_digits_28
from astrozoo.datasets.gz2 import gz2, gz_rings
from astrozoo.datasets.imagenet import imagenet
from astrozoo.datasets.mnist import mnist
from astrozoo.datasets.registry import DatasetInfo, get_dataset, list_datasets, load_dataset, register_dataset
from astrozoo.datasets.spectra import indo_us, miles, preprocess_spectra, spectra
from astrozoo.datasets.voc import VOC_CLASSES, bccd, parse_voc_xml, read_voc_index, voc
from astrozoo.datasets.voc_cutouts import voc_cutouts

__all__ = [
    "asirra",
    "augment",
    "bccd",
    "cifar10",
    "coco",
    "CorruptFilesWarning",
    "DatasetInfo",
    "DetectionAugmenter",
    "from_arrays",
    "get_dataset",
    "gz2",
    "gz_rings",
    "imagenet",
    "indo_us",
    "list_datasets",
    "load_dataset",
    "load_digits_28",
    "miles",
    "mnist",
    "parse_voc_xml",
    "pipeline_options",
    "preprocess_spectra",
    "read_coco_index",
    "read_idx",
    "read_voc_index",
    "register_dataset",
    "RESCALE_MODES",
    "spectra",
    "voc",
    "VOC_CLASSES",
    "voc_cutouts",
    "voc_detection_preset",
]
