"""ImageNet (ILSVRC 2012): TFDS ``imagenet2012`` (manual download) or a class-folder tree.

Training examples are random crops: the shorter side is resized to a random
length in ``train_resize_range`` (256-480 px, as in the course), then a random
``image_size`` crop (224) and a random horizontal flip, all seeded. Validation
and test examples are resized to a shorter side of ``eval_resize`` (256) and
center-cropped to ``image_size`` (224).
"""

import pathlib

import numpy as np
import tensorflow as tf

from astrozoo.datasets import _common as C
from astrozoo.datasets.registry import register_dataset

URL = ("https://image-net.org/download (ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar; "
       "TFDS: put them in the manual_dir of 'imagenet2012')")
_SPLIT_DIRS = {"train": ("train",), "validation": ("val", "validation")}


def resize_shorter(image, side):
    """Resize so that the shorter side is ``side`` (a scalar tensor or int), keeping the aspect ratio."""
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    scale = tf.cast(side, tf.float32) / tf.minimum(h, w)
    new = tf.cast(tf.round(tf.stack([h * scale, w * scale])), tf.int32)
    new = tf.maximum(new, tf.cast(side, tf.int32))
    out = tf.image.resize(tf.cast(image, tf.float32), new, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


def center_crop(image, size):
    h, w = size
    shape = tf.shape(image)
    top = (shape[0] - h) // 2
    left = (shape[1] - w) // 2
    return image[top:top + h, left:left + w]


def train_crop(image, seed, size, resize_range=(256, 480), flip=True):
    """Seeded random-scale crop: shorter side in ``resize_range``, crop ``size``, random flip."""
    seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    seeds = tf.random.experimental.stateless_split(seed, 3)
    lo, hi = resize_range
    side = tf.random.stateless_uniform([], seeds[0], minval=lo, maxval=hi + 1, dtype=tf.int32)
    side = tf.maximum(side, max(size))
    image = resize_shorter(image, side)
    image = tf.image.stateless_random_crop(image, [size[0], size[1], 3], seeds[1])
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seeds[2])
    return image


def eval_crop(image, size, resize=256):
    """Resize the shorter side to ``resize`` and center-crop ``size``."""
    return center_crop(resize_shorter(image, max(resize, max(size))), size)


def imagenet_files(data_dir, split):
    """``(paths, labels, class_names)`` of an ImageNet-style tree ``data_dir/{train,val}/<wnid>/*.JPEG``."""
    root = C.check_dir(data_dir, "ImageNet", URL)
    for d in _SPLIT_DIRS[split]:
        if (root / d).is_dir():
            # The class list always comes from train/ when present, so both splits agree.
            names_root = root / "train" if (root / "train").is_dir() else root / d
            names = sorted(p.name for p in names_root.iterdir() if p.is_dir())
            return C.scan_class_folders(root / d, names)
    raise FileNotFoundError(
        f"ImageNet split {split!r}: expected the folder {root / _SPLIT_DIRS[split][0]}/<class>/*.JPEG "
        f"(an ImageNet-style tree). Download the data from {URL}."
    )


