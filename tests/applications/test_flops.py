import keras
import pytest

import astrozoo.applications as apps
from astrozoo.applications.flops import count_flops


def test_conv_dense_pool_by_hand():
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, name="c")(inp)  # 6x6x4 outputs, 2*3*3*2 + 1 FLOPs each
    x = keras.layers.ReLU()(x)  # 144 outputs, 1 FLOP each
    x = keras.layers.MaxPooling2D(2)(x)  # 3x3x4 outputs, 4 FLOPs each
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.5)(x)
    out = keras.layers.Dense(5, use_bias=False)(x)  # 5 outputs, 2*36 FLOPs each
    model = keras.Model(inp, out)
    assert count_flops(model) == 144 * 37 + 144 + 36 * 4 + 5 * 72


def test_strided_depthwise_transpose_and_nested():
    inp = keras.Input((16, 3))
    x = keras.layers.Conv1D(8, 4, strides=2, padding="same")(inp)  # 8 positions x 8 filters
    inner_in = keras.Input((8, 8))
    inner = keras.Model(inner_in, keras.layers.Dense(2)(inner_in))  # 8 x 2 outputs
    out = inner(x)
    model = keras.Model(inp, out)
    assert count_flops(model) == 64 * (2 * 4 * 3 + 1) + 16 * (2 * 8 + 1)

    img = keras.Input((6, 6, 4))
    d = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(img)  # 144 outputs, 18 each
    t = keras.layers.Conv2DTranspose(2, 2, strides=2, use_bias=False)(d)  # 36 inputs x 4 taps x 2 filters x 4 ch
    assert count_flops(keras.Model(img, t)) == 144 * 18 + 2 * 4 * 2 * 144


def test_zoo_models_match_published_counts():
    # Darknet-19 at 224: 5.58 GFLOPs in Redmon's table (+ biases and group norms here).
    dk = count_flops(apps.darknet19())
    assert 5.55e9 < dk < 5.70e9
    # ResNet-18 at 224: 1.82 G multiply-adds (torchvision), 3.64 GFLOPs.
    r18 = count_flops(apps.resnet18(classes=1000))
    assert abs(r18 / 3.64e9 - 1) < 0.02
    # LeNet-5: 1.03 M multiply-adds in the two convs and three dense layers.
    l5 = count_flops(apps.lenet5())
    macs = 28 * 28 * 8 * 25 + 14 * 14 * 16 * 25 * 8 + 784 * 256 + 256 * 128 + 128 * 10
    assert 2 * macs < l5 < 2 * macs * 1.05


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="expects a keras.Model"):
        count_flops(keras.layers.Dense(3))
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(2, 3)(inp))
    with pytest.raises(ValueError, match="static shapes"):
        count_flops(model)
