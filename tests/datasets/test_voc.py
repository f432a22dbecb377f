import warnings

import numpy as np
import pytest

@pytest.fixture(autouse=True, scope="module")
def _freeze_gc():
    # The shared teardown calls keras.backend.clear_session(), whose gc.collect()
    # walks TensorFlow's whole object graph (~1 s per test); frozen objects are skipped.
    import gc

    import keras  # noqa: F401

    gc.collect()
    gc.freeze()
    yield


from astrozoo.datasets import VOC_CLASSES, parse_voc_xml, read_voc_index, voc

XML = """<annotation>
  <filename>{name}.jpg</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>
"""
OBJ = """  <object>
    <name>{cls}</name><difficult>{diff}</difficult>
    <bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox>
  </object>
"""


def make_voc(root, images, split="train"):
    """Write a tiny VOCdevkit folder: images = {id: (h, w, [(cls, (x1,y1,x2,y2), diff)])}."""
    from PIL import Image

    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (h, w, objs) in images.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        objects = "".join(OBJ.format(cls=c, b=b, diff=d) for c, b, d in objs)
        (root / "Annotations" / f"{name}.xml").write_text(XML.format(name=name, w=w, h=h, objects=objects))
    (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(images) + "\n")
    return root


@pytest.fixture
def bccd(shared_data):
    return shared_data / "bccd" / "BCCD"


def test_bccd_index_counts_and_box_convention(bccd):
    idx = read_voc_index(bccd, "test")
    s = idx.summary()
    assert s["images"] == 72 and s["skipped_images"] == 0
    assert idx.class_names == ("Platelets", "RBC", "WBC")
    ann = parse_voc_xml(bccd / "Annotations" / f"{idx.ids[0]}.xml")
    raw = np.array([o["bbox"] for o in ann["objects"]])
    # 1-based inclusive pixels -> continuous 0-based corners: the min corners move back by 1.
    np.testing.assert_allclose(idx.boxes[0], raw - [1, 1, 0, 0])
    names = [o["name"] for o in ann["objects"]]
    assert [idx.class_names[c] for c in idx.classes[0]] == names
    assert {len(read_voc_index(bccd, s).ids) for s in ("train", "val")} == {205, 87}


def test_bccd_pipeline_batches(bccd):
    ds, idx = voc(
        "test", data_dir=bccd, batch_size=4, image_size=(240, 320), shuffle=False, with_info=True, cache=False
    )
    x, y = next(iter(ds))
    assert x.shape == (4, 240, 320, 3) and x.dtype.name == "float32"
    # CIANNA normalisation (x - 100) / 155.
    assert float(np.min(x)) >= -100 / 155 - 1e-6 and float(np.max(x)) <= 1.0 + 1e-6
    n = max(len(c) for c in idx.classes[:4])
    assert y["boxes"].shape == (4, n, 4) and y["classes"].shape == (4, n) and y["difficult"].shape == (4, n)
    for k in range(4):
        m = len(idx.classes[k])
        np.testing.assert_allclose(y["boxes"][k, :m], idx.boxes[k] / 2, rtol=1e-5)
        np.testing.assert_array_equal(y["classes"][k, :m], idx.classes[k])
        assert np.all(y["boxes"][k, m:] == -1) and np.all(y["classes"][k, m:] == -1)


