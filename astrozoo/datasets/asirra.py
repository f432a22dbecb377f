"""ASIRRA cats vs dogs (Kaggle PetImages), from TFDS or from the image folders.

As in the course, every image is padded with black to a square and then
resized (``image_size``, default 128x128); the test split is the last
``test_per_class`` images of each class (1,024 in the course), ordered by their
numeric file names. The Kaggle archive holds a few unreadable files: they are
skipped, counted and reported.
"""

import pathlib

import numpy as np
import tensorflow as tf

from astrozoo.datasets import _common as C
from astrozoo.datasets.registry import register_dataset

URL = ("https://www.microsoft.com/en-us/download/details.aspx?id=54765 "
       "(kagglecatsanddogs_*.zip, folder PetImages/Cat and PetImages/Dog)")
CLASS_NAMES = ["cat", "dog"]
_FOLDERS = ("Cat", "Dog")


def find_petimages(data_dir):
    """The folder that holds ``Cat/`` and ``Dog/`` (``data_dir`` or ``data_dir/PetImages``)."""
    root = C.check_dir(data_dir, "ASIRRA", URL)
    for d in (root, root / "PetImages"):
        if all((d / c).is_dir() for c in _FOLDERS):
            return d
    raise FileNotFoundError(
        f"ASIRRA: expected the class folders {root}/Cat and {root}/Dog (or {root}/PetImages/Cat, .../Dog). "
        f"Download the Kaggle PetImages archive from {URL}."
    )


def asirra_files(data_dir, split="train", test_per_class=1024):
    """``(paths, labels)`` of ``split`` (``"train"``/``"test"``) before corrupt-file removal."""
    root = find_petimages(data_dir)
    paths, labels, _ = C.scan_class_folders(root, list(_FOLDERS))
    out_p, out_l = [], []
    for k in range(len(_FOLDERS)):
        idx = np.flatnonzero(labels == k)
        if test_per_class >= len(idx):
            raise ValueError(
                f"ASIRRA: test_per_class={test_per_class} but {root / _FOLDERS[k]} holds only {len(idx)} images."
            )
        idx = idx[-test_per_class:] if split == "test" else idx[:-test_per_class]
        out_p += [paths[i] for i in idx]
        out_l += [k] * len(idx)
    return out_p, np.asarray(out_l, np.int64)


@register_dataset(
    "asirra",
    task="image_classification",
    source="TFDS 'cats_vs_dogs', or the Kaggle/Microsoft PetImages folders (Cat/, Dog/)",
    licence="Microsoft Research ASIRRA / Kaggle 'Dogs vs. Cats' terms (research use)",
    size="25,000 JPEGs (12,500 per class, ~1,700 unreadable or non-JFIF in the Kaggle zip), 787 MB",
    splits=("train", "test"),
    builder="CIANNA ASIRRA networks (astrozoo CIANNA importer), resnet18",
    description="Cats vs dogs, padded square and resized (128 px in the course).",
    url=URL,
    tfds_name="cats_vs_dogs",
    references=("Elson et al. 2007, ASIRRA: a CAPTCHA that exploits interest-aligned manual image categorization",),
)
def asirra(split="train", batch_size=32, image_size=128, augment=None, shuffle=None, seed=None, cache=True,
           data_dir=None, label_mode="int", rescale="unit", drop_remainder=False, with_info=False,
           test_per_class=1024, tfds_kwargs=None):
    """ASIRRA (cats = 0, dogs = 1) as ``(image, label)`` batches for ``model.fit``.

    Images are black-padded to a square, resized to ``image_size`` and given as
    float32 in ``[0, 1]`` (``rescale="unit"``); ``rescale="cianna"`` gives
    ``(x - 100) / 155``, the input of the CIANNA-trained ASIRRA networks.

    Args:
        split: ``"train"`` or ``"test"`` (the last ``test_per_class`` images of each
            class), optionally sliced (``"train[:90%]"``). With TFDS (only a
            ``train`` split upstream) ``"train"`` is its first 90 % and ``"test"``
            the last 10 %; any explicit TFDS split string with brackets is passed through.
        image_size: side (or ``(height, width)``) after padding and resizing; default 128.
        augment: ``True`` for the course's recipe (:func:`astrozoo.datasets.augment.asirra_preset`),
            a preset name, an Albumentations transform or a callable ``f(image_uint8, rng)``.
        data_dir: a folder with ``Cat/`` and ``Dog/`` (or ``PetImages/Cat``...);
            ``None`` loads TFDS ``cats_vs_dogs``.
        test_per_class: size of the test split per class for folders.
        batch_size, shuffle, seed, cache, label_mode, rescale, drop_remainder,
        with_info, tfds_kwargs: as in :func:`astrozoo.datasets.mnist`.

    Unreadable files are skipped, counted and reported (a
    :class:`~astrozoo.datasets.CorruptFilesWarning` and ``info["skipped"]``).
    """
    C.check_common(batch_size, seed, label_mode, rescale)
    name, start, stop = C.parse_split(split, ("train", "test"))
    size = C.check_image_size(image_size, (128, 128))
    aug = C.resolve_augment(augment, "asirra", size)
    skipped = []
    if data_dir is None:
        tsplit = split if "[" in split else {"train": "train[:90%]", "test": "train[90%:]"}[name]
        ds, tinfo = C.load_tfds("cats_vs_dogs", tsplit, tfds_kwargs, "ASIRRA",
                                f"pass data_dir= the PetImages folder from {URL}")
        n = C.tfds_num_examples(tinfo, tsplit)
        ds = ds.map(lambda x, y: (C.resize_uint8(x, size, pad=True), tf.cast(y, tf.int64)),
                    num_parallel_calls=C.AUTOTUNE)
        source = "tfds:cats_vs_dogs"
    else:
        if not isinstance(test_per_class, (int, np.integer)) or test_per_class < 1:
            raise ValueError(f"`test_per_class` must be a positive int. Received: {test_per_class!r}")
        paths, labels = asirra_files(data_dir, name, test_per_class)
        idx = C.slice_indices(len(paths), start, stop)
        paths, labels = [paths[i] for i in idx], labels[idx]
        skipped = C.find_corrupt(paths)
        C.report_corrupt(skipped, f"ASIRRA {pathlib.Path(data_dir)}")
        keep = np.setdiff1d(np.arange(len(paths)), [b[0] for b in skipped])
        paths, labels = [paths[i] for i in keep], labels[keep]
        n = len(paths)
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), labels))
        ds = ds.map(lambda p, y: (C.resize_uint8(C.decode_image(tf.io.read_file(p)), size, pad=True), y),
                    num_parallel_calls=C.AUTOTUNE)
        source = str(data_dir)
    ds = C.finish(ds, num_examples=n, batch_size=batch_size, shuffle=C.default_shuffle(shuffle, name), seed=seed,
                  cache=cache, augment=aug, map_x=lambda t: C.rescale_images(t, rescale), num_classes=2,
                  label_mode=label_mode, drop_remainder=drop_remainder)
    if with_info:
        return ds, C.make_info(class_names=CLASS_NAMES, num_examples=n, source=source, image_shape=(*size, 3),
                               rescale=rescale, skipped=skipped)
    return ds
