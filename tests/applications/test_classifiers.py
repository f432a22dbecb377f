"""Shared builder checks for the classification builders of issue 2."""

import keras
import numpy as np
import pytest

import astrozoo
from astrozoo import applications as A
from tests.helpers import check_predict_numpy_and_tfdata, roundtrip_keras

# (builder, small custom input shape with 4 channels, default output classes)
CASES = [
    ("lenet5", (20, 24, 4)),
    ("spectra1d", (400, 3)),
    ("resnet18", (32, 32, 4)),
    ("resnet34", (40, 40, 2)),
    ("resnet50", (32, 32, 4)),
    ("darknet19", (64, 64, 4)),
]
BUILDERS = {name: getattr(A, name) for name, _ in CASES}


@pytest.mark.parametrize("name,shape", CASES)
def test_custom_shape_channels_and_classes(name, shape):
    model = BUILDERS[name](input_shape=shape, classes=5)
    x = np.random.default_rng(0).normal(size=(3, *shape)).astype("float32")
    y = check_predict_numpy_and_tfdata(model, x)
    assert y.shape == (3, 5)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name,shape", CASES)
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_no_top_pooling(name, shape, pooling):
    model = BUILDERS[name](include_top=False, input_shape=shape, pooling=pooling)
    rank = len(shape) - 1
    if pooling is None:
        assert len(model.output_shape) == rank + 2
    else:
        assert len(model.output_shape) == 2
        assert model.get_layer(f"{pooling}_pool") is not None


@pytest.mark.parametrize("name,shape", CASES)
def test_keras_roundtrip(name, shape, tmp_path):
    model = BUILDERS[name](input_shape=shape, classes=3)
    x = np.random.default_rng(1).normal(size=(2, *shape)).astype("float32")
    reloaded = roundtrip_keras(model, x, tmp_path)
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in model.layers]


def test_default_shapes_and_param_counts():
    assert A.lenet5().output_shape == (None, 10)
    assert A.lenet5().count_params() == 238_570
    assert A.spectra1d().output_shape == (None, 7)
    assert A.spectra1d(input_shape=(4300, 1)).input_shape == (None, 4300, 1)
    dk = A.darknet19()
    assert dk.output_shape == (None, 1000)
    assert abs(dk.count_params() - 20.8e6) < 0.1e6
    assert A.resnet50().count_params() == 25_610_152
    assert A.resnet(depth=18, small_inputs=True, input_shape=(32, 32, 3), classes=10).output_shape == (None, 10)


def test_stable_layer_names():
    dk = A.darknet19(input_shape=(64, 64, 3))
    for n in ["block1_conv1", "block1_conv1_act", "block1_conv1_norm", "block6_conv5", "predictions"]:
        dk.get_layer(n)
    le = A.lenet5()
    assert [layer.name for layer in le.layers if layer.weights] == ["conv1", "conv2", "fc1", "fc2", "predictions"]


def test_input_tensor():
    import keras

    inp = keras.Input((28, 28, 1))
    model = A.lenet5(input_tensor=inp)
    assert model.inputs[0] is inp


def test_darknet19_batchnorm_option():
    model = A.darknet19(input_shape=(32, 32, 3), norm="batch", classes=4)
    assert any(type(layer).__name__ == "BatchNormalization" for layer in model.layers)


@pytest.mark.parametrize("name,shape", CASES)
def test_mixed_bfloat16(name, shape):
    astrozoo.set_precision("mixed_bfloat16")
    model = BUILDERS[name](input_shape=shape, classes=4)
    conv = [layer for layer in model.layers if layer.weights][0]
    assert conv.compute_dtype == "bfloat16"
    assert conv.variable_dtype == "float32"
    x = np.random.default_rng(2).normal(size=(2, *shape)).astype("float32")
    out = model(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_bfloat16_training_steps_finite():
    astrozoo.set_precision("mixed_bfloat16")
    model = A.lenet5()
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 64)
    hist = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert all(np.isfinite(hist.history["loss"]))
    assert model.get_layer("conv1").kernel.dtype == "float32"


# --- argument errors: each message names the bad value --------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(weights="imagenet_nope"), ValueError, "weights='imagenet_nope'"),
        (dict(weights="/no/such/file.weights.h5"), FileNotFoundError, "/no/such/file.weights.h5"),
        (dict(weights="model.bin/"), ValueError, "model.bin"),
        (dict(pooling="mean", include_top=False), ValueError, "pooling='mean'"),
        (dict(input_shape=(28, 28)), ValueError, r"input_shape=\(28, 28\)"),
        (dict(input_shape=(2, 2, 1)), ValueError, "at least 4"),
        (dict(input_shape=(None, None, 1)), ValueError, "static `input_shape`"),
        (dict(classes=0), ValueError, "classes=0"),
    ],
)
def test_lenet5_argument_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        A.lenet5(**kwargs)


def test_darknet19_errors():
    with pytest.raises(ValueError, match="norm='layer'"):
        A.darknet19(norm="layer")
    with pytest.raises(ValueError, match="at least 32"):
        A.darknet19(input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="depth=20"):
        A.resnet(depth=20)


def test_registry():
    names = [m.name for m in A.list_models()]
    for n in ["lenet5", "spectra1d", "resnet18", "resnet34", "resnet50", "darknet19"]:
        assert n in names
    info = A.get_model("lenet5")
    assert info.task == "image_classification"
    assert info.default_input_shape == (28, 28, 1)
    assert info.param_count == 238_570
    assert info.references
    with pytest.raises(ValueError, match="Unknown model 'lenet6'"):
        A.get_model("lenet6")
    assert [m.name for m in A.list_models("resnet*")] == ["resnet18", "resnet34", "resnet50"]
