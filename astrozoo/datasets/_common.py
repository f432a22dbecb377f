"""Pieces shared by the dataset loaders: argument checks, split slicing, image
decoding and resizing, corrupt-file scanning, TFDS loading and the common tail
of every pipeline (cache -> shuffle -> augment -> rescale -> batch -> prefetch)."""

import concurrent.futures
import io
import logging
import os
import pathlib
import re
import warnings

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
logger = logging.getLogger("astrozoo.datasets")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

#: Scalings of uint8 pixels to float32 (``rescale=`` argument of the image loaders).
RESCALE_MODES = {
    "unit": "x / 255, in [0, 1] (lenet5, resnet*, the course's TF twins)",
    "cianna": "(x - 100) / 155, about [-0.65, 1] (CIANNA .dat networks, darknet19 with CIANNA weights)",
    "symmetric": "x / 127.5 - 1, in [-1, 1]",
    "raw": "float32 pixel values in [0, 255]",
}

LABEL_MODES = ("int", "categorical")

_SPLIT_RE = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?\s*$")


class CorruptFilesWarning(UserWarning):
    """Some image files could not be read and were skipped (their count is in the message)."""


# --------------------------------------------------------------------------- arguments


def parse_split(split, valid):
    """``"train"``, ``"test[:20%]"``, ``"train[100:-100]"`` -> ``(name, start, stop)`` (raw strings)."""
    if not isinstance(split, str):
        raise TypeError(f"`split` must be a string such as 'train' or 'train[:90%]'. Received: split={split!r}")
    m = _SPLIT_RE.match(split)
    if not m or m.group(1) not in valid:
        raise ValueError(
            f"Invalid split {split!r}: expected one of {tuple(valid)}, optionally sliced as in TFDS "
            "(e.g. 'train[:90%]', 'train[-1000:]')."
        )
    return m.group(1), m.group(2), m.group(3)


def _bound(b, n):
    if b is None:
        return None
    if b.endswith("%"):
        v = int(b[:-1])
        if not -100 <= v <= 100:
            raise ValueError(f"Split percentage out of range: {b!r}.")
        return int(round(n * v / 100))
    return int(b)


def slice_indices(n, start, stop):
    """Indices ``range(n)[start:stop]`` for bounds parsed by :func:`parse_split`."""
    return np.arange(n)[slice(_bound(start, n), _bound(stop, n))]


