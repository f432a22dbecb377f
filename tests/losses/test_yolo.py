import keras
import numpy as np
import pytest

from astrozoo.layers import YoloHead
from astrozoo.losses import YoloLoss
from astrozoo.losses.yolo import associate, box_iou, cianna_default, cianna_voc

PRIORS = [(10.0, 10.0), (40.0, 40.0)]
CELL = 32.0


def grid_boxes(h=2, w=2, priors=PRIORS):
    """Predicted boxes equal to the priors, centred in their cells: (1, h, w, A, 4)."""
    out = np.zeros((1, h, w, len(priors), 4), "float32")
    for r in range(h):
        for c in range(w):
            cx, cy = (c + 0.5) * CELL, (r + 0.5) * CELL
            for a, (pw, ph) in enumerate(priors):
                out[0, r, c, a] = [cx - pw / 2, cy - ph / 2, cx + pw / 2, cy + ph / 2]
    return out


def box(cx, cy, w, h):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def run(pred, targets, **kw):
    t = np.asarray(targets, "float32").reshape(1, -1, 4)
    valid = ~np.all(t == -1, axis=-1)
    out = associate(pred, t, valid, PRIORS, CELL, **kw)
    return {k: np.asarray(v) for k, v in out.items()}


def test_box_iou_family_against_hand_values():
    a = np.asarray([0, 0, 10, 10], "float32")
    b = np.asarray([5, 0, 15, 10], "float32")
    assert np.isclose(float(box_iou(a, b, "IoU")), 50 / 150)
    assert np.isclose(float(box_iou(a, b, "GIoU")), 50 / 150)  # enclosing box = union
    # DIoU: centres 5 px apart, enclosing diagonal^2 = 15^2 + 10^2
    assert np.isclose(float(box_iou(a, b, "DIoU")), 50 / 150 - 25 / 325)
    far = np.asarray([20, 0, 30, 10], "float32")
    assert np.isclose(float(box_iou(a, far, "GIoU")), 0 - (300 - 200) / 300)
    ref = np.asarray(keras.utils.bounding_boxes.compute_iou(a[None], b[None], "xyxy"))
    assert np.isclose(ref[0, 0], float(box_iou(a, b, "IoU")))


def test_target_goes_to_cell_of_its_centre_and_best_prior():
    out = run(grid_boxes(), [box(48, 16, 10, 10)], iou_type="IoU")
    assert out["cell"].tolist() == [[1]]  # row 0, col 1
    assert out["box"].tolist() == [[0]]
    assert np.isclose(out["iou"][0, 0], 1.0)


def test_centre_on_far_border_is_clipped_into_the_grid():
    out = run(grid_boxes(), [box(64, 64, 8, 8)], iou_type="IoU")
    assert out["cell"].tolist() == [[3]]


def test_greedy_matching_inside_one_cell_and_overflow():
    targets = [box(16, 16, 40, 40), box(16, 16, 10, 10), box(14, 14, 12, 12)]
    out = run(grid_boxes(), targets, iou_type="IoU")
    # pairs by IoU: (t1, box0)=1, (t0, box1)=1 then t2 finds no free box
    assert out["box"].tolist() == [[1, 0, -1]]


def test_strict_box_size_restricts_candidates_to_nearest_prior():
    pred = grid_boxes()
    pred[0, 0, 0, 1] = box(16, 16, 12, 12)  # the big prior's prediction matches the target
    pred[0, 0, 0, 0] = box(4, 4, 4, 4)
    tgt = [box(16, 16, 12, 12)]
    assert run(pred, tgt, iou_type="IoU")["box"].tolist() == [[1]]
    for dist in ("SIZE", "OFFSET", "IoU"):
        out = run(pred, tgt, iou_type="IoU", strict_box_size=1, prior_dist_type=dist)
        assert out["box"].tolist() == [[0]], dist
        assert out["candidates"][0, 0].tolist() == [True, False]


def test_tiny_targets_are_forced_to_the_smallest_prior():
    pred = grid_boxes()
    pred[0, 0, 0, 1] = box(16, 16, 8, 8)
    pred[0, 0, 0, 0] = box(4, 4, 3, 3)
    tgt = [box(16, 16, 8, 8)]
    assert run(pred, tgt, iou_type="IoU")["box"].tolist() == [[1]]
    assert run(pred, tgt, iou_type="IoU", min_prior_forced_scaling=1.2)["box"].tolist() == [[0]]
    # 13 px is not below 1.2 x 10 px: no forcing
    tgt13 = [box(16, 16, 13, 13)]
    pred[0, 0, 0, 1] = box(16, 16, 13, 13)
    assert run(pred, tgt13, iou_type="IoU", min_prior_forced_scaling=1.2)["box"].tolist() == [[1]]


def test_low_best_iou_falls_back_to_the_closest_prior():
    pred = grid_boxes()
    pred[0, 0, 0, 0] = box(2, 2, 2, 2)
    pred[0, 0, 0, 1] = box(30, 30, 2, 2)
    tgt = [box(16, 16, 38, 38)]  # IoU ~0 with both predictions
    assert run(pred, tgt, iou_type="IoU", low_iou_best_box_assoc=-1.0)["box"].tolist() == [[0]]
    assert run(pred, tgt, iou_type="IoU", low_iou_best_box_assoc=0.1)["box"].tolist() == [[1]]


def test_good_but_not_best_boxes_are_locked():
    pred = grid_boxes()
    pred[0, 0, 1, 1] = box(26, 16, 40, 40)  # other cell, IoU 0.6 with the target
    out = run(pred, [box(16, 16, 40, 40)], iou_type="IoU", good_iou_lim=0.5)
    locked = out["locked"][0]
    assert locked[0, 0, 1] and locked[0, 1, 1]  # the best box and the good one in the next cell
    assert not locked[1, 1, 0] and not locked[0, 0, 0]


