"""COCO detection pipelines: TFDS ``coco/2017`` or a COCO JSON file plus an image folder.

COCO boxes are ``[x, y, width, height]`` in continuous 0-based pixels, so they map
to astrozoo's ``xyxy`` corners without any shift. Category ids (1..90 for COCO,
with gaps) become contiguous class indices ``0..K-1`` in increasing id order;
``info.category_ids[k]`` gives the original id of class ``k``. Crowd annotations
(``iscrowd=1``) are kept and flagged in the ``"difficult"`` target, so that
:func:`astrozoo.evaluation.voc_map` / ``coco_map`` ignore them (``include_crowd=False``
leaves them out).
"""

import json
import os
import pathlib

import numpy as np

from astrozoo.datasets import _detection

COCO_DOWNLOAD = (
    "COCO 2017: https://cocodataset.org/#download (train2017.zip, val2017.zip, "
    "annotations_trainval2017.zip), or use source='coco/2017' to let tensorflow-datasets download it"
)


def _load_json(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The COCO annotation file {path} does not exist ({COCO_DOWNLOAD}).")
    text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"Malformed JSON in {path}, line {e.lineno}, column {e.colno}: {e.msg}.") from None


def read_coco_index(annotation_file, image_dir, include_crowd=True, check_images=True):
    """Index a COCO JSON file (``instances_*.json`` layout) and its image folder.

    Args:
        annotation_file: the JSON file with ``images``, ``annotations`` and ``categories``.
        image_dir: the folder holding the ``file_name`` of every image record.
        include_crowd: keep ``iscrowd`` annotations (flagged difficult) or leave them out.
        check_images: look at every image file and skip (and count) unreadable ones.

    Returns:
        A :class:`~astrozoo.datasets._detection.DetectionIndex` with the extra attribute
        ``category_ids`` (original COCO id of each class).

    Raises:
        FileNotFoundError: a missing JSON file or image folder (with where to download COCO).
        ValueError: malformed JSON (file, line, column) or malformed records (file and record).
    """
    annotation_file = pathlib.Path(annotation_file)
    image_dir = pathlib.Path(image_dir)
    data = _load_json(annotation_file)
    if not image_dir.is_dir():
        raise FileNotFoundError(
            f"The COCO image folder {image_dir} does not exist: it should hold the files named in "
            f"{annotation_file.name} ({COCO_DOWNLOAD})."
        )
    if not isinstance(data, dict):
        raise ValueError(f"{annotation_file}: expected a JSON object at the top level, found {type(data).__name__}.")
    for key in ("images", "annotations", "categories"):
        if key not in data or not isinstance(data[key], list):
            raise ValueError(f"{annotation_file}: the COCO file has no {key!r} list.")
    try:
        categories = sorted(data["categories"], key=lambda c: int(c["id"]))
        category_ids = [int(c["id"]) for c in categories]
        class_names = tuple(str(c.get("name", c["id"])) for c in categories)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{annotation_file}: a 'categories' record lacks a valid 'id' ({e!r}).") from None
    lookup = {cid: k for k, cid in enumerate(category_ids)}

    per_image = {}
    for n, ann in enumerate(data["annotations"]):
        where = f"{annotation_file}: annotations[{n}] (id {ann.get('id') if isinstance(ann, dict) else '?'})"
        try:
            bbox = [float(v) for v in ann["bbox"]]
            image_id = ann["image_id"]
            cid = int(ann["category_id"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where} should have 'image_id', 'category_id' and a numeric 'bbox'.") from None
        if len(bbox) != 4:
            raise ValueError(f"{where}: 'bbox' should be [x, y, width, height]. Received: {ann['bbox']!r}")
        if cid not in lookup:
            raise ValueError(f"{where}: category_id {cid} is not in 'categories' ({category_ids}).")
        crowd = bool(ann.get("iscrowd", 0))
        if crowd and not include_crowd:
            continue
        per_image.setdefault(image_id, []).append((bbox, lookup[cid], crowd))

    index = _detection.DetectionIndex([], [], [], [], [], class_names, [])
    index.category_ids = category_ids
    for n, img in enumerate(data["images"]):
        try:
            image_id, file_name = img["id"], img["file_name"]
        except (KeyError, TypeError):
            raise ValueError(f"{annotation_file}: images[{n}] should have 'id' and 'file_name'.") from None
        path = image_dir / file_name
        if check_images:
            problem = _detection.image_problem(path)
            if problem is not None:
                index.skipped_images.append((str(path), problem))
                continue
        height, width = img.get("height"), img.get("width")
        if not height or not width:
            from PIL import Image

            with Image.open(path) as im:
                width, height = im.size
        objs = per_image.get(image_id, [])
        boxes = [[x, y, x + w, y + h] for (x, y, w, h), _, _ in objs]
        boxes, n_clipped, keep = _detection.clip_boxes(boxes, height, width)
        index.clipped_boxes += n_clipped
        index.dropped_boxes += int(np.sum(~keep))
        index.image_paths.append(str(path))
        index.boxes.append(boxes[keep])
        index.classes.append(np.asarray([c for _, c, _ in objs], np.int32).reshape(-1)[keep])
        index.difficult.append(np.asarray([d for _, _, d in objs], bool).reshape(-1)[keep])
        index.image_sizes.append((int(height), int(width)))
        index.ids.append(image_id)
    return index


def _tfds_coco(name, split, data_dir, download, include_crowd):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if download:
        builder.download_and_prepare()
    ds = builder.as_dataset(split=split, shuffle_files=False)
    class_names = tuple(builder.info.features["objects"]["label"].names)
    n = builder.info.splits[split].num_examples if split in builder.info.splits else None

    def convert(e):
        image = e["image"]
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        h, w = shape[0], shape[1]
        rel = tf.reshape(tf.cast(e["objects"]["bbox"], tf.float32), [-1, 4])  # rel_yxyx
        boxes = tf.stack([rel[:, 1] * w, rel[:, 0] * h, rel[:, 3] * w, rel[:, 2] * h], axis=1)
        classes = tf.cast(e["objects"]["label"], tf.int32)
        crowd = tf.cast(e["objects"]["is_crowd"], tf.bool)
        if not include_crowd:
            keep = tf.logical_not(crowd)
            boxes, classes, crowd = tf.boolean_mask(boxes, keep), tf.boolean_mask(classes, keep), tf.boolean_mask(crowd, keep)
        return {
            "image": image,
            "id": tf.strings.as_string(e["image/id"]),
            "boxes": boxes,
            "classes": classes,
            "difficult": crowd,
        }

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True), class_names, n


