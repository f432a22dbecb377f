"""Box-aware Albumentations augmentation inside ``tf.data`` (detection pipelines).

:class:`DetectionAugmenter` runs an ``albumentations.Compose`` on each example
(image + ``xyxy`` pixel boxes + the class and difficult flags that ride with
them) through ``tf.numpy_function``. It is seeded per example: a stream of
seeds comes from ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``,
so two runs with the same ``seed`` give the same augmented epochs, and each
epoch differs from the last. Each worker thread uses its own copy of the
pipeline, so parallel calls cannot disturb each other's random state.

Albumentations drops the boxes whose visible part falls under ``min_visibility``
(fraction of the original area) or ``min_area`` (pixels); when a transform drops
*every* box of an image, a warning names the image, and the image is kept with
no objects (counted in ``augmenter.stats["images_emptied"]``).
"""

import copy
import threading
import warnings

import numpy as np

#: CIANNA's VOC settings (cianna.md section E), in pixels of a 416 px output.
VOC_MIN_VISIBILITY = 0.4
VOC_MIN_AREA = 144.0


def voc_detection_preset(image_size=416, *, min_visibility=VOC_MIN_VISIBILITY, min_area=VOC_MIN_AREA, pre_size=480):
    """The course's VOC detection augmentation as an ``albumentations.Compose``.

    CIANNA first pads each image to a square and resizes it to 480 px; then
    ``Affine(scale 0.85-1.15, rotate ±7°)``; one of ``RandomSizedCrop(224-448 px)``
    (weight 6, i.e. p=0.5), ``Affine(scale 0.7-1.0, translate ±72 px)`` (weight 3) or
    ``Affine(scale 0.4-0.7, translate ±144 px)`` (weight 3); ``Resize`` to the output;
    ``HorizontalFlip(0.5)``; ``ColorJitter(0.66-1.5 brightness/contrast/saturation,
    hue ±0.15)``; ``ToGray(0.02)``. Boxes under ``min_visibility`` (0.4) or
    ``min_area`` (144 px² at 416 px, scaled with the output size) are dropped.

    Args:
        image_size: output size, int or ``(height, width)``.
        min_visibility: fraction of a box's area that must stay in the image.
        min_area: smallest kept box area in pixels, for a 416 px output (scaled
            by ``(height * width) / 416²`` for other sizes).
        pre_size: side of the padded square the image is resized to first (CIANNA: 480);
            crop sizes and translations scale with it.

    Returns:
        An ``albumentations.Compose`` whose boxes are in ``pascal_voc`` (``xyxy`` pixels).
    """
    import albumentations as A
    import cv2

    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    h, w = (int(v) for v in image_size)
    k = pre_size / 480.0
    area = float(min_area) * (h * w) / (416.0 * 416.0)
    crop_lo, crop_hi = int(round(224 * k)), min(pre_size, int(round(448 * k)))
    border = dict(border_mode=cv2.BORDER_CONSTANT, fill=0)
    return A.Compose(
        [
            A.LongestMaxSize(max_size=pre_size),
            A.PadIfNeeded(min_height=pre_size, min_width=pre_size, position="center", **border),
            A.Affine(scale=(0.85, 1.15), rotate=(-7, 7), p=1.0, **border),
            A.OneOf(
                [
                    A.RandomSizedCrop(min_max_height=(crop_lo, crop_hi), size=(h, w), w2h_ratio=w / h, p=0.5),
                    A.Affine(scale=(0.7, 1.0), translate_px=(-int(72 * k), int(72 * k)), p=0.25, **border),
                    A.Affine(scale=(0.4, 0.7), translate_px=(-int(144 * k), int(144 * k)), p=0.25, **border),
                ],
                p=1.0,
            ),
            A.Resize(height=h, width=w),
            A.HorizontalFlip(p=0.5),
            A.ColorJitter(brightness=(0.66, 1.5), contrast=(0.66, 1.5), saturation=(0.66, 1.5), hue=0.15, p=1.0),
            A.ToGray(p=0.02),
        ],
        bbox_params=A.BboxParams(
            format="pascal_voc",
            label_fields=["object_index"],
            min_visibility=min_visibility,
            min_area=area,
            clip=True,
            filter_invalid_bboxes=True,
        ),
    )


