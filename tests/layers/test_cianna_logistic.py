"""CiannaLogistic: CIANNA's saturated logistic activation ("LOGI")."""

import keras
import numpy as np
import pytest

from astrozoo.layers import CiannaLogistic


def test_values_match_cianna_formula_and_config_roundtrip(tmp_path):
    x = np.array([[-20.0, -6.5, -1.0, 0.0, 2.0, 30.0]], np.float32)
    layer = CiannaLogistic(beta=2.0, saturation=6.0)
    y = np.asarray(layer(x))
    expected = 1.0 / (1.0 + np.exp(np.minimum(-2.0 * x.astype(np.float64), 6.0)))
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    # The negative side is floored at sigmoid(-6); the positive side is a plain sigmoid.
    assert y[0, 0] == pytest.approx(1 / (1 + np.exp(6.0)), rel=1e-6)
    plain = np.asarray(CiannaLogistic(saturation=None)(x))
    np.testing.assert_allclose(plain, 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-5, atol=1e-12)

    model = keras.Sequential([keras.Input((6,)), CiannaLogistic(beta=0.5, saturation=3.0, name="logi")])
    path = tmp_path / "logi.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert again.get_layer("logi").get_config()["saturation"] == 3.0
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="beta"):
        CiannaLogistic(beta=0.0)
