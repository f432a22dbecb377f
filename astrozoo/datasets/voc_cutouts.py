"""The course's cutout classifier data: object cutouts plus background crops.

Before YOLO, the course trains a plain CNN classifier on fixed-size cutouts
around the objects of a detection set, with an extra *background* class made
of crops that overlap no object (20% of the samples in the course). Applied as
a sliding window (:func:`astrozoo.evaluation.sliding_window_detect`), that
classifier is the simple detector that YOLO is compared with.

Every epoch draws new crops: each (non-difficult) object gives one cutout,
its box optionally enlarged by ``context`` and moved/rescaled by ``jitter``;
each image adds background crops whose sizes are drawn from the objects' sizes
and whose positions are drawn until they intersect no object box. Crops are
resized to ``cutout_size`` with ``tf.image.crop_and_resize`` (bilinear).
"""

import numpy as np

from astrozoo.datasets import _detection


def _calibrate_boost(index, share, size_pool, candidates, with_difficult, rng):
    """Multiplier of the per-image background count that gives the wanted overall share.

    Crowded images have no free spot for a crop, so the others must give more. A
    NumPy simulation of the same random draw estimates the free spots per image;
    the boost is then found by bisection. Returns (boost, expected background share).
    """
    wants, frees = [], []
    for boxes, diff in zip(index.boxes, index.difficult):
        h, w = index.image_sizes[len(wants)]
        n_obj = len(boxes) if with_difficult else int(np.sum(~np.asarray(diff, bool)))
        sizes = size_pool[rng.integers(0, len(size_pool), candidates)]
        sw, sh = np.minimum(sizes[:, 0], w), np.minimum(sizes[:, 1], h)
        x0, y0 = rng.random(candidates) * (w - sw), rng.random(candidates) * (h - sh)
        cand = np.stack([x0, y0, x0 + sw, y0 + sh], 1)
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        iw = np.minimum(cand[:, None, 2], b[None, :, 2]) - np.maximum(cand[:, None, 0], b[None, :, 0])
        ih = np.minimum(cand[:, None, 3], b[None, :, 3]) - np.maximum(cand[:, None, 1], b[None, :, 1])
        frees.append(int(np.sum(~np.any((iw > 0) & (ih > 0), axis=1))))
        wants.append(n_obj * share)
    wants, frees = np.array(wants), np.array(frees)
    n_obj_total = wants.sum() / share if share > 0 else 0.0
    target = wants.sum()
    if target == 0:
        return 1.0, 0.0

    def found(b):
        return np.minimum(frees, wants * b).sum()

    lo, hi = 1.0, 1.0
    while found(hi) < target and hi < 64:
        hi *= 2
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if found(mid) < target else (lo, mid)
    boost = hi
    got = found(boost)
    return float(boost), float(got / (got + n_obj_total))


