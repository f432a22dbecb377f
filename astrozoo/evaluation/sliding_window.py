"""The course's simple detector: a cutout classifier applied as a sliding window.

A classifier trained on object cutouts plus a *background* class
(:func:`astrozoo.datasets.voc_cutouts`) is run on every window of a regular
grid, at a few window sizes; windows whose most probable class is an object
become detections scored by that class's probability, and per-class
non-maximum suppression removes the duplicates. The windows of a group of
images are cut with one ``tf.image.crop_and_resize`` call (bilinear, as the
cutouts were made) and classified in large batches: there is one ``predict``
per group of images, never one per window.
"""

import numpy as np


def window_grid(height, width, window, stride):
    """``xyxy`` boxes of square windows of side ``window`` on a regular grid.

    The last row and column are moved to touch the bottom/right border, so the
    whole image is covered. ``stride`` is in pixels.
    """
    window = float(min(window, height, width))

    def starts(extent):
        n = int(np.floor((extent - window) / stride)) + 1
        s = np.arange(max(n, 1), dtype=np.float64) * stride
        if s[-1] + window < extent - 1e-6:
            s = np.append(s, extent - window)
        return s

    ys, xs = starts(height), starts(width)
    y0, x0 = np.meshgrid(ys, xs, indexing="ij")
    y0, x0 = y0.reshape(-1), x0.reshape(-1)
    return np.stack([x0, y0, x0 + window, y0 + window], axis=1).astype(np.float32)


def sliding_window_detect(
    classifier,
    images,
    window_sizes=(32, 64, 128),
    stride=0.25,
    *,
    background_class=-1,
    score_threshold=0.5,
    iou_threshold=0.3,
    max_detections=100,
    require_foreground=True,
    context=0.0,
    batch_size=1024,
    images_per_step=4,
):
    """Detect objects with a cutout classifier applied as a sliding window, then NMS.

    Args:
        classifier: a Keras model mapping ``(n, h, w, c)`` cutouts (normalised as in its
            training) to class probabilities, background class included.
        images: ``(N, H, W, C)`` array of images of one size, already normalised as the
            classifier expects, or a ``tf.data.Dataset`` / iterable of such batches.
        window_sizes: window sides in pixels of ``images`` (the course uses 3 sizes).
        stride: step between windows: a float in (0, 1] is a fraction of the window
            side, an int >= 1 a number of pixels.
        background_class: index of the background output (default: the last one).
        score_threshold: smallest class probability kept.
        iou_threshold: per-class NMS overlap above which the lower-scored box is removed.
        max_detections: detections kept per image (and per class before the merge).
        require_foreground: keep only windows whose most probable class is an object.
        context: the margin the training cutouts were cut with (``voc_cutouts(context=...)``,
            a fraction of the object size): a window then frames an object of side
            ``window / (1 + context)``, and the returned box is shrunk to it.
        batch_size: windows per classifier batch.
        images_per_step: images whose windows are cut and classified together.

    Returns:
        One dict per image, ``{"boxes": (n, 4) xyxy pixels, "scores": (n,), "classes": (n,)}``
        with object class indices (the background removed, later classes shifted down
        when the background is not last), ready for :func:`astrozoo.evaluation.voc_map`.
    """
    import tensorflow as tf

    from astrozoo.datasets._detection import crop_and_resize_boxes

    if not window_sizes:
        raise ValueError("`window_sizes` should list at least one window side in pixels.")
    if context < 0:
        raise ValueError(f"`context` should be >= 0. Received: context={context!r}")
    if any(w <= 0 for w in window_sizes):
        raise ValueError(f"`window_sizes` should be positive. Received: window_sizes={window_sizes!r}")
    if isinstance(stride, float) and not 0.0 < stride <= 1.0:
        raise ValueError(f"A float `stride` is a fraction of the window, in (0, 1]. Received: stride={stride!r}")
    if isinstance(stride, int) and stride < 1:
        raise ValueError(f"An int `stride` is in pixels and should be >= 1. Received: stride={stride!r}")
    in_shape = classifier.input_shape
    if isinstance(in_shape, list):
        in_shape = in_shape[0]
    crop = tuple(int(v) for v in in_shape[1:3])

    def groups():
        if isinstance(images, np.ndarray) or tf.is_tensor(images):
            arr = np.asarray(images)
            if arr.ndim != 4:
                raise ValueError(f"`images` should be a 4D (N, H, W, C) array. Received shape {arr.shape}")
            for i in range(0, len(arr), images_per_step):
                yield arr[i : i + images_per_step]
        else:
            for batch in images:
                if isinstance(batch, (tuple, list)):
                    batch = batch[0]
                batch = np.asarray(batch)
                for i in range(0, len(batch), images_per_step):
                    yield batch[i : i + images_per_step]

    results = []
    for group in groups():
        b, h, w = group.shape[:3]
        grid = np.concatenate(
            [window_grid(h, w, s, stride * s if isinstance(stride, float) else stride) for s in window_sizes]
        )
        n = len(grid)
        # The same sampling as the training cutouts of voc_cutouts.
        norm = crop_and_resize_boxes(grid, h, w, crop)
        boxes_all = np.tile(norm, (b, 1))
        box_idx = np.repeat(np.arange(b, dtype=np.int32), n)
        crops = tf.image.crop_and_resize(tf.cast(group, tf.float32), boxes_all, box_idx, crop, method="bilinear")
        probs = np.asarray(classifier.predict(crops, batch_size=batch_size, verbose=0), np.float32)
        k = probs.shape[-1]
        bg = background_class % k
        obj_cols = [c for c in range(k) if c != bg]
        scores = probs[:, obj_cols]
        if require_foreground:
            scores = np.where((np.argmax(probs, -1) != bg)[:, None], scores, 0.0)
        scores = scores.reshape(b, n, len(obj_cols))
        yxyx = grid[:, [1, 0, 3, 2]]
        nms_boxes, nms_scores, nms_classes, valid = tf.image.combined_non_max_suppression(
            np.broadcast_to(yxyx[None, :, None, :], (b, n, 1, 4)),
            scores,
            max_output_size_per_class=max_detections,
            max_total_size=max_detections,
            iou_threshold=iou_threshold,
            score_threshold=score_threshold,
            clip_boxes=False,
        )
        for i in range(b):
            m = int(valid[i])
            yx = nms_boxes[i, :m].numpy()
            if context:
                c = (yx[:, :2] + yx[:, 2:]) / 2
                half = (yx[:, 2:] - yx[:, :2]) / (2 * (1 + context))
                yx = np.concatenate([c - half, c + half], axis=1)
            results.append(
                {
                    "boxes": yx[:, [1, 0, 3, 2]].astype(np.float32),
                    "scores": nms_scores[i, :m].numpy().astype(np.float32),
                    "classes": nms_classes[i, :m].numpy().astype(np.int64),
                }
            )
    return results
