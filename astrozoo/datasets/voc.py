"""PASCAL VOC detection pipelines: TFDS ``voc/2007`` / ``voc/2012`` or a VOCdevkit-style folder.

A VOCdevkit-style folder holds ``Annotations/<id>.xml``, ``JPEGImages/<id>.jpg``
and ``ImageSets/Main/<split>.txt`` (one image id per line). BCCD, the blood-cell
set in ``../shared/data/bccd/BCCD``, has this layout.

Box convention. VOC XML boxes are 1-based inclusive pixel indices: a box with
``xmin=1, xmax=640`` covers every column of a 640 px wide image. astrozoo uses
continuous 0-based corners (the image spans ``[0, width] x [0, height]``), so a
box covering pixels ``xmin..xmax`` becomes ``[xmin - 1, xmax]`` (and the same in
y). TFDS stores VOC boxes as ``xmin / width`` (no shift), so for the TFDS source
the min corners are moved one pixel back to give the same boxes as the folder.
"""

import os
import pathlib
import xml.parsers.expat

import numpy as np

from astrozoo.datasets import _detection

#: The 20 PASCAL VOC classes, in the TFDS / devkit order (index = class id).
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

VOC_DOWNLOAD = (
    "PASCAL VOC: http://host.robots.ox.ac.uk/pascal/VOC/ (VOCtrainval_06-Nov-2007.tar, "
    "VOCtest_06-Nov-2007.tar, VOCtrainval_11-May-2012.tar), or use source='voc/2007' to let "
    "tensorflow-datasets download it"
)
BCCD_DOWNLOAD = "BCCD: https://github.com/Shenggan/BCCD_Dataset (folder BCCD/)"


class _Node:
    __slots__ = ("tag", "line", "children", "text")

    def __init__(self, tag, line):
        self.tag, self.line, self.children, self.text = tag, line, [], ""

    def find(self, tag):
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def findall(self, tag):
        return [c for c in self.children if c.tag == tag]