def check_common(batch_size=None, seed=None, label_mode="int", rescale="unit"):
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive int or None. Received: batch_size={batch_size!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`seed` must be an int or None. Received: seed={seed!r}")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"`label_mode` must be one of {LABEL_MODES}. Received: label_mode={label_mode!r}")
    if not (callable(rescale) or rescale in RESCALE_MODES or rescale is None):
        raise ValueError(
            f"`rescale` must be one of {sorted(RESCALE_MODES)}, None or a callable. Received: rescale={rescale!r}"
        )


def check_image_size(image_size, default=None):
    """``None`` -> ``default``; an int -> square; a pair of positive ints -> tuple."""
    if image_size is None:
        return default
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(
            f"`image_size` must be an int or a (height, width) pair. Received: image_size={image_size!r}"
        ) from None
    if h < 1 or w < 1:
        raise ValueError(f"`image_size` must be positive. Received: image_size={image_size!r}")
    return (h, w)


def check_dir(data_dir, what, url):
    path = pathlib.Path(data_dir).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{what}: the folder {path} does not exist. Download the data from {url}.")
    return path


def missing_file_error(path, what, url):
    return FileNotFoundError(f"{what}: expected the file {path}, which does not exist. Download it from {url}.")


# --------------------------------------------------------------------------- image helpers


def decode_image(data, channels=3):
    """Decode JPEG/PNG/BMP/GIF bytes to a uint8 ``(H, W, channels)`` tensor."""
    img = tf.io.decode_image(data, channels=channels, expand_animations=False)
    img.set_shape([None, None, channels])
    return img


def resize_uint8(image, size, method="bilinear", pad=False):
    """Resize (antialiased) and round back to uint8; ``pad=True`` keeps the aspect
    ratio and pads with black to a square first, as the course does for ASIRRA."""
    if size is None:
        return image
    h, w = size
    if pad:
        out = tf.image.resize_with_pad(tf.cast(image, tf.float32), h, w, method=method, antialias=True)
    else:
        out = tf.image.resize(tf.cast(image, tf.float32), (h, w), method=method, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


def _check_bytes(item):
    """``None`` when the bytes (or file) hold a readable image, else the reason."""
    from PIL import Image

    try:
        if isinstance(item, (bytes, bytearray)):
            data = item
        else:
            with open(item, "rb") as f:
                data = f.read()
        if not data:
            return "empty file"
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
            # Truncated JPEG: PIL's verify does not decode, tf.io.decode_image rejects it.
            with Image.open(io.BytesIO(data)) as im:
                im.load()
        return None
    except Exception as e:  # noqa: BLE001  any decoder failure means "corrupt"
        return f"{type(e).__name__}: {e}"


def find_corrupt(items, names=None, max_workers=None):
    """Indices and reasons of unreadable images among ``items`` (paths or bytes)."""
    names = names if names is not None else [str(i) for i in items]
    items = list(items)
    if items and isinstance(items[0], (bytes, bytearray)):
        reasons = [_check_bytes(b) for b in items]  # CPU-bound under the GIL: threads do not help
    else:
        workers = max_workers or min(8, (os.cpu_count() or 1) * 2)
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            reasons = list(ex.map(_check_bytes, items))
    return [(i, names[i], r) for i, r in enumerate(reasons) if r is not None]


def report_corrupt(bad, what):
    if bad:
        shown = ", ".join(f"{n} ({r})" for _, n, r in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        msg = f"{what}: skipped {len(bad)} corrupt image file(s): {shown}{more}."
        warnings.warn(msg, CorruptFilesWarning, stacklevel=3)
        logger.warning(msg)


def scan_class_folders(root, class_names=None, extensions=IMAGE_EXTENSIONS):
    """``(paths, labels, class_names)`` of a folder of class-named image folders.

    ``class_names`` fixes the order (and which folders are used); by default the
    sub-folders are sorted by name.
    """
    root = pathlib.Path(root)
    if class_names is None:
        class_names = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not class_names:
        raise FileNotFoundError(f"No class folders found in {root}: expected one sub-folder of images per class.")
    paths, labels = [], []
    for k, c in enumerate(class_names):
        d = root / c
        if not d.is_dir():
            raise FileNotFoundError(f"Missing class folder {d} (classes expected: {list(class_names)}).")
        files = sorted((p for p in d.iterdir() if p.suffix.lower() in extensions), key=_natural_key)
        paths += [str(p) for p in files]
        labels += [k] * len(files)
    return paths, np.asarray(labels, np.int64), list(class_names)


def _natural_key(p):
    stem = pathlib.Path(p).stem
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


# --------------------------------------------------------------------------- TFDS


def load_tfds(name, split, tfds_kwargs=None, what=None, offline_hint=""):
    """``(dataset of (image, label), tfds info)`` from ``tfds.load(as_supervised=True)``."""
    import tensorflow_datasets as tfds

    kwargs = dict(tfds_kwargs or {})
    try:
        ds, info = tfds.load(name, split=split, as_supervised=True, with_info=True, shuffle_files=False, **kwargs)
    except Exception as e:  # noqa: BLE001  re-raised with the offline alternative
        raise RuntimeError(
            f"{what or name}: loading '{name}' (split {split!r}) from TensorFlow Datasets failed ({e}). "
            f"Offline: {offline_hint}"
        ) from e
    return ds, info


def tfds_num_examples(info, split):
    try:
        import tensorflow_datasets as tfds

        return int(info.splits[split].num_examples) if tfds else None
    except Exception:  # noqa: BLE001  sliced or unknown splits
        return None


# --------------------------------------------------------------------------- pipeline tail


def rescale_images(x, rescale):
    if rescale is None or rescale == "raw":
        return tf.cast(x, tf.float32)
    if callable(rescale):
        return rescale(x)
    x = tf.cast(x, tf.float32)
    if rescale == "unit":
        return x / 255.0
    if rescale == "cianna":
        return (x - 100.0) / 155.0
    if rescale == "symmetric":
        return x / 127.5 - 1.0
    raise ValueError(f"Unknown rescale mode {rescale!r}.")


def finish(ds, *, num_examples, batch_size, shuffle, seed, cache, augment=None, map_x=None, num_classes=None,
           label_mode="int", drop_remainder=False, shuffle_buffer=None):
    """The common tail: cache -> shuffle -> augment -> map_x -> labels -> batch -> prefetch.

    ``augment`` is an Albumentations transform / callable applied (seeded) on the
    cached uint8 examples, batch by batch, after the cache; ``map_x`` is the final
    float conversion of the inputs.
    """
    if cache:
        ds = ds.cache(cache if isinstance(cache, (str, os.PathLike)) else "")
    if shuffle:
        buf = shuffle_buffer or max(1, min(num_examples or 10_000, 20_000))
        ds = ds.shuffle(buf, seed=seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment is not None:
        from astrozoo.datasets.augment import augment_images

        ds = augment_images(ds, augment, seed=seed, batched=batch_size is not None)

    def tail(x, y):
        if map_x is not None:
            x = map_x(x)
        if label_mode == "categorical":
            y = tf.one_hot(tf.cast(y, tf.int32), num_classes, dtype=tf.float32)
        return x, y

    if map_x is not None or label_mode == "categorical":
        ds = ds.map(tail, num_parallel_calls=AUTOTUNE)
    return prefetch(ds)


def pipeline_options():
    """The ``tf.data.Options`` of every astrozoo pipeline: the autotuner is off.

    Apply them to your own pipelines with ``ds.with_options(pipeline_options())``.

    With the autotuner on, destroying an iterator waits for its model thread,
    which stalls ``fit`` for up to ~10 s at an epoch boundary while the cores are
    busy training (measured: 7 s per two epochs of ResNet-18 on 2 cores, see
    docs/performance.md). Keras makes a new iterator every epoch, so that wait
    is paid again and again. ``AUTOTUNE`` parallelism then means "one call per core".
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def prefetch(ds):
    """``ds.prefetch(AUTOTUNE)`` with :func:`pipeline_options` (the end of every pipeline)."""
    return ds.prefetch(AUTOTUNE).with_options(pipeline_options())


def resolve_augment(augment, preset, image_size):
    """``augment`` argument -> Albumentations transform / callable or ``None``."""
    if augment is None or augment is False:
        return None
    from astrozoo.datasets.augment import PRESETS, get_preset

    if augment is True:
        return get_preset(preset, image_size=image_size)
    if isinstance(augment, str):
        if augment not in PRESETS:
            raise ValueError(f"Unknown augmentation preset {augment!r}; expected one of {sorted(PRESETS)}.")
        return get_preset(augment, image_size=image_size)
    if callable(augment):
        return augment
    raise TypeError(
        "`augment` must be a bool, a preset name, an Albumentations transform or a callable "
        f"f(image, rng). Received: augment={augment!r}"
    )


def default_shuffle(shuffle, split_name):
    return split_name == "train" if shuffle is None else bool(shuffle)


def make_info(**kw):
    return dict(kw)
