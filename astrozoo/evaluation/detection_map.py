"""Detection mean average precision: PASCAL VOC (``voc_map``) and COCO (``coco_map``).

Both take per-image lists of dicts with ``xyxy`` pixel boxes:

- detections: ``{"boxes": (N, 4), "scores": (N,), "classes": (N,)}``;
- ground truths: ``{"boxes": (M, 4), "classes": (M,), "difficult": (M,) optional}``.

Rows whose class is negative (the -1 padding of astrozoo's pipelines and NMS
outputs) are ignored, so padded batches can be passed row by row.

``voc_map`` follows the PASCAL VOC devkit (2010 onward): detections of a class
sorted by score, each matched to the ground truth of the same class and image
with the highest IoU when that IoU >= ``iou_threshold`` (a second detection of
an already matched object is a false positive);
detections matched to a *difficult* object count neither as true nor false
positives, and difficult objects are left out of the recall; AP is the area
under the precision envelope at every recall point ("all-point interpolation").
Boxes are continuous corners, so the IoU is the plain area ratio (the devkit's
"+1 pixel" IoU on 1-based inclusive indices gives the same numbers once the
boxes are converted as astrozoo's VOC loader does). CIANNA's own mAP script
integrates the same envelope with ``np.trapz``, which gives slightly different
numbers on small sets.

``coco_map`` runs pycocotools' ``COCOeval``; class ``c`` becomes COCO category
``c + 1`` internally, so class 0 is an ordinary class (keras-cv's metrics lost it).
"""

import contextlib
import io

import numpy as np


def _as_rows(item, kind, i, need_scores):
    if not isinstance(item, dict) or "boxes" not in item or "classes" not in item:
        raise ValueError(
            f"{kind}[{i}] should be a dict with 'boxes' and 'classes'"
            + (" and 'scores'" if need_scores else "")
            + f". Received: {type(item).__name__} with keys {sorted(item) if isinstance(item, dict) else None}"
        )
    boxes = np.asarray(item["boxes"], np.float64).reshape(-1, 4)
    classes = np.asarray(item["classes"]).reshape(-1)
    if len(classes) != len(boxes):
        raise ValueError(f"{kind}[{i}] has {len(boxes)} boxes but {len(classes)} classes.")
    if need_scores:
        if "scores" not in item:
            raise ValueError(f"{kind}[{i}] has no 'scores'.")
        extra = np.asarray(item["scores"], np.float64).reshape(-1)
        if len(extra) != len(boxes):
            raise ValueError(f"{kind}[{i}] has {len(boxes)} boxes but {len(extra)} scores.")
    else:
        if item.get("difficult") is None:
            extra = np.zeros(len(boxes), bool)
        else:
            extra = np.asarray(item["difficult"]).reshape(-1)
            if len(extra) != len(boxes):
                raise ValueError(f"{kind}[{i}] has {len(boxes)} boxes but {len(extra)} difficult flags.")
            extra = extra > 0
    valid = classes >= 0
    return boxes[valid], np.round(classes[valid]).astype(np.int64), extra[valid]


def _prepare(detections, ground_truths):
    detections = list(detections)
    ground_truths = list(ground_truths)
    if len(detections) != len(ground_truths):
        raise ValueError(
            f"detections and ground_truths should list the same images: got {len(detections)} and "
            f"{len(ground_truths)} entries."
        )
    dets = [_as_rows(d, "detections", i, True) for i, d in enumerate(detections)]
    gts = [_as_rows(g, "ground_truths", i, False) for i, g in enumerate(ground_truths)]
    return dets, gts


def _iou_matrices(dets, gts, chunk=256):
    """Per-image IoU matrices (detections x ground truths), via keras.utils.bounding_boxes."""
    import keras

    out = []
    for start in range(0, len(dets), chunk):
        part = range(start, min(start + chunk, len(dets)))
        n = max([len(dets[i][0]) for i in part] + [1])
        m = max([len(gts[i][0]) for i in part] + [1])
        a = -np.ones((len(part), n, 4), np.float32)
        b = -np.ones((len(part), m, 4), np.float32)
        for k, i in enumerate(part):
            a[k, : len(dets[i][0])] = dets[i][0]
            b[k, : len(gts[i][0])] = gts[i][0]
        iou = keras.ops.convert_to_numpy(keras.utils.bounding_boxes.compute_iou(a, b, bounding_box_format="xyxy"))
        for k, i in enumerate(part):
            out.append(np.asarray(iou[k, : len(dets[i][0]), : len(gts[i][0])], np.float64))
    return out