def _parse_xml_with_lines(path):
    """Parse an XML file into ``_Node``s that remember their line numbers."""
    data = pathlib.Path(path).read_bytes()
    parser = xml.parsers.expat.ParserCreate()
    root_holder, stack = [], []

    def start(tag, attrs):
        node = _Node(tag, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root_holder.append(node)
        stack.append(node)

    def end(tag):
        stack.pop()

    def chars(text):
        if stack:
            stack[-1].text += text

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise ValueError(
            f"Malformed XML in {path}, line {e.lineno}, column {e.offset}: "
            f"{xml.parsers.expat.ErrorString(e.code)}."
        ) from None
    return root_holder[0]


def _field(node, tag, path, convert=str, default=None):
    child = node.find(tag)
    if child is None or not child.text.strip():
        if default is not None:
            return default
        raise ValueError(f"{path}, line {node.line}: <{node.tag}> has no <{tag}> value.")
    text = child.text.strip()
    try:
        return convert(text)
    except ValueError:
        raise ValueError(
            f"{path}, line {child.line}: <{tag}> should be a number. Received: {text!r}"
        ) from None


def parse_voc_xml(path):
    """Read one VOC annotation file.

    Args:
        path: the ``.xml`` file.

    Returns:
        A dict with ``filename``, ``height``, ``width`` (``None`` when the file has no
        ``<size>``), and ``objects``: a list of dicts with ``name``, ``bbox`` (the raw
        1-based ``xmin, ymin, xmax, ymax`` of the file), ``difficult`` (bool),
        ``truncated`` (bool) and ``line`` (where the object starts in the file).

    Raises:
        ValueError: naming the file and line of malformed XML or a missing/non-numeric field.
    """
    root = _parse_xml_with_lines(path)
    if root.tag != "annotation":
        raise ValueError(f"{path}, line {root.line}: expected an <annotation> root element, found <{root.tag}>.")
    size = root.find("size")
    height = width = None
    if size is not None:
        width = _field(size, "width", path, lambda s: int(float(s)), default=0) or None
        height = _field(size, "height", path, lambda s: int(float(s)), default=0) or None
    objects = []
    for obj in root.findall("object"):
        name = _field(obj, "name", path).strip()
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise ValueError(f"{path}, line {obj.line}: <object> {name!r} has no <bndbox>.")
        bbox = [_field(bndbox, k, path, float) for k in ("xmin", "ymin", "xmax", "ymax")]
        difficult = bool(_field(obj, "difficult", path, lambda s: int(float(s)), default=-1) > 0)
        truncated = bool(_field(obj, "truncated", path, lambda s: int(float(s)), default=-1) > 0)
        objects.append(
            {"name": name, "bbox": bbox, "difficult": difficult, "truncated": truncated, "line": obj.line}
        )
    filename = root.find("filename")
    return {
        "filename": filename.text.strip() if filename is not None else None,
        "height": height,
        "width": width,
        "objects": objects,
    }


def _read_split_ids(root, split):
    splits_dir = root / "ImageSets" / "Main"
    split_file = splits_dir / f"{split}.txt"
    if not split_file.is_file():
        available = sorted(p.stem for p in splits_dir.glob("*.txt") if "_" not in p.stem) if splits_dir.is_dir() else []
        raise FileNotFoundError(
            f"The split list {split_file} does not exist"
            + (f"; available splits: {available}" if available else "")
            + f". A VOCdevkit-style folder needs ImageSets/Main/<split>.txt ({VOC_DOWNLOAD}; {BCCD_DOWNLOAD})."
        )
    ids = []
    for line in split_file.read_text().splitlines():
        line = line.strip()
        if line:
            # Per-class lists ("<id> 1") share the file format; keep the id.
            ids.append(line.split()[0])
    return ids


def _check_voc_root(root):
    root = pathlib.Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"The VOC folder {root} does not exist. Expected a VOCdevkit-style folder with "
            f"Annotations/, JPEGImages/ and ImageSets/Main/ ({VOC_DOWNLOAD}; {BCCD_DOWNLOAD})."
        )
    for sub in ("Annotations", "JPEGImages"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(
                f"{root / sub} does not exist: {root} is not a VOCdevkit-style folder (it needs "
                f"Annotations/, JPEGImages/ and ImageSets/Main/; {VOC_DOWNLOAD}; {BCCD_DOWNLOAD})."
            )
    return root


_CLASS_NAMES_CACHE = {}


def voc_class_names(data_dir):
    """Class names of a VOC-style folder: the 20 VOC classes when every object name is one
    of them, else the sorted object names found in all of ``Annotations/*.xml``."""
    root = _check_voc_root(data_dir).resolve()
    ann = root / "Annotations"
    # The scan reads every annotation; remember it while the folder is unchanged.
    key = (str(root), ann.stat().st_mtime_ns)
    if key not in _CLASS_NAMES_CACHE:
        names = set()
        for xml_path in sorted(ann.glob("*.xml")):
            names.update(o["name"] for o in parse_voc_xml(xml_path)["objects"])
        _CLASS_NAMES_CACHE[key] = VOC_CLASSES if names <= set(VOC_CLASSES) else tuple(sorted(names))
    return _CLASS_NAMES_CACHE[key]


def read_voc_index(data_dir, split="train", class_names=None, check_images=True):
    """Index one split of a VOCdevkit-style folder (annotations parsed, no image decoded).

    Args:
        data_dir: the folder holding ``Annotations/``, ``JPEGImages/`` and ``ImageSets/Main/``.
        split: the name of a list in ``ImageSets/Main`` (``train``, ``val``, ``trainval``, ``test``).
        class_names: the class list (index = class id); default: :func:`voc_class_names`.
        check_images: look at every image file and skip (and count) unreadable ones.

    Returns:
        A :class:`~astrozoo.datasets._detection.DetectionIndex`. Boxes are clipped to the
        image (and counted); images without objects are kept.
    """
    root = _check_voc_root(data_dir)
    ids = _read_split_ids(root, split)
    if class_names is None:
        class_names = voc_class_names(root)
    class_names = tuple(class_names)
    lookup = {n: i for i, n in enumerate(class_names)}
    index = _detection.DetectionIndex([], [], [], [], [], class_names, [])
    for image_id in ids:
        xml_path = root / "Annotations" / f"{image_id}.xml"
        if not xml_path.is_file():
            raise FileNotFoundError(
                f"The annotation {xml_path} listed in ImageSets/Main/{split}.txt does not exist "
                f"({VOC_DOWNLOAD}; {BCCD_DOWNLOAD})."
            )
        ann = parse_voc_xml(xml_path)
        image_path = root / "JPEGImages" / (ann["filename"] or f"{image_id}.jpg")
        if not image_path.is_file():
            image_path = root / "JPEGImages" / f"{image_id}.jpg"
        if check_images:
            problem = _detection.image_problem(image_path)
            if problem is not None:
                index.skipped_images.append((str(image_path), problem))
                continue
        height, width = ann["height"], ann["width"]
        if height is None or width is None:
            from PIL import Image

            with Image.open(image_path) as im:
                width, height = im.size
        boxes, classes, difficult = [], [], []
        for obj in ann["objects"]:
            if obj["name"] not in lookup:
                raise ValueError(
                    f"{xml_path}, line {obj['line']}: unknown class {obj['name']!r}; expected one of "
                    f"{class_names}."
                )
            xmin, ymin, xmax, ymax = obj["bbox"]
            # 1-based inclusive pixel indices -> continuous 0-based corners.
            boxes.append([xmin - 1.0, ymin - 1.0, xmax, ymax])
            classes.append(lookup[obj["name"]])
            difficult.append(obj["difficult"])
        boxes, n_clipped, keep = _detection.clip_boxes(boxes, height, width)
        index.clipped_boxes += n_clipped
        index.dropped_boxes += int(np.sum(~keep))
        index.image_paths.append(str(image_path))
        index.boxes.append(boxes[keep])
        index.classes.append(np.asarray(classes, np.int32).reshape(-1)[keep])
        index.difficult.append(np.asarray(difficult, bool).reshape(-1)[keep])
        index.image_sizes.append((int(height), int(width)))
        index.ids.append(image_id)
    return index


def _is_tfds_name(source):
    return isinstance(source, str) and source.startswith(("voc/", "voc:")) or source == "voc"


def _tfds_voc(name, split, data_dir, download):
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
        # TFDS stores xmin/width with 1-based xmin: shift min corners one pixel back.
        boxes = tf.stack(
            [
                tf.maximum(rel[:, 1] * w - 1.0, 0.0),
                tf.maximum(rel[:, 0] * h - 1.0, 0.0),
                rel[:, 3] * w,
                rel[:, 2] * h,
            ],
            axis=1,
        )
        return {
            "image": image,
            "id": e["image/filename"],
            "boxes": boxes,
            "classes": tf.cast(e["objects"]["label"], tf.int32),
            "difficult": tf.cast(e["objects"]["is_difficult"], tf.bool),
        }

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True), class_names, n


