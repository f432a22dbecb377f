import gzip
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

import astrozoo.datasets as D

TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # MNIST test set, per class


def test_mnist_idx_test_split(shared_data):
    ds, info = D.mnist("test", batch_size=500, data_dir=shared_data / "mnist", with_info=True)
    assert info["num_examples"] == 10_000
    assert ds.element_spec[0].shape.as_list() == [None, 28, 28, 1]
    labels, lo, hi, mean = [], 1.0, 0.0, []
    for x, y in ds:
        x = x.numpy()
        lo, hi = min(lo, x.min()), max(hi, x.max())
        mean.append(x.mean())
        labels.append(y.numpy())
    labels = np.concatenate(labels)
    assert np.bincount(labels).tolist() == TEST_COUNTS
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # not shuffled by default for test
    assert lo == 0.0 and hi == 1.0
    assert 0.12 < np.mean(mean) < 0.14  # MNIST mean intensity ~0.13


def test_mnist_uncompressed_sliced_resized_categorical(shared_data, tmp_path):
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(shared_data / "mnist" / f"{stem}.gz") as src, open(tmp_path / stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    ds = D.mnist("test[:64]", batch_size=64, data_dir=tmp_path, image_size=32, label_mode="categorical")
    x, y = next(iter(ds))
    assert x.shape == (64, 32, 32, 1) and y.shape == (64, 10)
    ref = D.read_idx(tmp_path / "t10k-labels-idx1-ubyte")[:64]
    np.testing.assert_array_equal(np.argmax(y, 1), ref)


def test_mnist_shuffle_is_seeded(shared_data):
    def first(seed):
        return next(iter(D.mnist("test[:300]", batch_size=300, data_dir=shared_data / "mnist", shuffle=True,
                                 seed=seed)))[1].numpy()

    a, b, c = first(1), first(1), first(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert sorted(a.tolist()) == sorted(c.tolist())


def test_mnist_errors(shared_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz.*Download"):
        D.mnist("train", data_dir=shared_data / "mnist")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.mnist("test", data_dir=tmp_path / "nothing")
    shutil.copy(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz", tmp_path)
    # A label file of the wrong length: the train labels (60,000) with the test images.
    shutil.copy(shared_data / "mnist" / "train-labels-idx1-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match="10000 images but .* 60000 labels"):
        D.mnist("test", data_dir=tmp_path)
    with pytest.raises(ValueError, match="Invalid split 'valid'"):
        D.mnist("valid", data_dir=shared_data / "mnist")
    with pytest.raises(ValueError, match="batch_size"):
        D.mnist("test", batch_size=0, data_dir=shared_data / "mnist")
    with pytest.raises(ValueError, match="rescale"):
        D.mnist("test", rescale="zscore", data_dir=shared_data / "mnist")


def test_mnist_tfds_path():
    with tfds.testing.mock_data(num_examples=10):
        ds = D.mnist("train", batch_size=5, rescale="cianna")
        x, y = next(iter(ds))
    assert x.shape == (5, 28, 28, 1) and y.dtype == "int64"
    assert float(x.numpy().min()) >= -100 / 155 - 1e-6 and float(x.numpy().max()) <= 1.0 + 1e-6