def test_padding_rows_are_ignored():
    out = run(grid_boxes(), [box(16, 16, 10, 10), [-1, -1, -1, -1]], iou_type="IoU")
    assert out["box"].tolist() == [[0, -1]]


def head_and_loss(**kw):
    head = YoloHead(2, 3, 1, priors=PRIORS, cell_size=CELL, class_softmax=kw.pop("class_softmax", False))
    return head, YoloLoss.from_head(head, **kw)


def make_targets(case):
    m = 12
    boxes = -np.ones((2, m, 4), "float32")
    classes = -np.ones((2, m), "int32")
    params = -np.ones((2, m, 1), "float32")
    if case == "one":
        boxes[0, 0] = box(40, 40, 20, 24)
    elif case == "border":
        boxes[0, 0] = [0, 0, 12, 9]
        boxes[0, 1] = [100, 110, 128, 128]
        boxes[1, 0] = box(64, 64, 30, 30)  # centre on a cell corner
    elif case == "tiny":
        boxes[0, 0] = box(20.3, 20.7, 0.5, 0.5)
        boxes[1, 0] = box(90, 90, 1.0, 200.0)
    elif case == "many":
        rng = np.random.default_rng(0)
        for i in range(m):  # 12 objects with centres in the same cell, 2 boxes per cell
            boxes[:, i] = box(40 + rng.uniform(0, 20), 40 + rng.uniform(0, 20), rng.uniform(5, 60), rng.uniform(5, 60))
    mask = ~np.all(boxes == -1, -1)
    n = int(np.sum(mask))
    classes[mask] = np.arange(n) % 3
    params[mask] = 0.3
    return {"boxes": boxes, "classes": classes, "params": params}


@pytest.mark.parametrize("case", ["none", "one", "border", "tiny", "many"])
@pytest.mark.parametrize("preset", ["cianna_default", "cianna_voc"])
def test_loss_and_gradients_finite(case, preset):
    import tensorflow as tf

    head, loss = head_and_loss(preset=preset, class_softmax=preset == "cianna_voc")
    raw = tf.Variable(np.random.default_rng(1).normal(0, 3, (2, 4, 4, head.filters)).astype("float32"))
    y = make_targets(case)
    with tf.GradientTape() as tape:
        value = loss(y, head(raw))
    grad = tape.gradient(value, raw).numpy()
    assert np.isfinite(float(value)) and float(value) > 0
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_loss_prefers_the_right_prediction():
    head, loss = head_and_loss(preset="cianna_default")
    y = make_targets("one")
    raw = np.zeros((2, 4, 4, head.filters), "float32")
    r = raw.reshape(2, 4, 4, 2, 12)  # a view: edits of r change raw
    r[..., 6:8] = -4.0  # everything says "no object"
    bad = float(loss(y, head(raw)))
    # the target (40, 40, 20x24) is in cell (1, 1); box 0 (10x10 prior) predicts it exactly
    r[0, 1, 1, 0, 0:2] = np.log(0.25 / 0.75)
    r[0, 1, 1, 0, 3:5] = [np.log(2.0), np.log(2.4)]
    r[0, 1, 1, 0, 6:8] = 4.0
    r[0, 1, 1, 0, 8:11] = [4.0, -4.0, -4.0]
    r[0, 1, 1, 0, 11] = 0.3
    good = float(loss(y, head(r.reshape(raw.shape))))
    assert good < 0.05 * bad
    assoc = loss.association(y, head(r.reshape(raw.shape)))
    assert np.asarray(assoc["box"])[0, 0] == 0 and np.asarray(assoc["iou"])[0, 0] > 0.99


def test_no_boxes_gives_only_the_no_object_term():
    head, loss = head_and_loss(preset="cianna_default")
    raw = np.zeros((2, 4, 4, head.filters), "float32")  # prob = obj = 0.5 everywhere
    value = float(loss(make_targets("none"), head(raw)))
    # 16 cells x 2 boxes x (prob + obj) x 0.5 x scale x noobj 0.2 x (0.5 - 0.02)^2, averaged over 2 images
    expected = 32 * (0.5 * 1.0 * 0.2 * 0.48**2 + 0.5 * 2.0 * 0.2 * 0.48**2)
    assert np.isclose(value, expected, rtol=1e-5)


def test_presets_and_validation():
    voc = cianna_voc([(32, 32), (92, 150), (150, 92), (208, 333), (333, 208)], 20)
    assert voc.iou_type == "DIoU" and voc.strict_box_size == 3 and voc.error_scales[:5] == [12, 6, 0.5, 6, 0.4]
    assert voc.prior_noobj_prob == [0.05, 0.1, 0.1, 0.1, 0.1]
    d = cianna_default(PRIORS, 3)
    assert d.iou_limits[0] == 0.4 and d.error_scales == [2, 2, 1, 2, 1, 1]
    with pytest.raises(ValueError, match="iou_type"):
        YoloLoss(PRIORS, 3, iou_type="CIoU")
    with pytest.raises(ValueError, match="prior_noobj_prob"):
        YoloLoss(PRIORS, 3, prior_noobj_prob=[0.1])
    with pytest.raises(ValueError, match="Unknown key"):
        YoloLoss(PRIORS, 3, iou_limits={"good": 0.3})
    with pytest.raises(ValueError, match="y_true as a dict"):
        d(np.zeros((1, 3, 4)), np.zeros((1, 2, 2, 2, 11), "float32"))
    again = YoloLoss.from_config(voc.get_config())
    assert again.get_config() == voc.get_config()
    ser = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(voc))
    assert isinstance(ser, YoloLoss) and ser.get_config() == voc.get_config()
