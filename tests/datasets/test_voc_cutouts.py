import numpy as np
import pytest

from astrozoo.datasets import read_voc_index
from astrozoo.datasets.voc_cutouts import voc_cutouts


@pytest.fixture(autouse=True, scope="module")
def _freeze_gc():
    # See tests/datasets/test_voc.py: keeps the shared clear_session teardown cheap.
    import gc

    import keras  # noqa: F401

    gc.collect()
    gc.freeze()
    yield


def white_squares_voc(root):
    """Black images with white objects: cutouts must be all white, backgrounds all black."""
    from PIL import Image

    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    objs = {"a": [("galaxy", (10, 10, 40, 40)), ("star", (60, 20, 100, 60))], "b": [("star", (200, 100, 240, 140))]}
    for name, boxes in objs.items():
        img = np.zeros((160, 320, 3), np.uint8)
        xml = f"<annotation><size><width>320</width><height>160</height></size>"
        for cls, (x0, y0, x1, y1) in boxes:
            img[y0:y1, x0:x1] = 255
            # VOC XML is 1-based inclusive: pixels x0..x1-1 are xmin=x0+1, xmax=x1.
            xml += (
                f"<object><name>{cls}</name><difficult>0</difficult><bndbox><xmin>{x0 + 1}</xmin>"
                f"<ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
            )
        # PNG content under a .jpg name keeps the pixels exact (no JPEG ringing).
        Image.fromarray(img).save(root / "JPEGImages" / f"{name}.jpg", format="PNG")
        (root / "Annotations" / f"{name}.xml").write_text(xml + "</annotation>")
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\nb\n")
    return root


def test_cutouts_are_objects_and_backgrounds_touch_no_object(tmp_path):
    root = white_squares_voc(tmp_path)
    ds, info = voc_cutouts(
        "train", data_dir=root, cutout_size=8, augment=False, normalization=None, batch_size=None, seed=0,
        background_fraction=0.5, with_info=True,
    )
    assert info["class_names"] == ("galaxy", "star", "background") and info["background_class"] == 2
    xs, ys = [], []
    for _ in range(5):  # five epochs, new crops each time
        for x, y in ds:
            xs.append(x.numpy())
            ys.append(int(y))
    xs, ys = np.stack(xs), np.array(ys)
    assert xs.shape[1:] == (8, 8, 3)
    objects, background = xs[ys < 2], xs[ys == 2]
    assert np.sum(ys == 0) == 5 and np.sum(ys == 1) == 10
    np.testing.assert_allclose(objects, 255.0, atol=1e-3)
    np.testing.assert_allclose(background, 0.0, atol=1e-3)
    # Half of the samples are background (lots of free room in these images).
    assert 0.35 < len(background) / len(ys) < 0.65


def test_bccd_test_cutouts_counts_and_background_share(shared_data):
    bccd = shared_data / "bccd" / "BCCD"
    idx = read_voc_index(bccd, "test")
    ds, info = voc_cutouts("test", index=idx, cutout_size=16, batch_size=512, seed=1, with_info=True)
    ys = np.concatenate([y.numpy() for _, y in ds])
    counts = np.bincount(np.concatenate(idx.classes), minlength=3)
    np.testing.assert_array_equal(np.bincount(ys, minlength=4)[:3], counts)
    share = np.mean(ys == 3)
    assert abs(share - 0.2) < 0.03, share
    assert abs(info["expected_background_fraction"] - 0.2) < 0.01
    ys2 = np.concatenate([y.numpy() for _, y in voc_cutouts("test", index=idx, cutout_size=16, batch_size=512, seed=1)])
    np.testing.assert_array_equal(ys, ys2)


def test_cutout_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="background_fraction"):
        voc_cutouts("train", data_dir=tmp_path, background_fraction=1.0)
    with pytest.raises(ValueError, match="normalization"):
        voc_cutouts("train", data_dir=tmp_path, normalization="z")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        voc_cutouts("train", data_dir=tmp_path / "none")
