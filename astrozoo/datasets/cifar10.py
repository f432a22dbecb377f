"""CIFAR-10: 32x32 colour images of 10 classes, from TFDS or from files on disk.

On disk, three layouts are read (in this order of precedence):

1. the official python pickle batches (``data_batch_1..5``, ``test_batch``) in
   ``data_dir`` or ``data_dir/cifar-10-batches-py``, or the archive
   ``cifar-10-python.tar.gz`` itself;
2. class-named JPEG/PNG folders ``data_dir/{split}/{class}/*.jpg``;
3. zip files in ``data_dir`` (or ``data_dir`` itself a zip) holding members
   ``{split}/{class}/*.jpg``.
"""

import io
import pathlib
import pickle
import tarfile
import zipfile

import numpy as np
import tensorflow as tf

from astrozoo.datasets import _common as C
from astrozoo.datasets.registry import register_dataset

URL = "https://www.cs.toronto.edu/~kriz/cifar.html (cifar-10-python.tar.gz)"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_PICKLES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _unpickle(data, where):
    # The official batches are python pickles: only open files from a trusted source.
    try:
        d = pickle.loads(data, encoding="bytes")
        x = np.asarray(d[b"data"], np.uint8)
        y = np.asarray(d[b"labels"], np.int64)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{where} is not a CIFAR-10 python batch ({type(e).__name__}: {e}).") from e
    if x.ndim != 2 or x.shape[1] != 3072 or len(x) != len(y):
        raise ValueError(
            f"{where}: expected data (N, 3072) and N labels; got data {x.shape} and {len(y)} labels."
        )
    # Channel-planar rows -> HWC.
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def _read_pickles(folder, split):
    for d in (folder, folder / "cifar-10-batches-py"):
        if all((d / f).is_file() for f in _PICKLES[split]):
            parts = [_unpickle((d / f).read_bytes(), d / f) for f in _PICKLES[split]]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    tgz = folder / "cifar-10-python.tar.gz"
    if folder.is_file() and folder.name.endswith(".tar.gz"):
        tgz = folder
    if tgz.is_file():
        with tarfile.open(tgz, "r:gz") as tf_:
            parts = []
            for f in _PICKLES[split]:
                try:
                    member = tf_.extractfile(f"cifar-10-batches-py/{f}")
                except KeyError:
                    raise FileNotFoundError(f"{tgz} has no member cifar-10-batches-py/{f}.") from None
                parts.append(_unpickle(member.read(), f"{tgz}:{f}"))
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return None


def _class_names_for(found):
    # The official order when the folders are the official classes; else sorted.
    return CLASS_NAMES if set(found) == set(CLASS_NAMES) else sorted(found)


def _read_zip_members(zips, split):
    members = []  # (zip_path, member_name, class)
    for zp in zips:
        with zipfile.ZipFile(zp) as zf:
            for n in zf.namelist():
                parts = n.split("/")
                if (len(parts) == 3 and parts[0] == split and parts[2]
                        and pathlib.Path(parts[2]).suffix.lower() in C.IMAGE_EXTENSIONS):
                    members.append((zp, n, parts[1]))
    return members


def load_cifar10_files(data_dir, split, start=None, stop=None):
    """``(images_or_bytes, labels, class_names, kind, skipped)`` from one of the on-disk layouts.

    ``kind`` is ``"array"`` (uint8 images) or ``"bytes"`` (encoded images);
    ``start``/``stop`` are split-slice bounds (see ``parse_split``), applied before reading.
    """
    folder = C.check_dir(data_dir, "CIFAR-10", URL)
    arrays = _read_pickles(folder, split)
    if arrays is not None:
        idx = C.slice_indices(len(arrays[1]), start, stop)
        return arrays[0][idx], arrays[1][idx], CLASS_NAMES, "array", []
    if (folder / split).is_dir():
        paths, labels, names = C.scan_class_folders(
            folder / split, _class_names_for([p.name for p in (folder / split).iterdir() if p.is_dir()])
        )
        idx = C.slice_indices(len(paths), start, stop)
        paths, labels = [paths[i] for i in idx], labels[idx]
        blobs = [pathlib.Path(p).read_bytes() for p in paths]
        bad = C.find_corrupt(blobs, paths)
        C.report_corrupt(bad, f"CIFAR-10 {folder / split}")
        keep = np.setdiff1d(np.arange(len(paths)), [b[0] for b in bad])
        return [blobs[i] for i in keep], labels[keep], names, "bytes", bad
    zips = [folder] if folder.suffix == ".zip" else sorted(folder.glob("*.zip"))
    members = _read_zip_members(zips, split)
    if not members:
        raise FileNotFoundError(
            f"CIFAR-10 split {split!r} not found in {folder}: expected the python batches "
            f"({', '.join(_PICKLES[split])}) or cifar-10-python.tar.gz, a folder {folder / split}/<class>/*.jpg, "
            f"or a zip with members {split}/<class>/*.jpg. Download the data from {URL}."
        )
    names = _class_names_for({m[2] for m in members})
    index = {c: k for k, c in enumerate(names)}
    members.sort(key=lambda m: (index[m[2]], C._natural_key(m[1])))
    members = [members[i] for i in C.slice_indices(len(members), start, stop)]
    blobs = []
    open_zips = {}
    try:
        for zp, n, _ in members:
            zf = open_zips.get(zp) or open_zips.setdefault(zp, zipfile.ZipFile(zp))
            blobs.append(zf.read(n))
    finally:
        for zf in open_zips.values():
            zf.close()
    labels = np.asarray([index[m[2]] for m in members], np.int64)
    where = [f"{m[0]}:{m[1]}" for m in members]
    bad = C.find_corrupt(blobs, where)
    C.report_corrupt(bad, f"CIFAR-10 {folder}")
    keep = np.setdiff1d(np.arange(len(blobs)), [b[0] for b in bad])
    return [blobs[i] for i in keep], labels[keep], names, "bytes", bad


