import keras
import pytest

import astrozoo
from astrozoo import precision


def test_auto_is_float32_on_cpu():
    assert precision.resolve_precision("auto") == "float32"
    assert astrozoo.set_precision("auto") == "float32"
    assert astrozoo.get_precision() == "float32"


def test_auto_picks_mixed_float16_on_recent_gpu(monkeypatch):
    monkeypatch.setattr(precision, "_gpu_compute_capability", lambda: (8, 0))
    assert precision.resolve_precision("auto") == "mixed_float16"
    monkeypatch.setattr(precision, "_gpu_compute_capability", lambda: (6, 1))
    assert precision.resolve_precision("auto") == "float32"


def test_set_and_unknown_policy():
    assert astrozoo.set_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "mixed_bfloat16"
    with pytest.raises(ValueError, match="'float8'"):
        astrozoo.set_precision("float8")


def test_set_backend_after_import_is_an_error():
    current = keras.backend.backend()
    assert astrozoo.set_backend(current) == current
    other = "jax" if current != "jax" else "tensorflow"
    with pytest.raises(RuntimeError, match="already imported"):
        astrozoo.set_backend(other)
    with pytest.raises(ValueError, match="'theano'"):
        astrozoo.set_backend("theano")