def average_precision(recall, precision):
    """All-point interpolated AP: the area under the precision envelope.

    Args:
        recall: increasing recall after each ranked detection.
        precision: precision after each ranked detection.
    """
    mrec = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def voc_map(detections, ground_truths, iou_threshold=0.5, class_names=None, num_classes=None):
    """PASCAL VOC mean average precision (all-point interpolation, difficult objects ignored).

    Args:
        detections: per image, ``{"boxes": (N, 4) xyxy pixels, "scores": (N,), "classes": (N,)}``.
        ground_truths: per image (same order), ``{"boxes": (M, 4) xyxy pixels, "classes": (M,),
            "difficult": (M,) optional}``.
        iou_threshold: a detection is a true positive when its IoU with an unmatched
            ground truth of its class reaches this value (>=).
        class_names: optional names; ``ap`` is then keyed by name, and every listed class
            enters the mean (classes without any ground truth excepted).
        num_classes: classes ``0..num_classes-1`` to evaluate (default: those seen in the data).

    Returns:
        ``{"map": float, "ap": {class: float}, "num_ground_truths": {class: int}}``. A class
        without (non-difficult) ground truth has AP ``nan`` and is left out of ``map``.
    """
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ValueError(f"`iou_threshold` should be in (0, 1]. Received: iou_threshold={iou_threshold!r}")
    dets, gts = _prepare(detections, ground_truths)
    ious = _iou_matrices(dets, gts)
    if class_names is not None:
        num_classes = len(class_names)
    if num_classes is None:
        seen = [c for _, cls, _ in dets + gts for c in cls]
        num_classes = int(max(seen)) + 1 if seen else 0

    ap, npos_by_class = {}, {}
    for c in range(num_classes):
        npos = sum(int(np.sum((cls == c) & ~diff)) for _, cls, diff in gts)
        # (score, image, detection index) of every detection of class c.
        entries = [
            (s, i, j) for i, (_, cls, scores) in enumerate(dets) for j, s in enumerate(scores) if cls[j] == c
        ]
        # Stable sort: ties keep image order, as the devkit does.
        entries.sort(key=lambda e: -e[0])
        used = [np.zeros(int(np.sum(gts[i][1] == c)), bool) for i in range(len(gts))]
        gt_idx = [np.nonzero(gts[i][1] == c)[0] for i in range(len(gts))]
        tp, fp = [], []
        for _, i, j in entries:
            cand = gt_idx[i]
            if len(cand) == 0:
                tp.append(0)
                fp.append(1)
                continue
            overlaps = ious[i][j, cand]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou_threshold:
                if gts[i][2][cand[best]]:
                    continue  # matched a difficult object: ignored
                if not used[i][best]:
                    used[i][best] = True
                    tp.append(1)
                    fp.append(0)
                else:
                    tp.append(0)
                    fp.append(1)
            else:
                tp.append(0)
                fp.append(1)
        key = class_names[c] if class_names is not None else c
        npos_by_class[key] = npos
        if npos == 0:
            ap[key] = float("nan")
            continue
        tp_c = np.cumsum(tp, dtype=np.float64)
        fp_c = np.cumsum(fp, dtype=np.float64)
        recall = tp_c / npos
        precision = tp_c / np.maximum(tp_c + fp_c, np.finfo(np.float64).eps)
        ap[key] = average_precision(recall, precision) if len(entries) else 0.0
    values = [v for v in ap.values() if not np.isnan(v)]
    return {"map": float(np.mean(values)) if values else float("nan"), "ap": ap, "num_ground_truths": npos_by_class}