def images_dataset(images, labels, kind, size, pad=False):
    """``(uint8 image, int64 label)`` dataset from arrays or encoded bytes, resized to ``size``."""
    if kind == "array":
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
    else:
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(images, tf.string), labels))

    def prep(img, lab):
        if kind != "array":
            img = C.decode_image(img)
        return C.resize_uint8(img, size, pad=pad), lab

    return ds.map(prep, num_parallel_calls=C.AUTOTUNE)


@register_dataset(
    "cifar10",
    task="image_classification",
    source="TFDS 'cifar10', the python pickle batches, or class-named JPEG folders / zips",
    licence="no explicit licence; cite Krizhevsky 2009",
    size="60,000 colour 32x32 images (50,000 train / 10,000 test), 163 MB",
    splits=("train", "test"),
    builder="resnet18(small_inputs=True)",
    description="10 classes of everyday objects; the course's CIFAR-10 practical.",
    url=URL,
    tfds_name="cifar10",
    references=("Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images",),
)
def cifar10(split="train", batch_size=32, image_size=None, augment=None, shuffle=None, seed=None, cache=True,
            data_dir=None, label_mode="int", rescale="unit", drop_remainder=False, with_info=False,
            tfds_kwargs=None):
    """CIFAR-10 as ``(image, label)`` batches for ``model.fit``.

    Images are float32 ``(32, 32, 3)`` in ``[0, 1]`` (``rescale="unit"``), as
    ``resnet18(small_inputs=True)`` and the course's CIFAR network expect. Labels
    follow the official class order (airplane ... truck).

    Args:
        split: ``"train"`` or ``"test"``, optionally sliced (``"train[:45000]"``).
        data_dir: a folder (or zip) in one of the layouts of the module docstring;
            ``None`` loads TFDS ``cifar10``.
        augment: ``True`` for the course's recipe (:func:`astrozoo.datasets.augment.cifar10_preset`),
            a preset name, an Albumentations transform or a callable ``f(image_uint8, rng)``.
        batch_size, image_size, shuffle, seed, cache, label_mode, rescale,
        drop_remainder, with_info, tfds_kwargs: as in :func:`astrozoo.datasets.mnist`.

    Corrupt image files are skipped, counted and reported with a
    :class:`~astrozoo.datasets.CorruptFilesWarning` (and in ``info["skipped"]``).
    """
    C.check_common(batch_size, seed, label_mode, rescale)
    name, start, stop = C.parse_split(split, ("train", "test"))
    size = C.check_image_size(image_size)
    aug = C.resolve_augment(augment, "cifar10", size or (32, 32))
    skipped = []
    if data_dir is None:
        ds, tinfo = C.load_tfds("cifar10", split, tfds_kwargs, "CIFAR-10",
                                f"pass data_dir= a folder with the python batches from {URL}")
        n = C.tfds_num_examples(tinfo, split)
        names = CLASS_NAMES
        ds = ds.map(lambda x, y: (C.resize_uint8(x, size), tf.cast(y, tf.int64)), num_parallel_calls=C.AUTOTUNE)
        source = "tfds:cifar10"
    else:
        images, labels, names, kind, skipped = load_cifar10_files(data_dir, name, start, stop)
        n = len(labels)
        ds = images_dataset(images, labels, kind, size or (32, 32))
        source = str(data_dir)
    ds = C.finish(ds, num_examples=n, batch_size=batch_size, shuffle=C.default_shuffle(shuffle, name), seed=seed,
                  cache=cache, augment=aug, map_x=lambda t: C.rescale_images(t, rescale),
                  num_classes=len(names), label_mode=label_mode, drop_remainder=drop_remainder)
    if with_info:
        return ds, C.make_info(class_names=list(names), num_examples=n, source=source,
                               image_shape=(*(size or (32, 32)), 3), rescale=rescale, skipped=skipped)
    return ds
