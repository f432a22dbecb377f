import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import astrozoo.datasets as D
from astrozoo.datasets.imagenet import eval_crop, train_crop


@pytest.fixture
def tree(shared_data, tmp_path):
    """An ImageNet-style tree (train/<wnid>/, val/<wnid>/) of real CIFAR-10 JPEGs."""
    wnids = {"n02123045": "cat", "n02085620": "dog", "n02690373": "airplane"}
    with zipfile.ZipFile(shared_data / "cifar10" / "cifar10_test_jpg.zip") as zf:
        for split, offset in (("train", 0), ("val", 10)):
            for wnid, c in wnids.items():
                d = tmp_path / split / wnid
                d.mkdir(parents=True)
                for i in range(3):
                    (d / f"{wnid}_{i}.JPEG").write_bytes(zf.read(f"test/{c}/{offset + i:04d}.jpg"))
    return tmp_path


def test_imagenet_tree_train_and_validation(tree):
    ds, info = D.imagenet("train", batch_size=9, image_size=64, train_resize_range=(72, 96), data_dir=tree,
                          seed=0, with_info=True)
    assert info["class_names"] == ["n02085620", "n02123045", "n02690373"] and info["num_examples"] == 9
    x, y = next(iter(ds))
    assert x.shape == (9, 64, 64, 3) and sorted(y.numpy().tolist()) == [0] * 3 + [1] * 3 + [2] * 3
    assert float(tf.reduce_min(x)) >= -100 / 155 - 1e-6  # rescale="cianna"
    x2 = next(iter(D.imagenet("train", batch_size=9, image_size=64, train_resize_range=(72, 96), data_dir=tree,
                              seed=0)))[0]
    np.testing.assert_array_equal(x.numpy(), x2.numpy())  # seeded crops and order
    vds = D.imagenet("validation", batch_size=9, image_size=64, eval_resize=72, data_dir=tree, rescale="unit")
    v1, v2 = [next(iter(vds))[0].numpy() for _ in range(2)]
    np.testing.assert_array_equal(v1, v2)  # validation is deterministic


def test_crops_geometry():
    img = tf.reshape(tf.range(300 * 400 * 3) % 251, (300, 400, 3))
    img = tf.cast(img, tf.uint8)
    out = eval_crop(img, (224, 224), 256)
    assert out.shape == (224, 224, 3)
    a = train_crop(img, tf.constant(5, tf.int64), (224, 224))
    b = train_crop(img, tf.constant(5, tf.int64), (224, 224))
    c = train_crop(img, tf.constant(6, tf.int64), (224, 224))
    assert a.shape == (224, 224, 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())


def test_imagenet_errors_and_tfds(tmp_path):
    with pytest.raises(FileNotFoundError, match="train/<class>.*image-net.org"):
        D.imagenet("train", data_dir=tmp_path)
    with tfds.testing.mock_data(num_examples=6):
        ds = D.imagenet("validation", batch_size=3, image_size=32, eval_resize=40, manual_dir=tmp_path)
        x, y = next(iter(ds))
    assert x.shape == (3, 32, 32, 3) and int(tf.reduce_max(y)) < 1000