def test_formats_letterbox_and_fixed_max_boxes(bccd):
    kw = dict(data_dir=bccd, batch_size=2, shuffle=False, cache=False, max_boxes=40)
    _, yx = next(iter(voc("test", image_size=(480, 480), resize_mode="letterbox", **kw)))
    _, yr = next(iter(voc("test", image_size=(480, 480), resize_mode="letterbox", bounding_box_format="rel_yxyx", **kw)))
    assert yx["boxes"].shape == (2, 40, 4)
    idx = read_voc_index(bccd, "test")
    m = len(idx.classes[0])
    # 640x480 letterboxed into 480x480: scale 0.75, 60 px bands top and bottom.
    expect = idx.boxes[0] * 0.75 + [0, 60, 0, 60]
    np.testing.assert_allclose(yx["boxes"][0, :m], expect, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(yr["boxes"][0, :m], expect[:, [1, 0, 3, 2]] / 480, rtol=1e-5, atol=1e-5)
    assert np.all(yr["boxes"][0, m:] == -1)


def test_voc_augment_is_seeded_and_keeps_labels_with_boxes(bccd):
    kw = dict(data_dir=bccd, batch_size=2, image_size=128, augment="voc", seed=3, cache=False, shuffle=False)
    a = [(x.numpy(), y) for x, y in voc("test", **kw).take(2)]
    b = [(x.numpy(), y) for x, y in voc("test", **kw).take(2)]
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_allclose(ya["boxes"], yb["boxes"])
    c = [x.numpy() for x, _ in voc("test", **dict(kw, seed=4)).take(1)]
    assert not np.array_equal(c[0], a[0][0])
    y = a[0][1]
    valid = y["classes"].numpy() >= 0
    boxes = y["boxes"].numpy()[valid]
    assert np.all(boxes >= 0) and np.all(boxes <= 128)
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    # Boxes and their classes/difficult flags stay paired (padding in the same slots).
    np.testing.assert_array_equal(valid, y["difficult"].numpy() >= 0)


def test_missing_folder_and_split_name_the_expected_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*Annotations.*BCCD_Dataset"):
        voc("train", data_dir=tmp_path / "nope")
    make_voc(tmp_path, {"a": (32, 32, [("cat", (2, 2, 20, 20), 0)])})
    with pytest.raises(FileNotFoundError, match=r"ImageSets/Main/test\.txt.*available splits: \['train'\]"):
        voc("test", data_dir=tmp_path)


def test_malformed_xml_names_file_and_line(tmp_path):
    make_voc(tmp_path, {"a": (32, 32, [("cat", (2, 2, 20, 20), 0)])})
    p = tmp_path / "Annotations" / "a.xml"
    p.write_text(p.read_text().replace("</xmax>", "</xmaxx>"))
    with pytest.raises(ValueError, match=r"a\.xml, line 6"):
        voc("train", data_dir=tmp_path)
    p.write_text(p.read_text().replace("<xmax>20</xmaxx>", "<xmax>twenty</xmax>"))
    with pytest.raises(ValueError, match=r"a\.xml, line 6: <xmax> should be a number.*'twenty'"):
        read_voc_index(tmp_path, "train")


def test_corrupt_images_skipped_boxes_clipped_empty_images_kept(tmp_path, caplog):
    make_voc(
        tmp_path,
        {
            "a": (40, 60, [("dog", (50, 30, 70, 50), 0), ("cat", (1, 1, 10, 10), 1)]),
            "b": (40, 60, []),
            "c": (40, 60, [("cat", (1, 1, 10, 10), 0)]),
        },
    )
    (tmp_path / "JPEGImages" / "c.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): c\.jpg"):
        ds, idx = voc("train", data_dir=tmp_path, batch_size=4, image_size=(40, 60), shuffle=False, with_info=True)
    assert idx.class_names == VOC_CLASSES
    assert idx.clipped_boxes == 1 and len(idx.skipped_images) == 1
    np.testing.assert_allclose(idx.boxes[0][0], [49, 29, 60, 40])
    batches = list(ds)
    assert len(batches) == 1
    x, y = batches[0]
    assert x.shape[0] == 2  # the corrupt image is gone, the empty one kept
    assert y["classes"].numpy().tolist() == [[VOC_CLASSES.index("dog"), VOC_CLASSES.index("cat")], [-1, -1]]
    assert y["difficult"].numpy().tolist() == [[0, 1], [-1, -1]]


def test_unknown_class_and_bad_arguments(tmp_path):
    make_voc(tmp_path, {"a": (32, 32, [("cat", (2, 2, 20, 20), 0)])})
    with pytest.raises(ValueError, match=r"a\.xml, line 4: unknown class 'cat'"):
        read_voc_index(tmp_path, "train", class_names=["dog"])
    with pytest.raises(ValueError, match="bounding_box_format"):
        voc("train", data_dir=tmp_path, bounding_box_format="xyzw")
    with pytest.raises(ValueError, match="normalization"):
        voc("train", data_dir=tmp_path, normalization="imagenet")
    with pytest.raises(ValueError, match="augment"):
        voc("train", data_dir=tmp_path, augment="cifar")


def test_augmentation_that_drops_all_boxes_warns(tmp_path):
    import albumentations as A

    make_voc(tmp_path, {"a": (64, 64, [("cat", (40, 40, 60, 60), 0)])})
    crop = A.Compose(
        [A.Crop(x_min=0, y_min=0, x_max=32, y_max=32)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["object_index"], min_visibility=0.3),
    )
    ds = voc("train", data_dir=tmp_path, batch_size=1, image_size=32, augment=crop, seed=0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        x, y = next(iter(ds))
    assert any("dropped all 1 boxes of image 'a'" in str(w.message) for w in rec)
    assert x.shape == (1, 32, 32, 3) and y["classes"].shape[1] == 0


def test_tfds_voc_source_with_mock_data():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def as_dataset(self, split, **kwargs):
        image = np.zeros((100, 200, 3), np.uint8)
        # TFDS stores VOC boxes as (ymin/h, xmin/w, ymax/h, xmax/w) of the 1-based XML values.
        ex = {
            "image": image,
            "image/filename": "000001.jpg",
            "objects": {
                "bbox": np.array([[11 / 100, 21 / 200, 50 / 100, 120 / 200]], np.float32),
                "label": np.array([14], np.int64),
                "is_difficult": np.array([True]),
            },
        }
        return tf.data.Dataset.from_tensors(ex).repeat(3)

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        ds, info = voc("train", source="voc/2007", batch_size=2, image_size=(100, 200), with_info=True, shuffle=False)
        x, y = next(iter(ds))
    assert info["class_names"][14] == "person"
    assert x.shape == (2, 100, 200, 3)
    # Same boxes as the folder loader gives for <xmin>21 <ymin>11 <xmax>120 <ymax>50.
    np.testing.assert_allclose(y["boxes"][0, 0], [20, 10, 120, 50], rtol=1e-5)
    assert y["classes"][0, 0] == 14 and y["difficult"][0, 0] == 1


def test_tfds_voc_mock_random_examples():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        ds = voc("validation", source="voc/2012", batch_size=2, image_size=64, max_boxes=56)
        shapes = [(x.shape, y["boxes"].shape) for x, y in ds]
    assert shapes[0] == ((2, 64, 64, 3), (2, 56, 4))
