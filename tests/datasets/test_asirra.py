import io
import warnings
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import astrozoo.datasets as D


@pytest.fixture
def petimages(shared_data, tmp_path):
    """A PetImages-style folder of real CIFAR-10 cats and dogs, plus two broken files."""
    root = tmp_path / "PetImages"
    with zipfile.ZipFile(shared_data / "cifar10" / "cifar10_test_jpg.zip") as zf:
        for cifar, folder in (("cat", "Cat"), ("dog", "Dog")):
            (root / folder).mkdir(parents=True)
            for i in range(12):
                (root / folder / f"{i}.jpg").write_bytes(zf.read(f"test/{cifar}/{i:04d}.jpg"))
        # A non-square real image: the left half of a cat, 32x16.
        img = Image.open(io.BytesIO(zf.read("test/cat/0100.jpg"))).crop((0, 0, 16, 32))
        img.save(root / "Cat" / "12.jpg")
    (root / "Cat" / "3.jpg").write_bytes(b"")  # Kaggle's Cat/666.jpg is empty, too
    (root / "Dog" / "5.jpg").write_bytes(b"GIF89a garbage")
    return tmp_path


def test_asirra_folder_split_skip_and_pad(petimages):
    with pytest.warns(D.CorruptFilesWarning, match="skipped 2 corrupt"):
        ds, info = D.asirra("train", batch_size=32, image_size=64, data_dir=petimages, test_per_class=4,
                            with_info=True)
    assert len(info["skipped"]) == 2
    # train = all but the last 4 per class (13 cats, 12 dogs), minus the two broken files
    assert info["num_examples"] == (13 - 4 - 1) + (12 - 4 - 1)
    x, y = next(iter(ds))
    assert x.shape == (15, 64, 64, 3) and sorted(y.numpy().tolist()) == [0] * 8 + [1] * 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the test files are all readable: no warning
        tds, tinfo = D.asirra("test", batch_size=8, image_size=64, data_dir=petimages, test_per_class=4,
                              with_info=True, shuffle=False)
    assert tinfo["num_examples"] == 8
    x, y = [t.numpy() for t in next(iter(tds))]
    assert y.tolist() == [0] * 4 + [1] * 4
    padded = x[3]  # 12.jpg, the last cat: 32x16 padded to a square, black left/right bands
    assert padded[:, :14].max() == 0 and padded[:, -14:].max() == 0
    assert padded[:, 20:44].mean() > 0.1
    assert x[0][:, :4].max() > 0  # a square image has no band


def test_asirra_cianna_rescale_and_augment(petimages):
    with pytest.warns(D.CorruptFilesWarning):
        ds = D.asirra("train", batch_size=16, image_size=32, data_dir=petimages, test_per_class=4,
                      rescale="cianna", augment=True, seed=0)
    x = next(iter(ds))[0].numpy()
    assert x.min() >= -100 / 155 - 1e-6 and x.max() <= 1 + 1e-6
    assert np.isclose(x.min(), -100 / 155)  # black borders of the affine transform


def test_asirra_errors(tmp_path, petimages):
    with pytest.raises(FileNotFoundError, match="Cat and .*Dog.*microsoft"):
        D.asirra(data_dir=tmp_path / "PetImages" / "Cat")
    with pytest.raises(ValueError, match="test_per_class=100 but .* holds only 13"):
        D.asirra(data_dir=petimages, test_per_class=100)


def test_asirra_tfds_path():
    with tfds.testing.mock_data(num_examples=10):
        ds = D.asirra("test", batch_size=4, image_size=48)
        x, y = next(iter(ds))
    assert x.shape == (4, 48, 48, 3) and set(y.numpy().tolist()) <= {0, 1}
