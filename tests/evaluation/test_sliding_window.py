import numpy as np
import pytest

from astrozoo.evaluation import voc_map
from astrozoo.evaluation.sliding_window import sliding_window_detect, window_grid


@pytest.fixture(autouse=True, scope="module")
def _freeze_gc():
    # See tests/datasets/test_voc.py: keeps the shared clear_session teardown cheap.
    import gc

    import keras  # noqa: F401

    gc.collect()
    gc.freeze()
    yield


def pattern_classifier(size=8):
    """A fixed 'cutout classifier' for windows framing an object with a margin (context 1.0).

    The centre half of the window must hold the object (1.0: class 0, 0.5: class 1)
    and the ring around it must be dark; anything else is background (class 2).
    """
    import keras

    q = size // 4

    def logits(x):
        inner = keras.ops.mean(x[:, q : size - q, q : size - q, :], axis=(1, 2, 3))
        total = keras.ops.mean(x, axis=(1, 2, 3))
        n_in, n_all = (size - 2 * q) ** 2, size * size
        outer = (total * n_all - inner * n_in) / (n_all - n_in)
        c0 = -2000.0 * (keras.ops.square(inner - 1.0) + keras.ops.square(outer))
        c1 = -2000.0 * (keras.ops.square(inner - 0.5) + keras.ops.square(outer))
        bg = keras.ops.full_like(c0, -20.0)
        return keras.ops.stack([c0, c1, bg], axis=-1)

    inp = keras.Input((size, size, 1))
    return keras.Model(inp, keras.layers.Softmax()(keras.layers.Lambda(logits)(inp)))


def test_window_grid_covers_the_image():
    g = window_grid(50, 70, 20, 10)
    assert g[:, 2].max() == 70 and g[:, 3].max() == 50 and g[:, :2].min() == 0
    assert len(g) == len(np.unique(g, axis=0)) == 4 * 6
    assert np.all(g[:, 2] - g[:, 0] == 20)


def scene(n=3):
    images = np.zeros((n, 100, 120, 1), np.float32)
    images[:, 24:40, 16:32] = 1.0  # class 0, 16 px
    images[:, 40:72, 56:88] = 0.5  # class 1, 32 px
    truth = {"boxes": np.array([[16, 24, 32, 40], [56, 40, 88, 72]], float), "classes": np.array([0, 1])}
    return images, [truth] * n


def test_sliding_window_finds_objects_at_two_scales_and_batches_windows():
    images, truth = scene(3)
    model = pattern_classifier()
    calls = []
    predict = model.predict
    model.predict = lambda x, **kw: calls.append(len(x)) or predict(x, **kw)
    dets = sliding_window_detect(
        model, images, window_sizes=(32, 64), stride=8, context=1.0, images_per_step=2, score_threshold=0.5
    )
    # Two predict calls (images 0-1, then 2), each with every window of its images.
    per_image = len(window_grid(100, 120, 32, 8)) + len(window_grid(100, 120, 64, 8))
    assert calls == [2 * per_image, per_image]
    assert len(dets) == 3
    for d in dets:
        order = np.argsort(d["classes"])
        np.testing.assert_allclose(d["boxes"][order], truth[0]["boxes"])
        assert d["classes"][order].tolist() == [0, 1] and np.all(d["scores"] > 0.99)
    assert voc_map(dets, truth)["map"] == pytest.approx(1.0)
    # Batches of images from a tf.data pipeline give the same detections.
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(images).batch(2)
    again = sliding_window_detect(model, ds, window_sizes=(32, 64), stride=8, context=1.0)
    np.testing.assert_allclose(again[2]["boxes"], dets[2]["boxes"])


def test_background_output_first():
    import keras

    images, truth = scene(1)
    base = pattern_classifier()
    # Background first: outputs (bg, c0, c1); object classes come back as 0, 1.
    moved = keras.Model(base.input, keras.layers.Lambda(lambda p: keras.ops.roll(p, 1, axis=-1))(base.output))
    dets = sliding_window_detect(moved, images, window_sizes=(32, 64), stride=8, background_class=0, context=1.0)
    assert sorted(dets[0]["classes"].tolist()) == [0, 1]


def test_bad_arguments():
    model = pattern_classifier()
    with pytest.raises(ValueError, match="stride"):
        sliding_window_detect(model, np.zeros((1, 8, 8, 1)), window_sizes=(8,), stride=1.5)
    with pytest.raises(ValueError, match="window_sizes"):
        sliding_window_detect(model, np.zeros((1, 8, 8, 1)), window_sizes=())
    with pytest.raises(ValueError, match="4D"):
        sliding_window_detect(model, np.zeros((8, 8, 1)), window_sizes=(8,))