def voc(
    split="train",
    *,
    source=None,
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
    class_names=None,
    with_difficult=True,
    with_info=False,
    download=False,
):
    """A PASCAL VOC-style detection pipeline as a batched ``tf.data.Dataset``.

    Each element is ``(images, {"boxes", "classes", "difficult"})``: images
    ``(batch, height, width, 3)`` float32 normalised, boxes ``(batch, max_boxes, 4)``
    in ``bounding_box_format`` (pixels of the output image, or relative for
    ``rel_*`` formats), classes and difficult flags ``(batch, max_boxes)``; every
    padded slot is -1. Images without objects are kept (all slots -1).

    Args:
        split: ``train``, ``val``, ``trainval`` or ``test`` (folder: any list in
            ``ImageSets/Main``; TFDS: any TFDS split string such as ``"train[:10%]"``).
        source: ``"voc/2007"`` or ``"voc/2012"`` (tensorflow-datasets), or a
            VOCdevkit-style folder (``Annotations/*.xml``, ``JPEGImages/``,
            ``ImageSets/Main/*.txt``). Default: the folder ``data_dir``.
        data_dir: the VOCdevkit-style folder (when ``source`` is None) or the TFDS data
            directory (for a ``voc/...`` source).
        batch_size: images per batch; ``None`` gives unbatched, unpadded examples.
        image_size: ``(height, width)`` of the output images (int for square).
            ``None`` keeps the original size (requires ``batch_size=None`` or equal sizes).
        resize_mode: ``"stretch"`` (as CIANNA's final ``Resize``) or ``"letterbox"``
            (aspect kept, zero padding). Ignored when an augmentation pipeline resizes.
        augment: ``None``/``False``; ``"voc"`` or ``True`` for the CIANNA VOC preset
            (:func:`astrozoo.datasets.detection_augment.voc_detection_preset`); or an
            ``albumentations.Compose`` with ``bbox_params`` in ``pascal_voc`` format.
            Applied after the cache, seeded by ``seed``.
        shuffle: shuffle the examples each epoch; default: True for training splits.
        seed: seed of the shuffle and the augmentations (``None``: not reproducible).
        cache: ``True`` (memory), a file path prefix (disk), or ``False``.
        bounding_box_format: output box format (``"xyxy"``, ``"yxyx"``, ``"xywh"``,
            ``"center_xywh"``, ``"rel_yxyx"``, ...; see ``keras.utils.bounding_boxes``).
        normalization: ``"cianna"`` (``(x - 100) / 155``, what darknet19 / yolo_cianna
            CIANNA weights expect), ``"unit"`` (``x / 255``) or ``None`` (0..255 floats).
        max_boxes: pad (and truncate) every image to this many boxes (56 in CIANNA's VOC
            setup); default: pad to the largest count of each batch.
        class_names: class list (index = class id) for a folder; default: the 20 VOC
            classes, or the sorted names found in the folder's annotations.
        with_difficult: include the ``"difficult"`` flags (1.0/0.0) in the targets.
        with_info: also return the :class:`DetectionIndex` (folder) or a dict with
            ``class_names`` (TFDS).
        download: for TFDS sources, download and prepare the dataset if needed.

    Returns:
        The ``tf.data.Dataset``, or ``(dataset, info)`` with ``with_info=True``.

    Raises:
        FileNotFoundError: a missing folder/list/annotation, with where to download VOC/BCCD.
        ValueError: malformed XML (file and line), unknown classes, bad arguments.
    """
    image_size = _detection.check_common_args(
        split, batch_size, image_size, bounding_box_format, normalization, max_boxes
    )
    if resize_mode not in ("stretch", "letterbox"):
        raise ValueError(f"`resize_mode` should be 'stretch' or 'letterbox'. Received: resize_mode={resize_mode!r}")
    if batch_size is not None and image_size is None and not augment:
        raise ValueError("`image_size=None` keeps each image's own size, so it needs `batch_size=None`.")
    training = split.startswith("train")
    if source is not None and _is_tfds_name(str(source)):
        name = "voc/2007" if source == "voc" else str(source).replace(":", "/")
        base, names, n = _tfds_voc(name, split, data_dir, download)
        info = {"class_names": names, "source": name, "num_examples": n}
    else:
        folder = source if source is not None else data_dir
        if folder is None:
            raise ValueError(
                "Give `data_dir` (a VOCdevkit-style folder) or `source='voc/2007'`/`'voc/2012'` "
                f"(tensorflow-datasets). {VOC_DOWNLOAD}; {BCCD_DOWNLOAD}."
            )
        index = read_voc_index(folder, split, class_names=class_names)
        _detection.report_index(index, f"voc({os.fspath(folder)!s}, split={split!r})")
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