def _draw_crops(
    e, seed, *, num_classes, background_fraction, boost, context, jitter, size_pool, candidates, with_difficult
):
    """Crop boxes (``xyxy`` pixels) and labels of one image, with stateless randomness."""
    import tensorflow as tf

    image = e["image"]
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    h, w = shape[0], shape[1]
    boxes = tf.reshape(tf.cast(e["boxes"], tf.float32), [-1, 4])
    classes = tf.reshape(tf.cast(e["classes"], tf.int32), [-1])
    difficult = tf.reshape(tf.cast(e["difficult"], tf.bool), [-1])
    seeds = tf.random.experimental.stateless_split(tf.stack([seed, seed // 7 + 1]), 4)

    keep = tf.ones_like(difficult) if with_difficult else tf.logical_not(difficult)
    obj, obj_cls = tf.boolean_mask(boxes, keep), tf.boolean_mask(classes, keep)
    n_obj = tf.shape(obj)[0]
    cx, cy = (obj[:, 0] + obj[:, 2]) / 2, (obj[:, 1] + obj[:, 3]) / 2
    bw = (obj[:, 2] - obj[:, 0]) * (1 + context)
    bh = (obj[:, 3] - obj[:, 1]) * (1 + context)
    if jitter > 0:
        u = tf.random.stateless_uniform([n_obj, 4], seeds[0], -jitter, jitter)
        cx, cy = cx + u[:, 0] * bw, cy + u[:, 1] * bh
        bw, bh = bw * (1 + u[:, 2]), bh * (1 + u[:, 3])
    obj_crops = tf.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)

    # Background: n_obj * share (times the crowding boost), rounded at random.
    share = background_fraction / (1.0 - background_fraction)
    want = tf.cast(n_obj, tf.float32) * share * boost
    n_bg = tf.cast(tf.floor(want + tf.random.stateless_uniform([], seeds[1])), tf.int32)
    pool = tf.constant(size_pool, tf.float32)
    pick = tf.random.stateless_uniform([candidates], seeds[2], 0, tf.shape(pool)[0], dtype=tf.int32)
    sizes = tf.gather(pool, pick)  # (candidates, 2) = (width, height) in pixels
    sw, sh = tf.minimum(sizes[:, 0], w), tf.minimum(sizes[:, 1], h)
    r = tf.random.stateless_uniform([candidates, 2], seeds[3])
    x0, y0 = r[:, 0] * (w - sw), r[:, 1] * (h - sh)
    cand = tf.stack([x0, y0, x0 + sw, y0 + sh], axis=1)
    # A candidate is valid when it intersects no object box at all (difficult ones included).
    iw = tf.minimum(cand[:, None, 2], boxes[None, :, 2]) - tf.maximum(cand[:, None, 0], boxes[None, :, 0])
    ih = tf.minimum(cand[:, None, 3], boxes[None, :, 3]) - tf.maximum(cand[:, None, 1], boxes[None, :, 1])
    overlaps = tf.reduce_any((iw > 0) & (ih > 0), axis=1)
    free = tf.boolean_mask(cand, tf.logical_not(overlaps))[:n_bg]
    crops = tf.concat([obj_crops, free], axis=0)  # xyxy pixels
    labels = tf.concat([obj_cls, tf.fill([tf.shape(free)[0]], num_classes)], axis=0)
    return crops, labels


def voc_cutouts(
    split="train",
    *,
    data_dir=None,
    source=None,
    index=None,
    class_names=None,
    cutout_size=32,
    background_fraction=0.2,
    context=0.0,
    jitter=None,
    augment=None,
    batch_size=64,
    shuffle=None,
    seed=None,
    cache=False,
    rescale="cianna",
    with_difficult=False,
    candidates=256,
    with_info=False,
):
    """Fixed-size object cutouts and background crops from a VOC-style detection set.

    Labels are class indices; the background class is the last one
    (``len(class_names)``), so a classifier needs ``len(class_names) + 1`` outputs.

    Args:
        split: list in ``ImageSets/Main`` (``train``, ``val``, ``test``...).
        data_dir: a VOCdevkit-style folder (BCCD: ``../shared/data/bccd/BCCD``).
        source: ``"voc/2007"`` / ``"voc/2012"`` to read TFDS instead of a folder.
        index: an already built :class:`DetectionIndex` (instead of ``data_dir``).
        class_names: class list of a folder (default: as in :func:`voc`).
        cutout_size: side (int) or ``(height, width)`` of the cutouts.
        background_fraction: expected share of background crops among all samples
            (course: 0.2). Images too crowded for a free crop give fewer.
        context: margin added around each object box, as a fraction of its size.
        jitter: random shift and rescaling of object crops, as a fraction of the box size;
            default 0.1 when ``augment`` else 0.
        augment: random horizontal/vertical flips and ``jitter`` (default: training splits).
        batch_size: samples per batch (``None``: unbatched).
        shuffle: shuffle the samples (default: training splits).
        seed: seed of the crops, flips and shuffle (``None``: not reproducible).
        cache: cache the decoded images (``True`` memory, a path prefix for disk). Off by
            default: the decoded full-size images of a VOC split take gigabytes.
        rescale: ``"cianna"``, ``"unit"``, ``"symmetric"``, ``"raw"``/``None`` or a callable, as in :func:`voc`.
        with_difficult: also cut out objects flagged difficult.
        candidates: random background positions tried per image.
        with_info: also return a dict with ``class_names`` (background last),
            ``background_class``, ``size_pool`` and the index.

    Returns:
        A ``tf.data.Dataset`` of ``(cutouts, labels)``: float32 ``(batch, h, w, 3)`` and
        int32 ``(batch,)``; or ``(dataset, info)``.
    """
    import tensorflow as tf

    from astrozoo.datasets._common import check_image_size
    from astrozoo.datasets.voc import _is_tfds_name, _tfds_voc, read_voc_index

    cutout = check_image_size(cutout_size)
    if cutout is None:
        raise ValueError("`cutout_size` is required.")
    if not 0.0 <= background_fraction < 1.0:
        raise ValueError(
            f"`background_fraction` should be in [0, 1). Received: background_fraction={background_fraction!r}"
        )
    _detection.check_rescale(rescale)
    if context < 0:
        raise ValueError(f"`context` should be >= 0. Received: context={context!r}")
    training = split.startswith("train")
    augment = training if augment is None else bool(augment)
    if jitter is None:
        jitter = 0.1 if augment else 0.0
    shuffle = training if shuffle is None else shuffle

    if source is not None and _is_tfds_name(str(source)):
        name = "voc/2007" if source == "voc" else str(source)
        records, class_names, _ = _tfds_voc(name, split, data_dir, False)
        base = _detection.decode_records(records)
        # Object sizes of the TFDS split are unknown before reading: use a generic pool.
        size_pool = np.array([[s, s] for s in (32, 64, 96, 128, 192)], np.float32)
        index = None
    else:
        if index is None:
            if data_dir is None:
                raise ValueError("Give `data_dir` (a VOCdevkit-style folder), `index` or `source='voc/2007'`.")
            index = read_voc_index(data_dir, split, class_names=class_names)
            _detection.report_index(index, f"voc_cutouts({data_dir}, split={split!r})")
        class_names = index.class_names
        sizes = [b[:, 2:] - b[:, :2] for b in index.boxes if len(b)]
        size_pool = np.concatenate(sizes).astype(np.float32) if sizes else np.array([[32.0, 32.0]], np.float32)
        size_pool = size_pool * (1 + context)
        base = _detection.decode_records(_detection.index_to_records(index))
    share = background_fraction / (1.0 - background_fraction)
    if index is not None:
        boost, expected_share = _calibrate_boost(
            index, share, size_pool, candidates, with_difficult, np.random.default_rng(0 if seed is None else seed)
        )
    else:
        boost, expected_share = 1.0, None
    num_classes = len(class_names)
    from astrozoo.datasets._common import prefetch, rescale_images

    if cache:
        base = base.cache(cache if isinstance(cache, str) else "")
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    base = tf.data.Dataset.zip((base, seeds))

    def cut(e, s):
        crops, labels = _draw_crops(
            e,
            s,
            num_classes=num_classes,
            background_fraction=background_fraction,
            boost=boost,
            context=context,
            jitter=jitter,
            size_pool=size_pool,
            candidates=candidates,
            with_difficult=with_difficult,
        )
        images = tf.cast(e["image"], tf.float32)[None]
        shape = tf.cast(tf.shape(e["image"])[:2], tf.float32)
        boxes = _detection.crop_and_resize_boxes(crops, shape[0], shape[1], cutout)
        out = tf.image.crop_and_resize(images, boxes, tf.zeros_like(labels), cutout, method="bilinear")
        if augment:
            flip = tf.random.stateless_uniform([tf.shape(out)[0], 2], tf.stack([s, s // 3 + 5]))
            out = tf.where(flip[:, 0, None, None, None] < 0.5, out[:, :, ::-1], out)
            out = tf.where(flip[:, 1, None, None, None] < 0.5, out[:, ::-1], out)
        out = rescale_images(out, rescale)
        return tf.data.Dataset.from_tensor_slices((out, labels))

    ds = base.interleave(cut, cycle_length=4, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        ds = ds.batch(batch_size)
    ds = prefetch(ds)
    if with_info:
        info = {
            "class_names": tuple(class_names) + ("background",),
            "background_class": num_classes,
            "size_pool": size_pool,
            "background_boost": boost,
            "expected_background_fraction": expected_share,
            "index": index,
        }
        return ds, info
    return ds


def _register():
    from astrozoo.datasets.registry import register_dataset

    register_dataset(
        "voc_cutouts",
        voc_cutouts,
        task="image_classification",
        source="generated each epoch from a VOC-style detection set (VOC, BCCD) by voc_cutouts()",
        licence="that of the detection set it is cut from",
        size="one cutout per object plus 20% background crops per epoch (BCCD train: ~3,400 samples)",
        splits=("train", "val", "trainval", "test"),
        builder="lenet5",
        description="Object cutouts + a background class: the course's classifier for sliding-window detection.",
        overwrite=True,
    )


_register()