def coco(
    split="train",
    *,
    source=None,
    annotation_file=None,
    image_dir=None,
    data_dir=None,
    batch_size=8,
    image_size=(416, 416),
    resize_mode="stretch",
    augment=None,
    shuffle=None,
    seed=None,
    cache=True,
    bounding_box_format="xyxy",
    normalization="cianna",
    max_boxes=None,
    include_crowd=True,
    with_difficult=True,
    with_info=False,
    download=False,
):
    """A COCO detection pipeline as a batched ``tf.data.Dataset``.

    Elements are ``(images, {"boxes", "classes", "difficult"})`` as in
    :func:`astrozoo.datasets.voc` (padded with -1; ``difficult`` holds the crowd flags).

    Args:
        split: TFDS split (``"train"``, ``"validation"``, ``"train[:1%]"``...); for a JSON
            source, used only to pick the default shuffle (training splits shuffle).
        source: ``"coco/2017"`` (or ``"coco/2014"``) for tensorflow-datasets; default:
            the JSON file ``annotation_file`` with images in ``image_dir``.
        annotation_file: COCO ``instances_*.json``. With only ``data_dir`` given, the
            files ``annotations/instances_<split>2017.json`` and ``<split>2017/`` inside it are used.
        image_dir: folder of the images named in the JSON file.
        data_dir: COCO root folder (JSON source) or TFDS data directory (TFDS source).
        batch_size, image_size, resize_mode, augment, shuffle, seed, cache,
        bounding_box_format, normalization, max_boxes, with_difficult, with_info:
            as in :func:`astrozoo.datasets.voc`. For augmentation, the ``"voc"`` preset
            works on COCO too (CIANNA's COCO recipe is the VOC one with larger translations).
        include_crowd: keep crowd regions (flagged difficult, so ignored by the metrics).
        download: for TFDS sources, download and prepare the dataset if needed.

    Returns:
        The ``tf.data.Dataset``, or ``(dataset, info)`` with ``with_info=True`` (the
        :class:`DetectionIndex` for a JSON source, a dict for TFDS).
    """
    image_size = _detection.check_common_args(
        split, batch_size, image_size, bounding_box_format, normalization, max_boxes
    )
    if resize_mode not in ("stretch", "letterbox"):
        raise ValueError(f"`resize_mode` should be 'stretch' or 'letterbox'. Received: resize_mode={resize_mode!r}")
    if batch_size is not None and image_size is None and not augment:
        raise ValueError("`image_size=None` keeps each image's own size, so it needs `batch_size=None`.")
    training = split.startswith("train")
    if isinstance(source, str) and source.startswith("coco"):
        name = "coco/2017" if source == "coco" else source
        base, names, n = _tfds_coco(name, split, data_dir, download, include_crowd)
        info = {"class_names": names, "source": name, "num_examples": n}
    else:
        if annotation_file is None:
            if data_dir is None:
                raise ValueError(
                    "Give `annotation_file` and `image_dir` (COCO JSON + images), `data_dir` (a COCO root "
                    f"folder) or `source='coco/2017'` (tensorflow-datasets). {COCO_DOWNLOAD}."
                )
            root = pathlib.Path(data_dir)
            annotation_file = root / "annotations" / f"instances_{split}2017.json"
            image_dir = image_dir or root / f"{split}2017"
        if image_dir is None:
            raise ValueError("`image_dir` (the folder of the images named in the JSON file) is required.")
        index = read_coco_index(annotation_file, image_dir, include_crowd=include_crowd)
        _detection.report_index(index, f"coco({os.fspath(annotation_file)})")
        base = _detection.index_to_dataset(index)
        info, n = index, len(index)
    ds = _detection.build_pipeline(
        base,
        training=training,
        batch_size=batch_size,
        image_size=image_size,
        resize_mode=resize_mode,
        augment=augment,
        shuffle=shuffle,
        seed=seed,
        cache=cache,
        bounding_box_format=bounding_box_format,
        normalization=normalization,
        max_boxes=max_boxes,
        with_difficult=with_difficult,
        num_examples=n,
    )
    return (ds, info) if with_info else ds
