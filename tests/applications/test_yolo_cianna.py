import keras
import numpy as np
import pytest

from astrozoo.applications import YoloCianna, get_model, kmeans_priors, mean_best_iou, yolo_cianna
from astrozoo.layers import YoloDecoder
from astrozoo.losses import YoloLoss

PRIORS = [(8.0, 8.0), (20.0, 20.0)]


def small_detector(num_params=0, **kw):
    # a short NMS candidate list keeps the test's predict graph small
    decoder = YoloDecoder(PRIORS, 16, 2, num_params, pre_nms_topk=32, max_detections=10)
    return yolo_cianna("darknet_tiny", num_classes=2, priors=PRIORS, input_shape=(64, 64, 3), width=0.5,
                       head_filters=(32,), num_params=num_params, prediction_decoder=decoder, **kw)


def toy_data(n=4):
    """Images with one bright square (class 0) and one dim disc-like square (class 1)."""
    x = np.zeros((n, 64, 64, 3), "float32")
    boxes = -np.ones((n, 4, 4), "float32")
    classes = -np.ones((n, 4), "int32")
    rng = np.random.default_rng(0)
    for i in range(n):
        cx, cy = rng.uniform(12, 52, 2)
        x[i, int(cy) - 4:int(cy) + 4, int(cx) - 4:int(cx) + 4] = 1.0
        boxes[i, 0] = [int(cx) - 4, int(cy) - 4, int(cx) + 4, int(cy) + 4]
        classes[i, 0] = 0
        x[i, 40:58, 4:22, 1] = 0.6
        boxes[i, 1] = [4, 40, 22, 58]
        classes[i, 1] = 1
    return x, {"boxes": boxes, "classes": classes}


def test_raw_call_and_decoded_predict():
    model = small_detector()
    assert isinstance(model, YoloCianna)
    assert model.output_shape == (None, 4, 4, 2, 10) and model.cell_size == 16
    x, _ = toy_data(2)
    raw = np.asarray(model(x))
    assert raw.shape == (2, 4, 4, 2, 10)
    out = model.predict(x, verbose=0)
    assert set(out) == {"boxes", "scores", "classes", "objectness", "num_detections"}
    assert out["boxes"].shape == (2, 10, 4) and out["num_detections"].shape == (2,)


def test_fit_learns_toy_boxes_then_keras_roundtrip(tmp_path):
    keras.utils.set_random_seed(0)
    model = small_detector(num_params=1, class_softmax=True)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=YoloLoss.from_head(model.yolo_head, preset="cianna_voc"))
    x, y = toy_data(4)
    y["params"] = np.where(y["classes"][..., None] >= 0, 0.5, -1.0).astype("float32")
    losses = model.fit(x, y, batch_size=4, epochs=40, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.3 * losses[0]
    out = model.predict(x, verbose=0)
    assert set(out) == {"boxes", "scores", "classes", "objectness", "num_detections", "params"}
    assert int(out["num_detections"][0]) >= 1
    iou = keras.utils.bounding_boxes.compute_iou(out["boxes"][0, :1], y["boxes"][0, :2], "xyxy")
    assert float(np.max(np.asarray(iou))) > 0.5  # the best detection is one of the two objects

    path = tmp_path / "yolo.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, YoloCianna)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(again(x)), atol=1e-5)
    np.testing.assert_allclose(out["scores"], again.predict(x, verbose=0)["scores"], atol=1e-5)
    assert isinstance(again.yolo_loss, YoloLoss)
    assert again.yolo_loss.get_config() == model.yolo_loss.get_config()
    assert again.optimizer is not None  # compiled state restored: training can resume


def test_course_detector_layout():
    model = yolo_cianna("darknet19", num_classes=20, input_shape=(416, 416, 3))
    assert model.output_shape == (None, 13, 13, 5, 28)
    assert model.get_layer("yolo_conv").filters == 140  # CIANNA's VOC value
    assert model.cell_size == 32
    assert [model.get_layer(f"head_conv{i}").filters for i in (1, 2, 3)] == [1024] * 3


def test_validation_and_registry():
    with pytest.raises(ValueError, match="backbone"):
        yolo_cianna("resnet", num_classes=2, priors=PRIORS)
    with pytest.raises(ValueError, match="multiple of 16"):
        yolo_cianna("darknet_tiny", num_classes=2, priors=PRIORS, input_shape=(100, 100, 3))
    with pytest.raises(ValueError, match="input_shape"):
        yolo_cianna("darknet_tiny", num_classes=2, priors=PRIORS, input_tensor=keras.Input((64, 64, 3)))
    with pytest.raises(ValueError, match="loss_preset"):
        small_detector().compile(loss_preset="voc")
    info = get_model("yolo_cianna")
    assert info.task == "detection" and info.family == "yolo"


def test_custom_backbone_model():
    inp = keras.Input((32, 32, 3))
    feat = keras.layers.Conv2D(8, 3, strides=8, padding="same")(inp)
    model = yolo_cianna(keras.Model(inp, feat), num_classes=1, priors=[(6, 6)], head_filters=(8,))
    assert model.output_shape == (None, 4, 4, 1, 9) and model.cell_size == 8


def test_kmeans_priors_recover_two_size_clusters():
    rng = np.random.default_rng(0)
    small = rng.normal(10, 0.5, (200, 2))
    big = np.stack([rng.normal(60, 2, 200), rng.normal(30, 1, 200)], 1)
    wh = np.concatenate([small, big])
    xy = rng.uniform(0, 100, (400, 2))
    boxes = np.concatenate([xy, xy + wh], 1)
    boxes = np.concatenate([boxes, -np.ones((5, 4))])  # padding rows are skipped
    priors = kmeans_priors(boxes, k=2)
    np.testing.assert_allclose(priors, [[10, 10], [60, 30]], rtol=0.05)
    assert mean_best_iou(boxes, priors) > 0.9
    with pytest.raises(ValueError, match="at least k=3"):
        kmeans_priors(boxes[:2], k=3)


def test_mixed_precision_keeps_float32_head():
    import astrozoo

    astrozoo.set_precision("mixed_bfloat16")
    model = small_detector()
    x, y = toy_data(2)
    out = model(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert model.backbone.get_layer("stage1_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("yolo_conv").dtype_policy.compute_dtype == "float32"
    value = YoloLoss.from_head(model.yolo_head)(y, out)
    assert np.isfinite(float(value))
