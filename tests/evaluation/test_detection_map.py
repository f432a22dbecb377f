import math

import numpy as np
import pytest

@pytest.fixture(autouse=True, scope="module")
def _freeze_gc():
    # The shared teardown calls keras.backend.clear_session(), whose gc.collect()
    # walks TensorFlow's whole object graph (~1 s per test); frozen objects are skipped.
    import gc

    import keras  # noqa: F401

    gc.collect()
    gc.freeze()
    yield


from astrozoo.evaluation import average_precision, coco_map, voc_map


def _det(boxes, scores, classes):
    return {"boxes": np.array(boxes, float).reshape(-1, 4), "scores": np.array(scores, float), "classes": np.array(classes)}


def _gt(boxes, classes, difficult=None):
    g = {"boxes": np.array(boxes, float).reshape(-1, 4), "classes": np.array(classes)}
    if difficult is not None:
        g["difficult"] = np.array(difficult)
    return g


A = [0, 0, 10, 10]
B = [20, 20, 30, 30]
C = [40, 0, 50, 10]


def test_perfect_detections_give_map_one():
    gts = [_gt([A, B], [0, 1]), _gt([C], [0])]
    dets = [_det([A, B], [0.9, 0.8], [0, 1]), _det([C], [0.7], [0])]
    out = voc_map(dets, gts)
    assert out["map"] == pytest.approx(1.0)
    assert out["ap"] == {0: pytest.approx(1.0), 1: pytest.approx(1.0)}
    assert out["num_ground_truths"] == {0: 2, 1: 1}


def test_hand_computed_ap_with_false_positive_between_true_positives():
    # Ranked: TP (0.9), FP (0.8), TP (0.7) for 2 objects:
    # recall 0.5, 0.5, 1; precision 1, 0.5, 2/3; envelope: 1 up to r=0.5, 2/3 to r=1.
    gts = [_gt([A, B], [0, 0])]
    dets = [_det([A, C, B], [0.9, 0.8, 0.7], [0, 0, 0])]
    out = voc_map(dets, gts)
    assert out["ap"][0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_duplicate_detection_is_a_false_positive_and_order_matters():
    gts = [_gt([A], [0])]
    # The duplicate ranks first after the true positive: precision 1 at recall 1.
    assert voc_map([_det([A, A], [0.9, 0.8], [0, 0])], gts)["map"] == pytest.approx(1.0)
    # A false positive ranked above the only true positive: precision 1/2 at recall 1.
    assert voc_map([_det([C, A], [0.9, 0.8], [0, 0])], gts)["map"] == pytest.approx(0.5)


def test_difficult_objects_are_ignored():
    gts = [_gt([A, B], [0, 0], difficult=[0, 1])]
    # The top detection sits on the difficult object: neither TP nor FP.
    dets = [_det([B, A], [0.9, 0.8], [0, 0])]
    out = voc_map(dets, gts)
    assert out["ap"][0] == pytest.approx(1.0)
    assert out["num_ground_truths"][0] == 1
    # Without the flag the same detections give AP 1 with 2 objects found...
    assert voc_map(dets, [_gt([A, B], [0, 0])])["ap"][0] == pytest.approx(1.0)
    # ...and missing the difficult object costs nothing, missing the other one does.
    assert voc_map([_det([B], [0.9], [0])], gts)["ap"][0] == pytest.approx(0.0)
    assert voc_map([_det([A], [0.9], [0])], gts)["ap"][0] == pytest.approx(1.0)


def test_iou_threshold_is_inclusive():
    gts = [_gt([[0, 0, 10, 20]], [0])]
    dets = [_det([A], [0.9], [0])]  # IoU = 100 / 200 = 0.5
    assert voc_map(dets, gts, iou_threshold=0.5)["map"] == pytest.approx(1.0)
    assert voc_map(dets, gts, iou_threshold=0.6)["map"] == pytest.approx(0.0)


def test_classes_without_ground_truth_and_padding():
    gts = [_gt([A, [-1, -1, -1, -1]], [0, -1])]
    dets = [_det([A, B, [-1, -1, -1, -1]], [0.9, 0.5, -1], [0, 2, -1])]
    out = voc_map(dets, gts, class_names=["a", "b", "c"])
    assert out["ap"]["a"] == pytest.approx(1.0)
    assert math.isnan(out["ap"]["b"]) and math.isnan(out["ap"]["c"])
    assert out["map"] == pytest.approx(1.0)
    # A class with objects but no detection counts as 0 in the mean.
    gts2 = [_gt([A, B], [0, 1])]
    assert voc_map([_det([A], [0.9], [0])], gts2)["map"] == pytest.approx(0.5)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same images"):
        voc_map([_det([A], [1], [0])], [])
    with pytest.raises(ValueError, match="scores"):
        voc_map([{"boxes": [A], "classes": [0]}], [_gt([A], [0])])
    with pytest.raises(ValueError, match="iou_threshold"):
        voc_map([], [], iou_threshold=1.5)


def _independent_voc_ap(dets, gts, c, thr):
    """A separate, loop-only implementation of the VOC rule, for cross-checking."""

    def iou(a, b):
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union

    npos = sum(1 for g in gts for k in range(len(g["classes"])) if g["classes"][k] == c and not g["difficult"][k])
    flat = []
    for i, d in enumerate(dets):
        for k in range(len(d["classes"])):
            if d["classes"][k] == c:
                flat.append((-d["scores"][k], i, k))
    flat.sort(key=lambda t: t[0])
    taken = set()
    labels = []
    for _, i, k in flat:
        g = gts[i]
        best, best_j = -1.0, None
        for j in range(len(g["classes"])):
            if g["classes"][j] == c:
                o = iou(dets[i]["boxes"][k], g["boxes"][j])
                if o > best:
                    best, best_j = o, j
        if best_j is None or best < thr:
            labels.append(0)
        elif g["difficult"][best_j]:
            continue
        elif (i, best_j) in taken:
            labels.append(0)
        else:
            taken.add((i, best_j))
            labels.append(1)
    if npos == 0:
        return float("nan")
    tp = 0
    points = []
    for n, lab in enumerate(labels, 1):
        tp += lab
        points.append((tp / npos, tp / n))
    # AP = sum over each new recall level of (recall step) x (best precision at recall >= level).
    ap, prev = 0.0, 0.0
    for r in sorted({p[0] for p in points}):
        if r > prev:
            ap += (r - prev) * max(p for rr, p in points if rr >= r)
            prev = r
    return ap


def test_voc_map_matches_an_independent_computation_on_random_cases():
    rng = np.random.default_rng(0)
    for trial in range(5):
        dets, gts = [], []
        for _ in range(6):
            m = rng.integers(0, 6)
            xy = rng.uniform(0, 80, (m, 2))
            wh = rng.uniform(8, 30, (m, 2))
            g = {"boxes": np.concatenate([xy, xy + wh], 1), "classes": rng.integers(0, 3, m), "difficult": rng.random(m) < 0.2}
            gts.append(g)
            # Detections: jittered copies of the objects plus random boxes.
            jit = g["boxes"] + rng.normal(0, 3, g["boxes"].shape)
            n = rng.integers(0, 5)
            xy2 = rng.uniform(0, 80, (n, 2))
            extra = np.concatenate([xy2, xy2 + rng.uniform(8, 30, (n, 2))], 1)
            boxes = np.concatenate([jit, extra]) if m + n else np.zeros((0, 4))
            classes = np.concatenate([np.where(rng.random(m) < 0.8, g["classes"], rng.integers(0, 3, m)), rng.integers(0, 3, n)])
            dets.append({"boxes": boxes, "scores": rng.random(m + n), "classes": classes.astype(int)})
        for thr in (0.5, 0.7):
            out = voc_map(dets, gts, iou_threshold=thr, num_classes=3)
            for c in range(3):
                ref = _independent_voc_ap(dets, gts, c, thr)
                if math.isnan(ref):
                    assert math.isnan(out["ap"][c])
                else:
                    assert out["ap"][c] == pytest.approx(ref, abs=1e-6), (trial, thr, c)


def test_average_precision_envelope():
    assert average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]) == pytest.approx(0.5 + 1 / 3)
    assert average_precision([], []) == 0.0


