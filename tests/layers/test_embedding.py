import math

import keras
import numpy as np
import pytest

from astrozoo.layers import SinusoidalEmbedding


def test_values_match_closed_form():
    layer = SinusoidalEmbedding(8, max_period=100.0)
    t = np.array([0.0, 1.0, 37.0], dtype="float32")
    out = np.asarray(layer(t))
    freqs = np.array([100.0 ** (-k / 4) for k in range(4)])
    expected = np.concatenate([np.sin(t[:, None] * freqs), np.cos(t[:, None] * freqs)], axis=1)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert out.shape == (3, 8)
    # t = 0: sin part 0, cos part 1.
    np.testing.assert_allclose(out[0], [0, 0, 0, 0, 1, 1, 1, 1], atol=1e-7)


def test_accepts_integer_and_column_inputs():
    layer = SinusoidalEmbedding(4)
    a = np.asarray(layer(np.array([3, 500], dtype="int32")))
    b = np.asarray(layer(np.array([[3.0], [500.0]], dtype="float32")))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_bad_dim():
    for dim in (0, 3, 2.0):
        with pytest.raises(ValueError, match="even integer"):
            SinusoidalEmbedding(dim)


def test_keras_roundtrip(tmp_path):
    inp = keras.Input(shape=())
    model = keras.Model(inp, SinusoidalEmbedding(6, max_period=50.0, scale=2.0)(inp))
    path = tmp_path / "emb.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    t = np.array([1.0, 2.5], dtype="float32")
    np.testing.assert_allclose(reloaded.predict(t, verbose=0), model.predict(t, verbose=0), atol=1e-6)
    assert reloaded.layers[-1].get_config()["scale"] == 2.0
    assert math.isclose(reloaded.layers[-1].max_period, 50.0)
