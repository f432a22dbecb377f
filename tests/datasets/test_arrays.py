"""astrozoo.datasets.from_arrays and the options shared by every pipeline."""

import numpy as np
import pytest

import astrozoo.datasets as D
from astrozoo.applications import lenet5
from astrozoo.datasets.digits import load_digits_28


def _arrays(n=10):
    x = np.arange(n * 4, dtype="float32").reshape(n, 2, 2, 1)
    return x, np.arange(n, dtype="int32")


def test_batches_keep_pairs_and_order_without_shuffle():
    x, y = _arrays(10)
    batches = list(D.from_arrays(x, y, batch_size=4, shuffle=False).as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)


def test_shuffle_is_seeded_and_reshuffles_each_epoch():
    x, y = _arrays(32)
    ds = D.from_arrays(x, y, batch_size=None, seed=3)
    e1 = [int(b[1]) for b in ds]
    e2 = [int(b[1]) for b in ds]
    again = [int(b[1]) for b in D.from_arrays(x, y, batch_size=None, seed=3)]
    assert sorted(e1) == list(range(32)) and e1 != list(range(32))
    assert e1 != e2 and e1 == again
    for xb, yb in ds.take(5):  # pairs stay together through the shuffle
        assert float(xb.numpy().ravel()[0]) == 4 * int(yb)


def test_sample_weight_and_dict_inputs():
    x, y = _arrays(6)
    w = np.linspace(0, 1, 6)
    xb, yb, wb = next(iter(D.from_arrays({"img": x}, y, sample_weight=w, batch_size=6, shuffle=False)))
    assert set(xb) == {"img"} and wb.dtype.name == "float32"
    np.testing.assert_allclose(wb.numpy(), w, rtol=1e-6)
    xb = next(iter(D.from_arrays(x, batch_size=3, shuffle=False)))
    assert tuple(xb.shape) == (3, 2, 2, 1)


def test_bad_input_is_refused_before_building():
    x, y = _arrays(6)
    with pytest.raises(ValueError, match="same number of examples"):
        D.from_arrays(x, y[:5])
    with pytest.raises(ValueError, match="batch_size"):
        D.from_arrays(x, y, batch_size=0)
    with pytest.raises(ValueError, match="needs labels"):
        D.from_arrays(x, sample_weight=np.ones(6))
    with pytest.raises(ValueError, match="empty"):
        D.from_arrays(x[:0], y[:0])
    with pytest.raises(ValueError, match="scalar"):
        D.from_arrays(x, 3)


def test_pipelines_run_without_the_autotuner(shared_data):
    # The autotuner's model thread stalls fit at epoch ends (docs/performance.md).
    x, y = _arrays(6)
    assert D.from_arrays(x, y).options().autotune.enabled is False
    ds = D.mnist("test[:64]", batch_size=32, data_dir=shared_data / "mnist")
    assert ds.options().autotune.enabled is False
    ds = D.miles("train[:8]", batch_size=4, data_dir=shared_data / "miles")
    assert ds.options().autotune.enabled is False


def test_fit_on_real_digits():
    (xt, yt), (xv, yv) = load_digits_28(seed=0)
    model = lenet5()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    hist = model.fit(D.from_arrays(xt, yt, batch_size=64, seed=0), epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    _, acc = model.evaluate(D.from_arrays(xv, yv, batch_size=256, shuffle=False), verbose=0)
    assert acc > 0.5
