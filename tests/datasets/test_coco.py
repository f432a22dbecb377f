import json

import numpy as np
import pytest

from astrozoo.datasets import coco, parse_voc_xml, read_coco_index, read_voc_index


@pytest.fixture(autouse=True, scope="module")
def _freeze_gc():
    # See tests/datasets/test_voc.py: keeps the shared clear_session teardown cheap.
    import gc

    import keras  # noqa: F401

    gc.collect()
    gc.freeze()
    yield


def bccd_as_coco(bccd, tmp_path, split="test", limit=6):
    """Write BCCD's annotations as a COCO JSON file (category ids 7, 3, 5: not contiguous)."""
    ids = (bccd / "ImageSets" / "Main" / f"{split}.txt").read_text().split()[:limit]
    cat_ids = {"Platelets": 7, "RBC": 3, "WBC": 5}
    images, anns = [], []
    for n, image_id in enumerate(ids):
        ann = parse_voc_xml(bccd / "Annotations" / f"{image_id}.xml")
        images.append({"id": 100 + n, "file_name": f"{image_id}.jpg", "width": ann["width"], "height": ann["height"]})
        for o in ann["objects"]:
            x1, y1, x2, y2 = o["bbox"]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": 100 + n,
                    "category_id": cat_ids[o["name"]],
                    "bbox": [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1],
                    "iscrowd": 0,
                }
            )
    cats = [{"id": i, "name": name} for name, i in cat_ids.items()]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}, indent=1))
    return path, ids


def test_coco_json_on_bccd_matches_the_voc_loader(shared_data, tmp_path):
    bccd = shared_data / "bccd" / "BCCD"
    path, ids = bccd_as_coco(bccd, tmp_path)
    idx = read_coco_index(path, bccd / "JPEGImages")
    assert idx.class_names == ("RBC", "WBC", "Platelets") and idx.category_ids == [3, 5, 7]
    ref = read_voc_index(bccd, "test")
    remap = {ref.class_names.index(n): k for k, n in enumerate(idx.class_names)}
    for k in range(len(ids)):
        np.testing.assert_allclose(idx.boxes[k], ref.boxes[k], atol=1e-4)
        assert [remap[c] for c in ref.classes[k]] == idx.classes[k].tolist()
    ds = coco("val", annotation_file=path, image_dir=bccd / "JPEGImages", batch_size=3, image_size=(240, 320))
    x, y = next(iter(ds))
    assert x.shape == (3, 240, 320, 3)
    m = len(idx.classes[0])
    np.testing.assert_allclose(y["boxes"][0, :m], idx.boxes[0] / 2, rtol=1e-5)


def test_coco_errors(shared_data, tmp_path):
    bccd = shared_data / "bccd" / "BCCD"
    with pytest.raises(FileNotFoundError, match="instances.json does not exist.*cocodataset.org"):
        read_coco_index(tmp_path / "instances.json", bccd / "JPEGImages")
    path, _ = bccd_as_coco(bccd, tmp_path, limit=2)
    with pytest.raises(FileNotFoundError, match="image folder .*nope does not exist"):
        read_coco_index(path, tmp_path / "nope")
    text = path.read_text()
    bad = tmp_path / "bad.json"
    lines = text.splitlines()
    lines[9] = lines[9] + ","  # a trailing comma on line 10 is a syntax error
    bad.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"bad\.json, line 1[01], column"):
        read_coco_index(bad, bccd / "JPEGImages")
    data = json.loads(text)
    data["annotations"][0]["bbox"] = [1, 2, 3]
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"annotations\[0\] \(id 1\): 'bbox' should be \[x, y, width, height\]"):
        read_coco_index(bad, bccd / "JPEGImages")


def test_coco_clipping_crowd_and_empty_images(shared_data, tmp_path):
    bccd = shared_data / "bccd" / "BCCD"
    path, _ = bccd_as_coco(bccd, tmp_path, limit=2)
    data = json.loads(path.read_text())
    first = [a for a in data["annotations"] if a["image_id"] == 100]
    first[0]["bbox"] = [600.0, 400.0, 100.0, 100.0]  # reaches outside the 640x480 image
    first[1]["iscrowd"] = 1
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == 100]  # image 101 has none left
    path.write_text(json.dumps(data))
    idx = read_coco_index(path, bccd / "JPEGImages")
    assert idx.clipped_boxes == 1 and len(idx) == 2 and len(idx.classes[1]) == 0
    np.testing.assert_allclose(idx.boxes[0][0], [600, 400, 640, 480])
    assert idx.difficult[0][:2].tolist() == [False, True]
    no_crowd = read_coco_index(path, bccd / "JPEGImages", include_crowd=False)
    assert len(no_crowd.classes[0]) == len(idx.classes[0]) - 1


def test_tfds_coco_source_with_mock_data():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def as_dataset(self, split, **kwargs):
        ex = {
            "image": np.zeros((100, 200, 3), np.uint8),
            "image/filename": "x.jpg",
            "image/id": np.int64(42),
            "objects": {
                "bbox": np.array([[0.1, 0.1, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]], np.float32),
                "label": np.array([0, 3], np.int64),
                "is_crowd": np.array([False, True]),
                "area": np.array([1, 1], np.int64),
                "id": np.array([1, 2], np.int64),
            },
        }
        return tf.data.Dataset.from_tensors(ex).repeat(2)

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        ds, info = coco("validation", source="coco/2017", batch_size=2, image_size=(100, 200), with_info=True)
        _, y = next(iter(ds))
        _, y2 = next(iter(coco("validation", source="coco/2017", batch_size=2, image_size=(100, 200), include_crowd=False)))
    assert len(info["class_names"]) == 80
    np.testing.assert_allclose(y["boxes"][0, 0], [20, 10, 120, 50], rtol=1e-5)
    assert y["classes"][0].numpy().tolist() == [0, 3] and y["difficult"][0].numpy().tolist() == [0, 1]
    assert y2["classes"].shape == (2, 1)
