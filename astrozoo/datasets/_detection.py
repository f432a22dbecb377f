"""Shared core of the detection pipelines (VOC, COCO): the in-memory index of a
split and the tf.data pipeline built from it.

Boxes live as float32 ``xyxy`` pixel corners on a continuous grid (the top-left
corner of the image is (0, 0), the bottom-right (width, height)) until the last
step, where they are converted to the user's ``bounding_box_format`` with
``keras.utils.bounding_boxes.convert_format`` and padded with -1.
"""

import dataclasses
import logging
import os
import warnings

import numpy as np

logger = logging.getLogger("astrozoo.datasets")



def check_rescale(rescale):
    """``rescale`` as the other loaders take it (``astrozoo.datasets.RESCALE_MODES``)."""
    from astrozoo.datasets._common import RESCALE_MODES

    if not (rescale is None or callable(rescale) or rescale in RESCALE_MODES):
        raise ValueError(
            f"`rescale` should be one of {sorted(RESCALE_MODES)}, None or a callable. Received: rescale={rescale!r}"
        )


@dataclasses.dataclass
class DetectionIndex:
    """What a loader found on disk for one split, before any image is decoded.

    Attributes:
        image_paths: one image file per entry (empty strings for in-memory sources).
        boxes: per image, ``(n, 4)`` float32 ``xyxy`` pixel corners (continuous, 0-based).
        classes: per image, ``(n,)`` int32 class indices into ``class_names``.
        difficult: per image, ``(n,)`` bool flags (VOC ``difficult``, COCO ``iscrowd``).
        image_sizes: per image, ``(height, width)`` from the annotation.
        class_names: tuple of class names; index ``i`` is class ``i``.
        ids: per image, an identifier (file stem or COCO image id).
        skipped_images: ``(path, reason)`` of each image left out (corrupt or missing).
        clipped_boxes: number of boxes that reached outside the image and were clipped.
        dropped_boxes: number of boxes with zero area after clipping, left out.
    """

    image_paths: list
    boxes: list
    classes: list
    difficult: list
    image_sizes: list
    class_names: tuple
    ids: list
    skipped_images: list = dataclasses.field(default_factory=list)
    clipped_boxes: int = 0
    dropped_boxes: int = 0

    def __len__(self):
        return len(self.image_paths)

    @property
    def num_objects(self):
        return int(sum(len(c) for c in self.classes))

    def summary(self):
        """A dict of counts, for logs and ``metrics.json`` files."""
        return {
            "images": len(self),
            "objects": self.num_objects,
            "difficult_objects": int(sum(int(np.sum(d)) for d in self.difficult)),
            "images_without_objects": int(sum(len(c) == 0 for c in self.classes)),
            "skipped_images": len(self.skipped_images),
            "clipped_boxes": self.clipped_boxes,
            "dropped_boxes": self.dropped_boxes,
            "class_names": list(self.class_names),
        }


