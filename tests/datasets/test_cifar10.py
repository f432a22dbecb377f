import io
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import astrozoo.datasets as D
from astrozoo.datasets.cifar10 import CLASS_NAMES


def _extract(shared_data, dest, classes=("cat", "dog"), per_class=20, split="test"):
    """Real CIFAR-10 JPEGs into dest/{split}/{class}/NNNN.jpg."""
    with zipfile.ZipFile(shared_data / "cifar10" / "cifar10_test_jpg.zip") as zf:
        for c in classes:
            (dest / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                (dest / split / c / f"{i:04d}.jpg").write_bytes(zf.read(f"test/{c}/{i:04d}.jpg"))
    return dest


def _arrays(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_cifar10_zip_real(shared_data):
    ds, info = D.cifar10("test[:10%]", batch_size=250, data_dir=shared_data / "cifar10", with_info=True)
    assert info["class_names"] == CLASS_NAMES and info["skipped"] == []
    assert info["num_examples"] == 1000
    x, y = _arrays(ds)
    assert x.shape == (1000, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and 0.5 < x.mean() < 0.62  # airplanes: bright skies
    assert set(y.tolist()) == {0}  # members are sorted by class, so the first 10% are airplanes
    _, tinfo = D.cifar10("train[-20:]", data_dir=shared_data / "cifar10", with_info=True)
    assert tinfo["num_examples"] == 20


def test_cifar10_pickle_and_folder_layouts_agree(shared_data, tmp_path):
    folder = _extract(shared_data, tmp_path / "jpg", per_class=6)
    ds_f = D.cifar10("test", batch_size=64, data_dir=folder, shuffle=False)
    xf, yf = _arrays(ds_f)
    assert yf.tolist() == [0] * 6 + [1] * 6  # two classes found -> sorted names cat, dog
    # The same images as official python batches (channel-planar uint8 rows).
    raw = np.stack([np.asarray(Image.open(p)) for c in ("cat", "dog")
                    for p in sorted((folder / "test" / c).glob("*.jpg"))])
    labels = [3] * 6 + [5] * 6
    rows = raw.transpose(0, 3, 1, 2).reshape(len(raw), -1)
    pk = tmp_path / "pk"
    pk.mkdir()
    (pk / "test_batch").write_bytes(pickle.dumps({b"data": rows, b"labels": labels}))
    xp, yp = _arrays(D.cifar10("test", batch_size=64, data_dir=pk, shuffle=False))
    assert yp.tolist() == labels
    # PIL and TensorFlow's JPEG decoders differ by a few levels (IDCT, chroma upsampling).
    assert np.abs(xp - xf).max() <= 8 / 255 and np.abs(xp - xf).mean() < 1.5 / 255
    np.testing.assert_array_equal(xp, raw / np.float32(255))


def test_cifar10_corrupt_file_skipped_and_counted(shared_data, tmp_path):
    folder = _extract(shared_data, tmp_path, per_class=5)
    (folder / "test" / "cat" / "9999.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.warns(D.CorruptFilesWarning, match="skipped 1 corrupt"):
        ds, info = D.cifar10("test", data_dir=folder, with_info=True)
    assert info["num_examples"] == 10 and len(info["skipped"]) == 1
    assert "9999.jpg" in info["skipped"][0][1]
    assert sum(int(b[1].shape[0]) for b in ds) == 10


def test_cifar10_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz.*cs.toronto.edu"):
        D.cifar10("train", data_dir=tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((3, 3072), np.uint8),
                                                        b"labels": [1, 2]}))
    with pytest.raises(ValueError, match="test_batch.*3072.*2 labels"):
        D.cifar10("test", data_dir=tmp_path)


def test_cifar10_augment_preset_and_tfds():
    with tfds.testing.mock_data(num_examples=16):
        ds = D.cifar10("train", batch_size=8, augment=True, seed=0)
        x, y = next(iter(ds))
    assert x.shape == (8, 32, 32, 3) and x.dtype == "float32"
    assert 0.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 1.0
