"""Box priors (anchors) from the training boxes: k-means with the IoU distance (YOLOv2)."""

import numpy as np


def _as_wh(boxes, box_format):
    a = np.asarray(boxes, dtype="float64")
    if a.ndim != 2 or a.shape[1] not in (2, 4):
        raise ValueError(
            f"`boxes` should be an (N, 4) array of boxes or an (N, 2) array of (w, h). Received shape {a.shape}"
        )
    if a.shape[1] == 2:
        wh = a
    elif box_format == "xyxy":
        wh = a[:, 2:4] - a[:, 0:2]
    elif box_format == "xywh":
        wh = a[:, 2:4]
    else:
        raise ValueError(f"`box_format` should be 'xyxy' or 'xywh'. Received: box_format={box_format!r}")
    keep = np.all(np.isfinite(wh), axis=1) & np.all(wh > 0, axis=1) & np.all(a > -1, axis=1)
    return wh[keep]  # padding rows (-1) and degenerate boxes are ignored


def centered_iou(wh, centroids):
    """IoU ``(N, K)`` of boxes of sizes ``wh`` and ``centroids`` sharing the same centre."""
    inter = np.minimum(wh[:, None, 0], centroids[None, :, 0]) * np.minimum(wh[:, None, 1], centroids[None, :, 1])
    union = wh[:, None, 0] * wh[:, None, 1] + centroids[None, :, 0] * centroids[None, :, 1] - inter
    return inter / union


def kmeans_priors(boxes, k=5, box_format="xyxy", iterations=300, seed=0, scale=1.0):
    """Priors ``(k, 2)`` in pixels (sorted by area) from k-means with ``1 - IoU`` distance.

    Args:
        boxes: ``(N, 4)`` boxes (rows with -1 padding are skipped) or ``(N, 2)`` sizes.
        k: number of priors.
        box_format: "xyxy" or "xywh" for 4-column boxes.
        iterations: maximum Lloyd iterations.
        seed: seed of the k-means++ initialisation.
        scale: multiply the sizes (e.g. the resize factor from the original images to the network input).

    Returns:
        ``numpy`` array ``(k, 2)`` of ``(w, h)``; :func:`mean_best_iou` judges them.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` should be a positive integer. Received: k={k!r}")
    wh = _as_wh(boxes, box_format) * float(scale)
    if len(wh) < k:
        raise ValueError(f"k-means needs at least k={k} valid boxes; received {len(wh)}.")
    rng = np.random.default_rng(seed)
    centroids = [wh[rng.integers(len(wh))]]
    for _ in range(1, k):  # k-means++ with the IoU distance
        d = 1.0 - centered_iou(wh, np.asarray(centroids)).max(axis=1)
        p = d / d.sum() if d.sum() > 0 else None
        centroids.append(wh[rng.choice(len(wh), p=p)])
    centroids = np.asarray(centroids)
    assign = None
    for _ in range(iterations):
        new = np.argmax(centered_iou(wh, centroids), axis=1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = wh[assign == j]
            if len(members):
                centroids[j] = np.median(members, axis=0) if len(members) > 2 else members.mean(axis=0)
    order = np.argsort(centroids[:, 0] * centroids[:, 1])
    return centroids[order]


def mean_best_iou(boxes, priors, box_format="xyxy", scale=1.0):
    """Average over boxes of the best centred IoU with the priors (the k-means objective)."""
    wh = _as_wh(boxes, box_format) * float(scale)
    return float(centered_iou(wh, np.asarray(priors, dtype="float64")).max(axis=1).mean())