def clip_boxes(boxes, height, width):
    """Clip ``xyxy`` boxes to the image; returns (boxes, n_clipped, keep_mask)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    clipped = np.stack(
        [
            np.clip(boxes[:, 0], 0, width),
            np.clip(boxes[:, 1], 0, height),
            np.clip(boxes[:, 2], 0, width),
            np.clip(boxes[:, 3], 0, height),
        ],
        axis=1,
    )
    n_clipped = int(np.sum(np.any(clipped != boxes, axis=1)))
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    return clipped, n_clipped, keep


_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def image_problem(path):
    """Why the file at ``path`` cannot be decoded, or ``None`` when it looks sound.

    A cheap check (magic bytes, the JPEG end marker) runs first; files that fail
    it get a full decode with Pillow before being declared corrupt, so that a
    valid JPEG with trailing bytes is not thrown away.
    """
    try:
        size = os.path.getsize(path)
    except OSError:
        return "missing"
    if size == 0:
        return "empty file"
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(max(0, size - 2))
        tail = f.read(2)
    if head.startswith(_JPEG_MAGIC) and tail == b"\xff\xd9":
        return None
    if head.startswith(_PNG_MAGIC):
        return None
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.load()
        if not (head.startswith(_JPEG_MAGIC) or head.startswith(_PNG_MAGIC) or head[:3] == b"GIF"):
            return "not a JPEG, PNG or GIF file"
    except Exception as e:  # Pillow raises many types for broken files
        return f"cannot be decoded ({type(e).__name__}: {e})"
    return None


def report_index(index, name):
    """Log (and warn about) skipped images and clipped boxes of an index."""
    if index.skipped_images:
        shown = ", ".join(f"{os.path.basename(p)} ({r})" for p, r in index.skipped_images[:5])
        more = "" if len(index.skipped_images) <= 5 else f" and {len(index.skipped_images) - 5} more"
        from astrozoo.datasets._common import CorruptFilesWarning

        msg = f"{name}: skipped {len(index.skipped_images)} unreadable image(s): {shown}{more}."
        warnings.warn(msg, CorruptFilesWarning, stacklevel=3)
        logger.warning(msg)
    if index.clipped_boxes or index.dropped_boxes:
        logger.warning(
            "%s: %d box(es) reached outside their image and were clipped; %d box(es) with zero "
            "area were left out.",
            name,
            index.clipped_boxes,
            index.dropped_boxes,
        )


def check_common_args(split, batch_size, image_size, bounding_box_format, rescale, max_boxes):
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`batch_size` should be a positive integer or None. Received: batch_size={batch_size!r}")
    from astrozoo.datasets._common import check_image_size

    image_size = check_image_size(image_size)
    formats = (
        "xyxy",
        "yxyx",
        "xywh",
        "center_xywh",
        "center_yxhw",
        "rel_xyxy",
        "rel_yxyx",
        "rel_xywh",
        "rel_center_xywh",
    )
    if bounding_box_format not in formats:
        raise ValueError(
            f"`bounding_box_format` should be one of {formats}. "
            f"Received: bounding_box_format={bounding_box_format!r}"
        )
    check_rescale(rescale)
    if max_boxes is not None and (not isinstance(max_boxes, int) or max_boxes < 1):
        raise ValueError(f"`max_boxes` should be a positive integer or None. Received: max_boxes={max_boxes!r}")
    return image_size


def index_to_records(index):
    """tf.data of per-image *records*: encoded image bytes, relative boxes, labels, id.

    Records are small (the file's bytes), so they can be cached and shuffled
    with a full-size buffer before :func:`decode_records` decodes them. Boxes are
    stored relative to the annotated image size, so that they follow the image
    whatever size it decodes to.
    """
    import tensorflow as tf

    lengths = np.array([len(c) for c in index.classes], np.int64)
    rel = [
        np.asarray(b, np.float32).reshape(-1, 4) / np.array([w, h, w, h], np.float32)
        for b, (h, w) in zip(index.boxes, index.image_sizes)
    ]
    boxes = np.concatenate(rel or [np.zeros((0, 4))]).astype(np.float32).reshape(-1, 4)
    classes = np.concatenate([c for c in index.classes] or [np.zeros((0,))]).astype(np.int32)
    difficult = np.concatenate([d for d in index.difficult] or [np.zeros((0,))]).astype(bool)
    data = {
        "path": tf.constant(index.image_paths, tf.string),
        "id": tf.constant([str(i) for i in index.ids], tf.string),
        "boxes": tf.RaggedTensor.from_row_lengths(boxes, lengths),
        "classes": tf.RaggedTensor.from_row_lengths(classes, lengths),
        "difficult": tf.RaggedTensor.from_row_lengths(difficult, lengths),
    }
    ds = tf.data.Dataset.from_tensor_slices(data)

    def read(e):
        return {
            "raw": tf.io.read_file(e["path"]),
            "id": e["id"],
            "boxes": e["boxes"],
            "classes": e["classes"],
            "difficult": e["difficult"],
            "shift": tf.constant(0.0),
        }

    return ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def decode_records(ds):
    """Decode the records' images; relative boxes become ``xyxy`` pixels of the decoded image.

    ``shift`` moves the min corners back (in pixels) for sources that store
    1-based VOC corners (TFDS VOC).
    """
    import tensorflow as tf

    def decode(e):
        image = tf.io.decode_image(e["raw"], channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        h, w = shape[0], shape[1]
        rel = tf.reshape(tf.cast(e["boxes"], tf.float32), [-1, 4])
        boxes = rel * tf.stack([w, h, w, h]) - e["shift"] * tf.constant([1.0, 1.0, 0.0, 0.0])
        boxes = tf.clip_by_value(boxes, 0.0, tf.stack([w, h, w, h]))
        return {
            "image": image,
            "id": e["id"],
            "boxes": boxes,
            "classes": tf.reshape(tf.cast(e["classes"], tf.int32), [-1]),
            "difficult": tf.reshape(tf.cast(e["difficult"], tf.bool), [-1]),
        }

    # No ignore_errors(): it would also swallow (and retry forever) errors raised
    # upstream; the folder loaders check every image file before this point.
    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def resize_example(e, image_size, mode):
    """Resize one example to ``image_size``; boxes follow. ``mode``: "stretch" or "letterbox"."""
    import tensorflow as tf

    h_out, w_out = image_size
    image = e["image"]
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    h, w = shape[0], shape[1]
    boxes = tf.reshape(e["boxes"], [-1, 4])
    if mode == "stretch":
        sx, sy = w_out / w, h_out / h
        ox = oy = tf.constant(0.0)
        resized = tf.image.resize(image, (h_out, w_out), method="bilinear", antialias=True)
    else:
        scale = tf.minimum(w_out / w, h_out / h)
        nh = tf.maximum(1, tf.cast(tf.round(h * scale), tf.int32))
        nw = tf.maximum(1, tf.cast(tf.round(w * scale), tf.int32))
        resized = tf.image.resize(image, tf.stack([nh, nw]), method="bilinear", antialias=True)
        top = (h_out - nh) // 2
        left = (w_out - nw) // 2
        resized = tf.image.pad_to_bounding_box(resized, top, left, h_out, w_out)
        sx = tf.cast(nw, tf.float32) / w
        sy = tf.cast(nh, tf.float32) / h
        ox, oy = tf.cast(left, tf.float32), tf.cast(top, tf.float32)
    boxes = boxes * tf.stack([sx, sy, sx, sy]) + tf.stack([ox, oy, ox, oy])
    out = dict(e)
    out["image"] = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    out["boxes"] = boxes
    return out


def finalize(
    ds,
    *,
    batch_size,
    image_size,
    bounding_box_format,
    rescale,
    max_boxes,
    with_difficult,
    with_ids=False,
):
    """Convert boxes, pad with -1, batch, rescale, prefetch."""
    import keras
    import tensorflow as tf

    from astrozoo.datasets._common import prefetch, rescale_images

    def to_output(e):
        boxes = tf.reshape(tf.cast(e["boxes"], tf.float32), [-1, 4])
        classes = tf.cast(tf.reshape(e["classes"], [-1]), tf.float32)
        difficult = tf.cast(tf.reshape(e["difficult"], [-1]), tf.float32)
        if max_boxes is not None:
            boxes, classes, difficult = boxes[:max_boxes], classes[:max_boxes], difficult[:max_boxes]
        shape = tf.shape(e["image"])
        if bounding_box_format != "xyxy":
            boxes = keras.utils.bounding_boxes.convert_format(
                boxes, source="xyxy", target=bounding_box_format, height=shape[0], width=shape[1]
            )
        image = rescale_images(e["image"], rescale)
        y = {"boxes": boxes, "classes": classes}
        if with_difficult:
            y["difficult"] = difficult
        if with_ids:
            y["id"] = e["id"]
        return image, y

    ds = ds.map(to_output, num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size is not None:
        n = max_boxes if max_boxes is not None else None
        h, w = image_size if image_size is not None else (None, None)
        shapes = ([h, w, 3], {"boxes": [n, 4], "classes": [n]})
        values = (0.0, {"boxes": -1.0, "classes": -1.0})
        if with_difficult:
            shapes[1]["difficult"] = [n]
            values[1]["difficult"] = -1.0
        if with_ids:
            shapes[1]["id"] = []
            values[1]["id"] = ""
        ds = ds.padded_batch(batch_size, padded_shapes=shapes, padding_values=values)
    return prefetch(ds)


def build_pipeline(
    records,
    *,
    training,
    batch_size,
    image_size,
    resize_mode,
    augment,
    shuffle,
    seed,
    cache,
    bounding_box_format,
    rescale,
    max_boxes,
    with_difficult,
    with_ids=False,
    num_examples=None,
):
    """From a tf.data of records (:func:`index_to_records`) to the batched, padded pipeline.

    Without augmentation the images are decoded and resized first, and the cache
    holds the resized images (the shuffle buffer holds up to 1024 of them). With
    augmentation the cache and the shuffle hold the encoded records (the files'
    bytes: cheap, and a full shuffle), then the images are decoded and the
    augmenter runs on them at full size, once per epoch.
    """
    import tensorflow as tf

    from astrozoo.datasets import detection_augment

    augmenter = detection_augment.resolve_augment(augment, image_size, seed=seed)
    if shuffle is None:
        shuffle = training
    cache_arg = cache if isinstance(cache, (str, os.PathLike)) else ""
    if augmenter is None:
        base = decode_records(records)
        if image_size is not None:
            base = base.map(
                lambda e: resize_example(e, image_size, resize_mode), num_parallel_calls=tf.data.AUTOTUNE
            )
        if cache:
            base = base.cache(cache_arg)
        if shuffle:
            base = base.shuffle(min(num_examples or 1024, 1024), seed=seed, reshuffle_each_iteration=True)
    else:
        base = records.cache(cache_arg) if cache else records
        if shuffle:
            base = base.shuffle(min(num_examples or 16384, 16384), seed=seed, reshuffle_each_iteration=True)
        base = augmenter.apply(decode_records(base))
        if image_size is None:
            image_size = augmenter.output_size
    return finalize(
        base,
        batch_size=batch_size,
        image_size=image_size,
        bounding_box_format=bounding_box_format,
        rescale=rescale,
        max_boxes=max_boxes,
        with_difficult=with_difficult,
        with_ids=with_ids,
    )


def crop_and_resize_boxes(boxes, height, width, crop_size):
    """``tf.image.crop_and_resize`` box coordinates for continuous ``xyxy`` pixel boxes.

    ``crop_and_resize`` puts its first and last samples *on* the box edges, in
    pixel-centre coordinates normalised by ``size - 1``. To cut a box the way a
    resize of just that region would (samples at the centres of the output
    pixels), the edges are moved half an output pixel inwards and half an input
    pixel back. Works on NumPy arrays and TF tensors; returns ``(n, 4)`` yxyx.
    """
    ch, cw = crop_size
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    sx, sy = (x1 - x0) / cw, (y1 - y0) / ch
    first_x, last_x = x0 + 0.5 * sx - 0.5, x1 - 0.5 * sx - 0.5
    first_y, last_y = y0 + 0.5 * sy - 0.5, y1 - 0.5 * sy - 0.5
    hn = max(height - 1, 1) if isinstance(height, (int, float)) else height - 1
    wn = max(width - 1, 1) if isinstance(width, (int, float)) else width - 1
    parts = [first_y / hn, first_x / wn, last_y / hn, last_x / wn]
    try:
        import tensorflow as tf

        if any(tf.is_tensor(p) for p in parts):
            return tf.stack(parts, axis=1)
    except ImportError:  # pragma: no cover
        pass
    return np.stack(parts, axis=1).astype(np.float32)