class DetectionAugmenter:
    """Apply an Albumentations pipeline to detection examples in ``tf.data``.

    Args:
        transform: an ``albumentations.Compose`` with ``bbox_params`` in ``"pascal_voc"``
            format, or a list of Albumentations transforms (wrapped in a ``Compose`` with
            ``min_visibility`` and ``min_area``).
        seed: seed of the per-example random streams (``None``: not reproducible).
        output_size: ``(height, width)`` the pipeline produces, if known; images of
            another size are resized (boxes follow) so that batches stack.
        min_visibility: used only when ``transform`` is a list.
        min_area: used only when ``transform`` is a list.
        warn_empty: warn when a transform drops every box of an image.

    Attributes:
        stats: counters ``{"images", "images_emptied", "boxes_in", "boxes_out"}``
            updated as examples flow through.
    """

    def __init__(self, transform, *, seed=None, output_size=None, min_visibility=0.0, min_area=0.0, warn_empty=True):
        import albumentations as A

        if isinstance(transform, (list, tuple)):
            transform = A.Compose(
                list(transform),
                bbox_params=A.BboxParams(
                    format="pascal_voc",
                    label_fields=["object_index"],
                    min_visibility=min_visibility,
                    min_area=min_area,
                    clip=True,
                    filter_invalid_bboxes=True,
                ),
            )
        if not isinstance(transform, A.Compose):
            raise TypeError(
                "`transform` should be an albumentations.Compose (with bbox_params) or a list of "
                f"transforms. Received: {type(transform).__name__}"
            )
        processor = transform.processors.get("bboxes")
        if processor is None:
            raise ValueError(
                "The albumentations.Compose has no `bbox_params`, so it would move the image without "
                "its boxes. Pass bbox_params=A.BboxParams(format='pascal_voc', ...)."
            )
        if processor.params.format != "pascal_voc":
            raise ValueError(
                "The albumentations.Compose must take boxes in 'pascal_voc' format (xyxy pixels, the "
                f"format of astrozoo's pipelines). Received: format={processor.params.format!r}"
            )
        self.transform = transform
        self.label_fields = list(processor.params.label_fields or [])
        self.seed = seed
        self.output_size = tuple(output_size) if output_size is not None else None
        self.warn_empty = warn_empty
        self.stats = {"images": 0, "images_emptied": 0, "boxes_in": 0, "boxes_out": 0}
        self._local = threading.local()
        self._lock = threading.Lock()

    def _pipeline(self):
        t = getattr(self._local, "transform", None)
        if t is None:
            t = copy.deepcopy(self.transform)
            self._local.transform = t
        return t

    def augment_numpy(self, image, boxes, seed, image_id=""):
        """Augment one example in NumPy.

        Returns:
            ``(image, boxes, kept)``: the new image (uint8), its ``(m, 4)`` float32 boxes,
            and the int32 indices of the input boxes that survived.
        """
        t = self._pipeline()
        t.set_random_seed(int(seed) % (2**32))
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        h, w = image.shape[:2]
        # Albumentations rejects boxes that touch nothing; the loaders already clipped them.
        boxes = np.clip(boxes, 0, [w, h, w, h])
        idx = np.arange(len(boxes), dtype=np.int32)
        extra = {f: idx for f in self.label_fields}
        out = t(image=np.ascontiguousarray(image), bboxes=boxes, **extra)
        kept = np.asarray(out[self.label_fields[0]] if self.label_fields else [], np.int32).reshape(-1)
        new_boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)[:, :4]
        if not self.label_fields:
            kept = np.arange(len(new_boxes), dtype=np.int32)
        with self._lock:
            self.stats["images"] += 1
            self.stats["boxes_in"] += len(boxes)
            self.stats["boxes_out"] += len(new_boxes)
            emptied = len(boxes) > 0 and len(new_boxes) == 0
            if emptied:
                self.stats["images_emptied"] += 1
        if emptied and self.warn_empty:
            name = image_id.decode() if isinstance(image_id, bytes) else str(image_id)
            warnings.warn(
                f"Augmentation dropped all {len(boxes)} boxes of image {name!r} (boxes under "
                "min_visibility/min_area after the transform); the image is kept with no objects.",
                stacklevel=2,
            )
        return np.ascontiguousarray(out["image"], dtype=np.uint8), new_boxes, kept

    def apply(self, ds):
        """Map the augmentation over a tf.data of example dicts (after cache and shuffle)."""
        import tensorflow as tf

        from astrozoo.datasets import _detection

        seeds = tf.data.Dataset.random(seed=self.seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, seeds))

        def fn(e, s):
            image, boxes, kept = tf.numpy_function(
                self.augment_numpy,
                [e["image"], tf.reshape(tf.cast(e["boxes"], tf.float32), [-1, 4]), s, e["id"]],
                [tf.uint8, tf.float32, tf.int32],
                stateful=False,
            )
            image.set_shape([None, None, 3])
            boxes.set_shape([None, 4])
            kept.set_shape([None])
            out = dict(e)
            out["image"], out["boxes"] = image, boxes
            out["classes"] = tf.gather(tf.reshape(e["classes"], [-1]), kept)
            out["difficult"] = tf.gather(tf.reshape(e["difficult"], [-1]), kept)
            if self.output_size is not None:
                shape = tf.shape(image)[:2]
                target = tf.constant(self.output_size, tf.int32)
                out = tf.cond(
                    tf.reduce_all(tf.equal(shape, target)),
                    lambda: out,
                    lambda: _detection.resize_example(out, self.output_size, "stretch"),
                )
                out["image"] = tf.ensure_shape(out["image"], [*self.output_size, 3])
            return out

        return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def resolve_augment(augment, image_size, seed=None):
    """Turn a loader's ``augment=`` argument into a :class:`DetectionAugmenter` (or None)."""
    if augment is None or augment is False:
        return None
    if isinstance(augment, DetectionAugmenter):
        if augment.output_size is None and image_size is not None:
            augment.output_size = tuple(image_size)
        return augment
    size = tuple(image_size) if image_size is not None else (416, 416)
    if augment is True or (isinstance(augment, str) and augment.lower() == "voc"):
        return DetectionAugmenter(voc_detection_preset(size), seed=seed, output_size=size)
    try:
        import albumentations as A
    except ImportError:  # pragma: no cover
        A = None
    if A is not None and isinstance(augment, (A.Compose, list, tuple)):
        return DetectionAugmenter(augment, seed=seed, output_size=image_size)
    raise ValueError(
        "`augment` should be None/False, True or 'voc' (the CIANNA VOC preset), an albumentations.Compose "
        f"with pascal_voc bbox_params, or a DetectionAugmenter. Received: augment={augment!r}"
    )