@register_dataset(
    "imagenet",
    task="image_classification",
    source="TFDS 'imagenet2012' (manual download) or an ImageNet-style class-folder tree",
    licence="ImageNet terms of access (non-commercial research and education)",
    size="1,281,167 train / 50,000 validation images, 1000 classes, 155 GB",
    splits=("train", "validation"),
    builder="darknet19 (CIANNA input scaling (x - 100) / 155), resnet50",
    description="The course's backbone pre-training set; random 224 crops for training, 256 -> 224 centre crop for eval.",
    url=URL,
    tfds_name="imagenet2012",
    references=("Russakovsky et al. 2015, IJCV 115, 211",),
)
def imagenet(split="train", batch_size=16, image_size=224, augment=None, shuffle=None, seed=None, cache=False,
             data_dir=None, manual_dir=None, label_mode="int", rescale="cianna", random_crop=None,
             train_resize_range=(256, 480), eval_resize=256, check_files=False, drop_remainder=False,
             with_info=False, tfds_kwargs=None):
    """ImageNet as ``(image, label)`` batches.

    Images are float32; ``rescale="cianna"`` (default) gives ``(x - 100) / 155``,
    the input scaling of CIANNA's Darknet-19 (:func:`astrozoo.applications.darknet19`);
    ``"unit"`` gives ``[0, 1]``.

    Args:
        split: ``"train"`` or ``"validation"``, optionally sliced.
        image_size: crop size (int or pair), 224 by default (448 for the course's fine-tuning).
        random_crop: random-scale crops and flips (default: only for ``"train"``);
            otherwise resize to ``eval_resize`` and centre crop.
        train_resize_range: range of the random shorter side before the crop.
        eval_resize: shorter side before the centre crop (256; 480 at 448 px).
        data_dir: an ImageNet-style tree (``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``);
            ``None`` uses TFDS ``imagenet2012``, prepared from ``manual_dir`` (the folder
            holding the ILSVRC2012 tar files) the first time.
        check_files: read every file once first to skip (and count) unreadable ones;
            otherwise undecodable files are dropped on the fly (logged by TensorFlow).
        augment: an extra Albumentations transform / callable applied after the crop.
        cache: ``False`` by default (the decoded set does not fit in memory).
        batch_size, shuffle, seed, label_mode, drop_remainder, with_info, tfds_kwargs:
            as in :func:`astrozoo.datasets.mnist`.
    """
    C.check_common(batch_size, seed, label_mode, rescale)
    name, start, stop = C.parse_split(split, ("train", "validation"))
    size = C.check_image_size(image_size, (224, 224))
    random_crop = name == "train" if random_crop is None else bool(random_crop)
    aug = C.resolve_augment(augment, "asirra", size)
    skipped = []
    if data_dir is None:
        kwargs = dict(tfds_kwargs or {})
        if manual_dir is not None:
            import tensorflow_datasets as tfds

            kwargs.setdefault("download_and_prepare_kwargs", {})["download_config"] = tfds.download.DownloadConfig(
                manual_dir=str(manual_dir))
        ds, tinfo = C.load_tfds("imagenet2012", split, kwargs, "ImageNet",
                                f"pass manual_dir= the folder with the ILSVRC2012 tar files, or data_dir= "
                                f"an ImageNet-style tree ({URL})")
        n = C.tfds_num_examples(tinfo, split)
        names = list(tinfo.features["label"].names)
        ds = ds.map(lambda x, y: (x, tf.cast(y, tf.int64)))
        source = "tfds:imagenet2012"
    else:
        paths, labels, names = imagenet_files(data_dir, name)
        idx = C.slice_indices(len(paths), start, stop)
        paths, labels = [paths[i] for i in idx], labels[idx]
        if check_files:
            skipped = C.find_corrupt(paths)
            C.report_corrupt(skipped, f"ImageNet {pathlib.Path(data_dir)}")
            keep = np.setdiff1d(np.arange(len(paths)), [b[0] for b in skipped])
            paths, labels = [paths[i] for i in keep], labels[keep]
        n = len(paths)
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), labels))
        if C.default_shuffle(shuffle, name):
            # Shuffle file names (cheap) before decoding, not decoded images.
            ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda p, y: (C.decode_image(tf.io.read_file(p)), y), num_parallel_calls=C.AUTOTUNE)
        if not check_files:
            ds = ds.ignore_errors(log_warning=True)
        source = str(data_dir)

    if random_crop:
        ds = tf.data.Dataset.zip((tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True), ds))
        ds = ds.map(lambda s, xy: (train_crop(xy[0], s, size, tuple(train_resize_range)), xy[1]),
                    num_parallel_calls=C.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (eval_crop(x, size, eval_resize), y), num_parallel_calls=C.AUTOTUNE)
    ds = ds.map(lambda x, y: (tf.ensure_shape(x, [size[0], size[1], 3]), y))
    ds = C.finish(ds, num_examples=n, batch_size=batch_size,
                  shuffle=C.default_shuffle(shuffle, name) and data_dir is None, seed=seed, cache=cache,
                  augment=aug, map_x=lambda t: C.rescale_images(t, rescale), num_classes=len(names),
                  label_mode=label_mode, drop_remainder=drop_remainder, shuffle_buffer=4096)
    if with_info:
        return ds, C.make_info(class_names=names, num_examples=n, source=source, image_shape=(*size, 3),
                               rescale=rescale, skipped=skipped)
    return ds