def coco_map(
    detections,
    ground_truths,
    class_names=None,
    num_classes=None,
    max_detections=100,
    difficult_as_crowd=True,
    image_sizes=None,
):
    """COCO-style mAP@[.5:.95] (and AP50, AP75, size breakdown, recalls) through pycocotools.

    Args:
        detections: per image, ``{"boxes": (N, 4) xyxy pixels, "scores": (N,), "classes": (N,)}``.
        ground_truths: per image, ``{"boxes": (M, 4) xyxy pixels, "classes": (M,),
            "difficult"/"iscrowd": (M,) optional}``.
        class_names: optional names for the per-class ``ap`` dict.
        num_classes: classes ``0..num_classes-1`` (default: those seen in the data).
        max_detections: detections kept per image, highest scores first (COCO: 100).
        difficult_as_crowd: ground truths flagged difficult become COCO ``iscrowd``
            regions (ignored: a detection on them is neither a true nor a false
            positive; pycocotools has no other "ignore" flag).
        image_sizes: optional per-image ``(height, width)`` stored in the COCO image records.

    Returns:
        A dict with ``map`` (AP@[.5:.95]), ``map_50``, ``map_75``, ``map_small``,
        ``map_medium``, ``map_large``, ``ar_1``, ``ar_10``, ``ar_100``, ``ar_small``,
        ``ar_medium``, ``ar_large`` (COCOeval's ``stats``; -1 where undefined) and ``ap``
        (per-class AP@[.5:.95], ``nan`` for a class without ground truth).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    crowd_key = "iscrowd"
    dets_raw = list(detections)
    gts_raw = list(ground_truths)
    # Accept "iscrowd" as an alias of "difficult" for COCO-born ground truths.
    gts_raw = [
        dict(g, difficult=g.get("difficult", g.get(crowd_key))) if isinstance(g, dict) else g for g in gts_raw
    ]
    dets, gts = _prepare(dets_raw, gts_raw)
    if class_names is not None:
        num_classes = len(class_names)
    if num_classes is None:
        seen = [c for _, cls, _ in dets + gts for c in cls]
        num_classes = int(max(seen)) + 1 if seen else 0

    images, annotations, results = [], [], []
    ann_id = 1
    for i, (boxes, classes, diff) in enumerate(gts):
        h, w = image_sizes[i] if image_sizes is not None else (0, 0)
        images.append({"id": i + 1, "height": int(h), "width": int(w)})
        for b, c, d in zip(boxes, classes, diff):
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "bbox": [float(b[0]), float(b[1]), bw, bh],
                    "area": bw * bh,
                    "iscrowd": int(bool(d) and difficult_as_crowd),
                }
            )
            ann_id += 1
    for i, (boxes, classes, scores) in enumerate(dets):
        order = np.argsort(-scores, kind="stable")[:max_detections]
        for k in order:
            b = boxes[k]
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": int(classes[k]) + 1,
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                    "score": float(scores[k]),
                }
            )
    names = [
        "map",
        "map_50",
        "map_75",
        "map_small",
        "map_medium",
        "map_large",
        "ar_1",
        "ar_10",
        "ar_100",
        "ar_small",
        "ar_medium",
        "ar_large",
    ]
    keys = [class_names[c] if class_names is not None else c for c in range(num_classes)]
    if not results or not annotations:
        has_gt = {int(a["category_id"]) - 1 for a in annotations if not a["iscrowd"]}
        ap = {k: (0.0 if c in has_gt else float("nan")) for c, k in enumerate(keys)}
        out = dict.fromkeys(names, 0.0 if annotations else -1.0)
        out["ap"] = ap
        return out
    gt = COCO()
    gt.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c + 1, "name": str(k)} for c, k in enumerate(keys)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.maxDets = [1, 10, max(int(max_detections), 1)]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out = {n: float(v) for n, v in zip(names, ev.stats)}
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    ap = {}
    for c, k in enumerate(keys):
        p = precision[:, :, c, 0, -1]
        p = p[p > -1]
        ap[k] = float(np.mean(p)) if p.size else float("nan")
    out["ap"] = ap
    return out
