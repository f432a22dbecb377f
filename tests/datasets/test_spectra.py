import numpy as np
import pytest

import astrozoo.datasets as D
from astrozoo.datasets.spectra import COURSE_BALANCE


def _labels(ds):
    return np.concatenate([b[1].numpy() for b in ds])


def test_miles_classes_splits_are_stratified_and_disjoint(shared_data):
    parts = {}
    for split in ("train", "validation", "test"):
        ds, info = D.miles(split, batch_size=256, data_dir=shared_data / "miles", with_info=True)
        parts[split] = (set(info["indices"].tolist()), _labels(ds))
        assert ds.element_spec[0].shape.as_list() == [None, 4300, 1]
    idx = [p[0] for p in parts.values()]
    assert not (idx[0] & idx[1] or idx[0] & idx[2] or idx[1] & idx[2])
    total = np.bincount(np.concatenate([p[1] for p in parts.values()]), minlength=7)
    # O 3, B 56, A 85, F 210, G 247, K 247, M 49 (the 88 stars without an MK letter are out)
    assert total.sum() == 897 and total[0] == 3 and total[6] == 49
    train = np.bincount(parts["train"][1], minlength=7) / len(parts["train"][1])
    test = np.bincount(parts["test"][1], minlength=7) / len(parts["test"][1])
    assert np.abs(train - test).max() < 0.03
    x = next(iter(D.miles("test", batch_size=8, data_dir=shared_data / "miles")))[0].numpy()
    assert np.allclose(x.max(axis=1), 1.0)  # normalize="max"


def test_miles_regression_nan_and_standardisation(shared_data):
    ds, info = D.miles("train", batch_size=1000, target=["teff", "logg", "feh"], data_dir=shared_data / "miles",
                       with_info=True)
    _, y = next(iter(ds))
    y = y.numpy()
    assert y.shape[1] == 3 and not np.isnan(y).any()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-4)
    assert info["target_names"] == ["log10_teff", "logg", "feh"]
    assert 3.6 < info["target_mean"][0] < 3.9  # log10 Teff of a typical MILES star
    n_all = sum(D.miles(s, target="feh", standardize=False, data_dir=shared_data / "miles", with_info=True)[1]
                ["num_examples"] for s in ("train", "validation", "test"))
    assert n_all == 985 - 1 - 39  # m0970 out, 39 unknown [Fe/H]
    _, kinfo = D.miles("train", target="feh", nan_policy="keep", data_dir=shared_data / "miles", with_info=True)
    ky = np.concatenate([b[1].numpy() for b in D.miles("train", target="feh", nan_policy="keep",
                                                         batch_size=1000, data_dir=shared_data / "miles")])
    assert np.isnan(ky).sum() > 0 and len(ky) == kinfo["num_examples"]


def test_preprocess_spectra_course_recipe():
    x = np.array([[-0.5, 0.0, 0.01, 0.5, 2.0]], np.float32)
    out = D.preprocess_spectra(x, clip=(0, 1), tanh_scale=40, pad_multiple=4)
    np.testing.assert_allclose(out[0, :5], np.tanh(40 * np.clip(x[0], 0, 1)), rtol=1e-6)
    assert out.shape == (1, 8) and (out[0, 5:] == 0).all()
    assert D.preprocess_spectra(np.zeros((2, 3753)), pad_multiple=64).shape == (2, 3776)
    with pytest.raises(ValueError, match="zero max"):
        D.preprocess_spectra(np.zeros((2, 5)), normalize="max")
    with pytest.raises(ValueError, match="2D array"):
        D.preprocess_spectra(np.zeros(5))


def test_spectra_from_arrays():
    x = np.random.default_rng(0).random((10, 30)).astype(np.float32)
    ds = D.spectra(x, np.arange(10), batch_size=4, sample_weight=np.ones(10))
    xb, yb, wb = next(iter(ds))
    assert xb.shape == (4, 30, 1) and wb.shape == (4,)
    with pytest.raises(ValueError, match="10 spectra but 9 targets"):
        D.spectra(x, np.arange(9))


def _write_indo_us(folder, n=260, length=40, classes=7):
    rng = np.random.default_rng(0)
    y = np.concatenate([np.arange(classes), rng.integers(0, classes, n - classes)])
    x = rng.random((n, length)) * 1.2
    np.savetxt(folder / "train.dat", x, fmt="%.5f")
    np.savetxt(folder / "target.dat", np.eye(classes)[y], fmt="%d")
    return np.loadtxt(folder / "train.dat"), y


def test_indo_us_course_files(tmp_path):
    x, y = _write_indo_us(tmp_path)
    ds, info = D.indo_us("test", batch_size=500, data_dir=tmp_path, with_info=True)
    xb, yb = next(iter(ds))
    assert info["num_examples"] == 200 and info["length"] == 64  # 40 padded to a multiple of 64
    np.testing.assert_array_equal(yb.numpy(), y[-200:])
    np.testing.assert_allclose(xb.numpy()[:, :40, 0], np.tanh(40 * np.clip(x[-200:], 0, 1)), atol=1e-5)
    _, binfo = D.indo_us("train", data_dir=tmp_path, balance=[2, 2, 2, 2, 2, 2, 2], with_info=True)
    assert binfo["num_examples"] == 14
    assert len(COURSE_BALANCE) == 7 and sum(COURSE_BALANCE) == 150


def test_indo_us_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.dat.*Download"):
        D.indo_us(data_dir=tmp_path)
    _write_indo_us(tmp_path, n=30)
    lines = (tmp_path / "train.dat").read_text().splitlines()
    lines[4] = lines[4].replace(" ", " x", 1)
    (tmp_path / "train.dat").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"train.dat, line 5: spectra: cannot parse 'x"):
        D.indo_us(data_dir=tmp_path, test_size=5)
    _write_indo_us(tmp_path, n=30)
    (tmp_path / "target.dat").write_text("\n".join((tmp_path / "target.dat").read_text().splitlines()[:-1]))
    with pytest.raises(ValueError, match="30 spectra but .* 29 targets"):
        D.indo_us(data_dir=tmp_path, test_size=5)


def test_miles_errors(tmp_path, shared_data):
    with pytest.raises(FileNotFoundError, match="miles_stellar_library_v9.1.npz"):
        D.miles(data_dir=tmp_path)
    with pytest.raises(ValueError, match="target"):
        D.miles(target="mass", data_dir=shared_data / "miles")
    with pytest.raises(ValueError, match="nan_policy"):
        D.miles(target="feh", nan_policy="zero", data_dir=shared_data / "miles")
