import numpy as np
import pytest

from astrozoo.layers import YoloDecoder
from astrozoo.layers.nms import greedy_nms_mask


def np_iou(a, b, kind):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    iou = inter / union
    if kind == "IoU":
        return iou
    diag = (max(a[2], b[2]) - min(a[0], b[0])) ** 2 + (max(a[3], b[3]) - min(a[1], b[1])) ** 2
    dist = ((a[0] + a[2] - b[0] - b[2]) / 2) ** 2 + ((a[1] + a[3] - b[1] - b[3]) / 2) ** 2
    return iou - dist / diag


def slow_nms(boxes, classes, valid, thr, cross_thr, kind):
    """Loop-by-loop greedy NMS on score-sorted boxes (CIANNA aux_fct.py semantics)."""
    kept = []
    for i in range(len(boxes)):
        if not valid[i]:
            continue
        ok = True
        for j in kept:
            t = thr if classes[i] == classes[j] else cross_thr
            if np_iou(boxes[j], boxes[i], kind) > t:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def random_boxes(rng, b, k, size=100.0):
    c = rng.uniform(0, size, (b, k, 2))
    wh = rng.uniform(5, 30, (b, k, 2))
    return np.concatenate([c - wh / 2, c + wh / 2], -1).astype("float32")


@pytest.mark.parametrize("kind,thr,cross", [("DIoU", 0.4, 0.95), ("IoU", 0.3, 0.6), ("IoU", 0.5, 1.1)])
def test_greedy_nms_matches_slow_reference(kind, thr, cross):
    rng = np.random.default_rng(42)
    b, k = 4, 60
    boxes = random_boxes(rng, b, k)
    scores = -np.sort(-rng.uniform(size=(b, k)), axis=1).astype("float32")
    classes = rng.integers(0, 3, (b, k)).astype("int32")
    valid = rng.uniform(size=(b, k)) > 0.15
    keep = np.asarray(greedy_nms_mask(boxes, scores, classes, valid, thr, cross, kind))
    total = 0
    for i in range(b):
        ref = slow_nms(boxes[i], classes[i], valid[i], thr, cross, kind)
        assert np.nonzero(keep[i])[0].tolist() == ref
        total += len(ref)
    assert 0 < total < b * k  # something was suppressed, something kept


def test_single_class_iou_nms_matches_tensorflow():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    boxes = random_boxes(rng, 1, 80)
    scores = -np.sort(-rng.uniform(size=(1, 80))).astype("float32")
    keep = np.asarray(greedy_nms_mask(boxes, scores, np.zeros((1, 80), "int32"), np.ones((1, 80), bool), 0.3, 2.0,
                                      "IoU"))
    yxyx = boxes[0][:, [1, 0, 3, 2]]
    ref = tf.image.non_max_suppression(yxyx, scores[0], 80, iou_threshold=0.3).numpy()
    assert sorted(ref.tolist()) == np.nonzero(keep[0])[0].tolist()


def test_decoder_thresholds_scores_and_padding():
    priors = [(10, 10), (30, 30)]
    y = np.zeros((2, 2, 2, 2, 8 + 2), "float32")
    y[..., 0:2] = 0.5
    y[..., 8] = 0.5
    y[..., 9] = 0.5
    y[..., 7] = 0.01  # below the objectness threshold
    y[0, 0, 0, 0, 7] = 0.9
    y[0, 0, 0, 0, 8:10] = [0.2, 0.8]
    y[0, 1, 1, 1, 7] = 0.6
    y[0, 1, 1, 1, 8:10] = [0.7, 0.3]
    dec = YoloDecoder(priors, cell_size=16, nb_class=2, max_detections=5)
    out = {k: np.asarray(v) for k, v in dec(y).items()}
    assert out["boxes"].shape == (2, 5, 4) and out["classes"].dtype.kind == "i"
    assert out["num_detections"].tolist() == [2, 0]
    np.testing.assert_allclose(out["scores"][0, :2], [0.72, 0.42], atol=1e-6)
    assert out["classes"][0, :2].tolist() == [1, 0]
    np.testing.assert_allclose(out["boxes"][0, 0], [3, 3, 13, 13], atol=1e-5)
    np.testing.assert_allclose(out["boxes"][0, 1], [16 + 8 - 15, 16 + 8 - 15, 32, 32], atol=1e-5)  # clipped at 32
    assert np.all(out["boxes"][1] == -1) and np.all(out["classes"][1] == -1) and np.all(out["scores"][0, 2:] == -1)


@pytest.mark.parametrize("second,other_class,expected", [(21, False, 1), (21, True, 2), (20.2, True, 1)])
def test_decoder_class_aware_thresholds(second, other_class, expected):
    # same centre: IoU = DIoU = (20/second)^2 -> 0.907 for 21 px, 0.980 for 20.2 px
    priors = [(20, 20), (second, second)]
    y = np.zeros((1, 1, 1, 2, 10), "float32")
    y[..., 0:2] = 0.5
    y[..., 7] = [0.9, 0.8]
    y[0, 0, 0, 0, 8:10] = [0.9, 0.1]
    y[0, 0, 0, 1, 8:10] = [0.1, 0.9] if other_class else [0.9, 0.1]
    out = YoloDecoder(priors, cell_size=32, nb_class=2)(y)  # 0.4 within a class, 0.95 across
    assert int(np.asarray(out["num_detections"])[0]) == expected


def test_decoder_validation():
    with pytest.raises(ValueError, match="iou_type"):
        YoloDecoder([(1, 1)], iou_type="CIoU")
    with pytest.raises(ValueError, match="max_detections"):
        YoloDecoder([(1, 1)], max_detections=0)
