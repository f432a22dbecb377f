import keras
import numpy as np
import pytest

import astrozoo
from astrozoo.applications import get_model, unet
from tests.helpers import check_predict_numpy_and_tfdata, roundtrip_keras


@pytest.mark.parametrize(
    "kwargs,shape,out_shape",
    [
        ({}, (28, 28, 1), (28, 28, 1)),
        ({"depth": 3}, (28, 28, 1), (28, 28, 1)),  # padded to 32, cropped back
        ({"out_channels": 3, "out_activation": "softmax", "upsampling": "resize"}, (20, 24, 2), (20, 24, 3)),
        ({"downsampling": "max", "normalization": "group", "filters": (8, 12, 16)}, (16, 16, 4), (16, 16, 1)),
    ],
)
def test_shapes(kwargs, shape, out_shape):
    model = unet(input_shape=shape, **kwargs)
    assert model.output_shape == (None, *out_shape)
    x = np.random.default_rng(0).normal(size=(3, *shape)).astype("float32")
    y = check_predict_numpy_and_tfdata(model, x)
    assert y.shape == (3, *out_shape)
    if kwargs.get("out_activation") == "softmax":
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)


def test_dynamic_spatial_shape():
    model = unet(input_shape=(None, None, 1), depth=2, out_activation="sigmoid")
    y = model.predict(np.zeros((1, 32, 48, 1), "float32"), verbose=0)
    assert y.shape == (1, 32, 48, 1) and (y > 0).all() and (y < 1).all()


def test_time_embedding_inputs_change_output():
    model = unet(time_embedding_dim=16, depth=2, filters=8)
    assert [tuple(i.shape) for i in model.inputs] == [(None, 28, 28, 1), (None,)]
    x = np.random.default_rng(1).normal(size=(2, 28, 28, 1)).astype("float32")
    a = model.predict([x, np.array([0.0, 0.0], "float32")], verbose=0)
    b = model.predict([x, np.array([500.0, 500.0], "float32")], verbose=0)
    assert np.abs(a - b).max() > 1e-4


def test_roundtrip(tmp_path):
    model = unet(input_shape=(16, 16, 2), out_channels=2, depth=2, filters=4, time_embedding_dim=8)
    x = [np.random.default_rng(2).normal(size=(2, 16, 16, 2)).astype("float32"), np.array([1.0, 7.0], "float32")]
    roundtrip_keras(model, x, tmp_path)


def test_training_lowers_loss():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    clean = (rng.uniform(size=(32, 8, 8, 1)) > 0.7).astype("float32")
    noisy = clean + 0.3 * rng.normal(size=clean.shape).astype("float32")
    model = unet(input_shape=(8, 8, 1), depth=1, filters=4, convs_per_level=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    before = model.evaluate(noisy, clean, verbose=0)
    model.fit(noisy, clean, epochs=5, batch_size=16, verbose=0)
    assert model.evaluate(noisy, clean, verbose=0) < 0.8 * before


def test_bfloat16_policy_keeps_float32_head():
    astrozoo.set_precision("mixed_bfloat16")
    model = unet(depth=2, filters=4)
    assert model.get_layer("enc1_conv1").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"


BAD_ARGUMENTS = [
        ({"depth": 0}, "depth"),
        ({"upsampling": "nearest"}, "upsampling"),
        ({"out_activation": "softmax", "out_channels": 1}, "softmax"),
        ({"filters": (8, 16)}, "filters"),
        ({"normalization": "layer"}, "normalization"),
        ({"time_embedding_dim": 7}, "time_embedding_dim"),
        ({"weights": "/nonexistent.weights.h5"}, "weights"),
        ({"input_shape": (28, 28)}, "input_shape"),
    ]


def test_bad_arguments():
    for kwargs, match in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=match):
            unet(**kwargs)



def test_registered():
    info = get_model("unet")
    assert info.task == "segmentation"
    assert info.param_count == unet().count_params()
