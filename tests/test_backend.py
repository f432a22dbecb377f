import importlib.util
import os
import subprocess
import sys

import pytest

from astrozoo import backend

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# jax and torch are optional extras: `pip install -e ".[test]"` alone has neither.
HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _py(code, **env):
    full = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3", **env)
    full.pop("KERAS_BACKEND", None) if "KERAS_BACKEND" not in env else None
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, cwd=REPO)


def test_import_astrozoo_leaves_backend_choice_open():
    other = "jax" if HAS_JAX else "torch" if HAS_TORCH else None
    if other is None:
        pytest.skip("needs a second Keras backend: pip install -e '.[jax]' or '.[torch]'")
    code = (
        f"import sys, astrozoo; assert 'keras' not in sys.modules; astrozoo.set_backend('{other}');"
        "import keras; print(keras.backend.backend())"
    )
    res = _py(code)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith(other)


def test_set_backend_after_import_raises():
    with pytest.raises(ValueError, match="Unknown backend 'numpy'"):
        backend.set_backend("numpy")
    import keras

    other = "jax" if keras.backend.backend() != "jax" else "torch"
    with pytest.raises(RuntimeError, match=f"set_backend\\('{other}'\\) must run before"):
        backend.set_backend(other)
    assert backend.set_backend(keras.backend.backend()) == keras.backend.backend()


def test_fit_defaults():
    assert backend.fit_defaults(backend="tensorflow") == {"jit_compile": False, "steps_per_execution": 8}
    assert backend.fit_defaults(backend="jax")["jit_compile"] is True
    assert backend.fit_defaults(backend="torch")["jit_compile"] is False
    assert backend.fit_defaults(jit_compile=False, steps_per_execution=2, backend="jax") == {
        "jit_compile": False,
        "steps_per_execution": 2,
    }
    with pytest.raises(ValueError, match="steps_per_execution must be a positive int"):
        backend.fit_defaults(steps_per_execution=0)
    with pytest.raises(ValueError, match="jit_compile must be"):
        backend.fit_defaults(jit_compile="yes")


@pytest.mark.slow  # a full lenet5 fit; fit_defaults() values are checked above
def test_fit_defaults_compile_and_train():
    import keras
    import numpy as np

    import astrozoo.applications as apps

    model = apps.lenet5()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", **backend.fit_defaults())
    x = np.random.default_rng(0).random((32, 28, 28, 1), dtype="float32")
    hist = model.fit(x, np.arange(32) % 10, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert model.steps_per_execution == backend.fit_defaults()["steps_per_execution"]
    keras.backend.clear_session()


def test_recommended_and_threads():
    r = backend.recommended()
    assert r["backend"] in ("tensorflow", "jax", "torch") and "jit_compile" in r["compile"]
    assert r["precision"] == "float32"
    g = backend.recommended("gpu")
    assert g["backend"] in ("tensorflow", "jax", "torch") and g["compile"]["steps_per_execution"] >= 1
    assert g["precision"] in ("mixed_float16", "mixed_bfloat16", "float32")
    with pytest.raises(ValueError, match="device must be"):
        backend.recommended("tpu")
    with pytest.raises(ValueError, match="threads must be >= 1"):
        backend.configure_threads(0)
    assert backend.configure_threads(None) == {}
    res = _py(
        "from astrozoo import backend; backend.configure_threads(1); import os;"
        "print(os.environ['OMP_NUM_THREADS'], os.environ['TF_NUM_INTRAOP_THREADS'], os.environ['TF_NUM_INTEROP_THREADS'])"
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[-3:] == ["1", "1", "1"]
    if HAS_TORCH:  # the pools of an already imported framework are set through its API
        res = _py("import torch; from astrozoo import backend; backend.configure_threads(1); print(torch.get_num_threads())")
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.split()[-1] == "1"
