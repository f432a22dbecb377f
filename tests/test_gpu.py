"""Mixed precision on a real GPU, on whichever Keras backend is running; skipped without a GPU.

Run on a GPU machine: ``KERAS_BACKEND=jax python -m pytest tests/test_gpu.py``
(and with ``tensorflow`` / ``torch``).
"""

import numpy as np
import pytest

import astrozoo
from astrozoo import applications, precision

CAPABILITY = precision._gpu_compute_capability()
pytestmark = pytest.mark.skipif(CAPABILITY is None, reason="no GPU visible to the running Keras backend")


@pytest.fixture
def mixed():
    import keras

    before = keras.config.dtype_policy().name
    name = astrozoo.set_precision("auto")
    yield name
    keras.config.set_dtype_policy(before)
    keras.backend.clear_session()


def test_auto_policy_on_this_gpu(mixed):
    expected = "mixed_float16" if CAPABILITY >= (7, 0) else "float32"
    assert mixed == expected == astrozoo.get_precision()


def test_mixed_float16_trains_and_round_trips(mixed, tmp_path):
    import keras

    model = applications.resnet18(input_shape=(32, 32, 3), classes=10, small_inputs=True)
    assert model.outputs[0].dtype == "float32"  # the head stays float32 under any policy
    if mixed == "mixed_float16":
        assert model.get_layer(index=2).compute_dtype == "float16"
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 64)
    hist = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    before = model.predict(x[:8], verbose=0)
    path = tmp_path / "resnet18_mixed.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x[:8], verbose=0), before, atol=1e-3)
