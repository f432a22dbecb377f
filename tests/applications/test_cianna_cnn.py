"""The course's CIFAR-10 / ASIRRA CNNs (astrozoo.applications.cianna_cnn)."""

import keras
import numpy as np
import pytest

from astrozoo import applications as A
from astrozoo.layers import CiannaGroupNorm
from tests.helpers import check_predict_numpy_and_tfdata, roundtrip_keras


def test_parameter_counts_match_the_course_networks():
    # 586,114 is the parameter count of CIANNA's arch2_res128 ASIRRA network
    # (../shared/data/cianna/arch2_res128_err1.76_ms89.dat, see reference/cianna.md).
    assert A.asirra_cnn().count_params() == 586_114
    assert A.cifar10_cnn().count_params() == 180_986


def test_layers_follow_the_notebook_order():
    model = A.cifar10_cnn()
    names = [layer.name for layer in model.layers]
    for b in range(1, 5):
        assert names.index(f"block{b}_pool") < names.index(f"block{b}_norm") < names.index(f"block{b}_act")
    norms = [layer for layer in model.layers if isinstance(layer, CiannaGroupNorm)]
    assert [n.group_size for n in norms] == [2, 2, 4, 4]
    assert [n.groups for n in norms] == [8, 16, 16, 32]
    assert model.get_layer("block4_conv3").activation is keras.activations.linear


def test_predict_and_softmax():
    model = A.cianna_cnn(input_shape=(16, 24, 1), classes=3, blocks=((8, 2), ((16, 8, 16), 4)))
    x = np.random.default_rng(0).normal(size=(4, 16, 24, 1)).astype("float32")
    y = check_predict_numpy_and_tfdata(model, x)
    assert y.shape == (4, 3)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)


def test_features_accept_any_size():
    model = A.cifar10_cnn(include_top=False, input_shape=(None, None, 3), pooling="avg")
    out = model.predict(np.zeros((2, 48, 40, 3), "float32"), verbose=0)
    assert out.shape == (2, 128)


def test_keras_roundtrip(tmp_path):
    model = A.cianna_cnn(input_shape=(16, 16, 3), classes=4, blocks=((8, 2), (16, 4)))
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    roundtrip_keras(model, x, tmp_path)


def test_mixed_precision_keeps_float32_head():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = A.cifar10_cnn()
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(blocks=((16, 3),)), "multiple of its group_size"),
        (dict(blocks=(((8, 8), 2),)), "int or a triple"),
        (dict(blocks=("abc",)), "sequence of"),
        (dict(input_shape=(8, 8, 3)), "at least 16"),
        (dict(pooling="sum"), "pooling"),
        (dict(classes=0), "classes"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        A.cianna_cnn(**kwargs)
