"""tf.data pipelines for the datasets of the course.

Each loader returns a ``tf.data.Dataset`` of ``(x, y)`` batches ready for
``model.fit``, from TensorFlow Datasets or from files on disk, with the
normalisation of the builder it pairs with (``list_datasets()`` says which).
"""

from astrozoo.datasets import augment
from astrozoo.datasets._common import RESCALE_MODES, CorruptFilesWarning
from astrozoo.datasets._idx import read_idx
from astrozoo.datasets.asirra import asirra
from astrozoo.datasets.cifar10 import cifar10
from astrozoo.datasets.gz2 import gz2, gz_rings
from astrozoo.datasets.imagenet import imagenet
from astrozoo.datasets.mnist import mnist
from astrozoo.datasets.registry import DatasetInfo, get_dataset, list_datasets, load_dataset, register_dataset
from astrozoo.datasets.spectra import indo_us, miles, preprocess_spectra, spectra

__all__ = [
    "CorruptFilesWarning",
    "DatasetInfo",
    "RESCALE_MODES",
    "asirra",
    "augment",
    "cifar10",
    "get_dataset",
    "gz2",
    "gz_rings",
    "imagenet",
    "indo_us",
    "list_datasets",
    "load_dataset",
    "miles",
    "mnist",
    "preprocess_spectra",
    "read_idx",
    "register_dataset",
    "spectra",
]

from astrozoo.datasets.digits import load_digits_28  # noqa: E402

__all__ += ["load_digits_28"]
