import keras
import numpy as np
import pytest

from astrozoo.layers import CiannaGroupNorm, CiannaLeakyReLU


def test_leaky_relu_matches_cianna_formula():
    x = np.array([-10.0, -1.0, 0.0, 0.5, 799.0, 800.0, 900.0], dtype="float32")
    y = np.asarray(CiannaLeakyReLU()(x))
    expected = np.where(x <= 0, 0.05 * x, np.where(x > 800, 800 + 0.05 * (x - 800), x))
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert np.asarray(CiannaLeakyReLU(saturation=None)(x))[-1] == pytest.approx(900.0)


def _group_norm_reference(x, group_size, gamma, beta, eps=1e-3, set_off=0):
    b = x.shape[0]
    c = x.shape[-1]
    g = c // group_size
    xg = x.reshape(b, -1, g, group_size).astype("float64")
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = xg.var(axis=(1, 3), keepdims=True)
    y = (xg - mean) / np.sqrt(var + eps) * gamma[None, None, :, None] + beta[None, None, :, None]
    if set_off:
        y[:, :, g - set_off :, :] = xg[:, :, g - set_off :, :]
    return y.reshape(x.shape)


@pytest.mark.parametrize("shape,group_size,set_off", [((2, 5, 6, 8), 4, 0), ((3, 7, 12), 3, 1), ((2, 4, 4, 16), 16, 0)])
def test_group_norm_matches_reference(shape, group_size, set_off):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=shape).astype("float32")
    layer = CiannaGroupNorm(group_size, set_off=set_off)
    layer.build(shape)
    g = shape[-1] // group_size
    gamma, beta = rng.normal(size=g).astype("float32"), rng.normal(size=g).astype("float32")
    layer.set_weights([gamma, beta])
    assert layer.gamma.shape == (g,)  # one gamma/beta per group, not per channel
    np.testing.assert_allclose(np.asarray(layer(x)), _group_norm_reference(x, group_size, gamma, beta, set_off=set_off), atol=1e-4)


def test_group_norm_errors_and_roundtrip(tmp_path):
    with pytest.raises(ValueError, match="group_size=3"):
        CiannaGroupNorm(3).build((None, 4, 4, 8))
    with pytest.raises(ValueError, match="group_size must be >= 1"):
        CiannaGroupNorm(0)
    inp = keras.Input((6, 6, 8))
    out = CiannaLeakyReLU(name="act")(CiannaGroupNorm(4, name="gn")(inp))
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 8)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), atol=1e-6)
    assert again.get_layer("gn").get_config()["group_size"] == 4


def test_group_norm_mixed_precision_keeps_float32_statistics():
    layer = CiannaGroupNorm(4, dtype="mixed_float16")
    x = np.random.default_rng(2).normal(0, 100, size=(2, 8, 8, 8)).astype("float16")
    y = np.asarray(layer(x)).astype("float32")
    assert np.isfinite(y).all()
    assert abs(float(y.mean())) < 0.05
