"""weights= resolution: registered names (packaged and downloaded), paths, and every error."""

import numpy as np
import pytest

from astrozoo import weights as W
from astrozoo.applications import lenet5


@pytest.fixture
def lenet_file(tmp_path):
    model = lenet5(classes=10)
    path = tmp_path / "lenet.weights.h5"
    model.save_weights(path)
    return model, path


def test_packaged_mnist8k_weights_are_accurate_on_held_out_mnist(shared_data):
    from astrozoo.datasets import read_idx

    x = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")[8000:].astype("float32")[..., None] / 255
    y = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")[8000:]
    model = lenet5(weights="mnist8k")
    acc = float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))
    assert acc > 0.97, acc  # registry records 0.9865


def test_registered_weights_without_top_copy_the_features():
    full = lenet5(weights="mnist8k")
    notop = lenet5(weights="mnist8k", include_top=False, pooling="avg", input_shape=(40, 40, 1))
    np.testing.assert_array_equal(full.get_layer("conv2").kernel.numpy(), notop.get_layer("conv2").kernel.numpy())


def test_weights_path_h5_and_keras(lenet_file, tmp_path):
    model, path = lenet_file
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    loaded = lenet5(weights=str(path))
    np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), atol=1e-6)
    kpath = tmp_path / "m.keras"
    model.save(kpath)
    loaded = lenet5(weights=kpath)
    np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(weights="imagenet"), r"'mnist8k'.*Received: weights='imagenet'"),
        (dict(weights="mnist8k", classes=5), r"`classes` should be 10. Received classes=5"),
        (dict(weights="mnist8k", classifier_activation="sigmoid"), "classifier_activation='sigmoid'"),
        (dict(weights="mnist8k", input_shape=(28, 28, 3)), r"expect 1 input channel"),
        (dict(weights="mnist8k", input_shape=(32, 32, 1)), r"should be \(28, 28, 1\)"),
        (dict(weights=3), r"weights=3"),
    ],
)
def test_registered_weight_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lenet5(**kwargs)


def test_missing_file_error():
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        lenet5(weights="/tmp/astrozoo-does-not-exist/nope.weights.h5")


def test_truncated_file_error(lenet_file, tmp_path):
    _, path = lenet_file
    bad = tmp_path / "truncated.weights.h5"
    bad.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated"):
        lenet5(weights=str(bad))


def test_wrong_shapes_error(tmp_path):
    path = tmp_path / "five.weights.h5"
    lenet5(classes=5).save_weights(path)
    with pytest.raises(ValueError, match="do not fit"):
        lenet5(weights=str(path), classes=10)


def _register(monkeypatch, entry):
    table = {**W.WEIGHTS, "lenet5": {**W.WEIGHTS.get("lenet5", {}), "test_dl": entry}}
    monkeypatch.setattr(W, "WEIGHTS", table)


def test_download_path_with_hash(monkeypatch, tmp_path, lenet_file):
    _, path = lenet_file
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    entry = dict(url=path.as_uri(), sha256=W.sha256sum(path), classes=10, input_shape=[28, 28, 1])
    _register(monkeypatch, entry)
    model = lenet5(weights="test_dl")
    np.testing.assert_array_equal(model.get_layer("conv1").kernel.numpy(), lenet5(weights=str(path)).get_layer("conv1").kernel.numpy())
    assert (tmp_path / "keras_home" / "models" / path.name).is_file()


def test_download_hash_mismatch(monkeypatch, tmp_path, lenet_file):
    _, path = lenet_file
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    _register(monkeypatch, dict(url=path.as_uri(), sha256="0" * 64, classes=10, input_shape=[28, 28, 1]))
    with pytest.raises(ValueError, match="(?i)hash|corrupt"):
        lenet5(weights="test_dl")


def test_offline_download_error_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    url = "http://127.0.0.1:9/astrozoo/lenet5_x.weights.h5"
    _register(monkeypatch, dict(url=url, sha256="1" * 64, classes=10, input_shape=[28, 28, 1]))
    with pytest.raises(RuntimeError, match=r"Download that file by hand.*lenet5_x.weights.h5"):
        lenet5(weights="test_dl")


def test_packaged_hash_mismatch(monkeypatch):
    entry = {**W.WEIGHTS["lenet5"]["mnist8k"], "sha256": "f" * 64}
    _register(monkeypatch, entry)
    with pytest.raises(ValueError, match="Hash mismatch"):
        lenet5(weights="test_dl")