def test_coco_map_handles_class_zero():
    gts = [_gt([A, B], [0, 0]), _gt([C], [0])]
    dets = [_det([A, B], [0.9, 0.8], [0, 0]), _det([C], [0.7], [0])]
    out = coco_map(dets, gts)
    assert out["map"] == pytest.approx(1.0)
    assert out["map_50"] == pytest.approx(1.0)
    assert out["ap"] == {0: pytest.approx(1.0)}


def test_coco_ap50_differs_from_voc_by_its_101_point_interpolation():
    # Same case as the hand-computed VOC AP: the envelope is 1 for recall <= 0.5 and
    # 2/3 above. VOC integrates it exactly (5/6); COCO averages it at the 101 recall
    # points 0, 0.01, ..., 1: 51 points at 1 and 50 at 2/3.
    gts = [_gt([A, B], [0, 0])]
    dets = [_det([A, C, B], [0.9, 0.8, 0.7], [0, 0, 0])]
    voc = voc_map(dets, gts)["map"]
    coco = coco_map(dets, gts)
    assert voc == pytest.approx(5 / 6)
    assert coco["map_50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    # All IoUs are 1 here, so every COCO threshold gives the same AP.
    assert coco["map"] == pytest.approx(coco["map_50"])


def test_coco_map_difficult_become_crowd_and_empty_inputs():
    gts = [_gt([A, B], [1, 1], difficult=[0, 1])]
    out = coco_map([_det([B, A], [0.9, 0.8], [1, 1])], gts, num_classes=2)
    assert out["ap"][1] == pytest.approx(1.0)
    assert math.isnan(out["ap"][0])
    empty = coco_map([_det(np.zeros((0, 4)), [], [])], gts, num_classes=2)
    assert empty["map"] == 0.0 and empty["ap"][1] == 0.0
