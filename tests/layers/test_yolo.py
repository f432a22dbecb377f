import keras
import numpy as np
import pytest

from astrozoo.layers import YoloHead
from astrozoo.layers.yolo import decode_boxes

PRIORS = [(10.0, 12.0), (40.0, 30.0)]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_head_activations_match_cianna_formulas():
    head = YoloHead(2, 3, 2, priors=PRIORS, cell_size=16, class_softmax=True)
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 4, (2, 3, 4, head.filters)).astype("float32")
    out = np.asarray(head(raw))
    assert out.shape == (2, 3, 4, 2, 13)
    r = raw.reshape(2, 3, 4, 2, 13)
    np.testing.assert_allclose(out[..., 0:2], sigmoid(np.clip(r[..., 0:2], -6, 6)), atol=1e-6)
    np.testing.assert_allclose(out[..., 2], 0.5)  # z fixed in 2D
    np.testing.assert_allclose(out[..., 3:5], np.clip(r[..., 3:5], -1.6, 1.6), atol=1e-6)
    np.testing.assert_allclose(out[..., 5], 0.0)  # d fixed in 2D
    np.testing.assert_allclose(out[..., 6:8], sigmoid(np.clip(r[..., 6:8], -6, 6)), atol=1e-6)
    logits = np.clip(r[..., 8:11], -6, 6)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(out[..., 8:11], e / e.sum(-1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(out[..., 11:13], np.clip(r[..., 11:13], -0.2, 1.2), atol=1e-6)


def test_head_sigmoid_classes_and_slopes():
    head = YoloHead(1, 2, 0, priors=[(8, 8)], cell_size=8,
                    slopes_and_maxes={"size": (0.5, 1.6, -1.6), "classes": (1.0, 6.0, -6.0)})
    raw = np.full((1, 1, 1, 10), 2.0, "float32")
    out = np.asarray(head(raw))[0, 0, 0, 0]
    np.testing.assert_allclose(out[3:5], 1.0)  # 0.5 * 2
    np.testing.assert_allclose(out[8:10], sigmoid(2.0), atol=1e-6)


def test_clip_passes_gradient_straight_through():
    import tensorflow as tf

    head = YoloHead(1, 0, priors=[(8, 8)], cell_size=8)
    raw = tf.Variable(np.full((1, 1, 1, 8), 3.0, "float32"))
    with tf.GradientTape() as tape:
        out = head(raw)
        loss = tf.reduce_sum(out[..., 3:5])  # clipped to 1.6
    grad = tape.gradient(loss, raw).numpy()[0, 0, 0]
    np.testing.assert_allclose(grad[3:5], 1.0)


def test_decode_boxes_in_pixels():
    y = np.zeros((1, 2, 3, 2, 8), "float32")
    y[..., 0:2] = 0.5
    boxes = np.asarray(decode_boxes(y, PRIORS, 16.0))
    # cell (row 1, col 2) centre = (2.5*16, 1.5*16); box 1 prior 40x30
    np.testing.assert_allclose(boxes[0, 1, 2, 1], [40 - 20, 24 - 15, 40 + 20, 24 + 15])
    y[0, 0, 0, 0, 3] = np.log(2.0)
    np.testing.assert_allclose(np.asarray(decode_boxes(y, PRIORS, 16.0))[0, 0, 0, 0], [8 - 10, 8 - 6, 8 + 10, 8 + 6],
                               atol=1e-5)


def test_head_validation_messages():
    with pytest.raises(ValueError, match="nb_box=3"):
        YoloHead(3, 1, priors=PRIORS)
    with pytest.raises(ValueError, match="must be > 0"):
        YoloHead(2, 1, priors=[(10, 0), (3, 3)])
    with pytest.raises(ValueError, match="expects 22 input channels"):
        YoloHead(2, 3, priors=PRIORS)(np.zeros((1, 2, 2, 7), "float32"))
    # CIANNA's vstack(w, h) layout is accepted
    assert YoloHead(3, 1, priors=[[10, 40, 50], [12, 30, 60]]).priors == ((10.0, 12.0), (40.0, 30.0), (50.0, 60.0))


def test_head_config_roundtrip_keras_file(tmp_path):
    inp = keras.Input((4, 4, 2 * 11))
    model = keras.Model(inp, YoloHead(2, 3, priors=PRIORS, cell_size=16, class_softmax=True)(inp))
    path = tmp_path / "head.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 22)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), atol=1e-6)
    cfg = again.layers[-1].get_config()
    assert cfg["nb_box"] == 2 and cfg["priors"] == [[10.0, 12.0], [40.0, 30.0]] and cfg["class_softmax"]
