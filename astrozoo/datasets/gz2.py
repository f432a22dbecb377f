"""Galaxy Zoo: GZ2 (Hart et al. 2016 catalogue + images) and the GZ DECaLS rings npz.

:func:`gz2` joins a catalogue CSV with a folder of galaxy images (one file per
galaxy, named by its id, e.g. the Kaggle ``images_gz2`` JPEGs named by
``asset_id``). It gives one of three targets:

- ``"class"``: E / S / SB from the Hart ``gz2_class`` string with a correct
  prefix match (``"SB..."`` is SB, other ``"S..."`` is S, ``"E..."`` is E;
  ``"A"`` (artefacts) and anything else are left out);
- ``"fractions"``: the 37 vote fractions of the GZ2 decision tree (11 questions,
  t01..t11; ``fraction_kind`` picks ``debiased``, ``weighted_fraction`` or
  ``fraction``), flat or grouped by question;
- ``"counts"``: the 37 raw vote counts.

:func:`gz_rings` reads the Galaxy Zoo DECaLS ring/non-ring npz of the shared
data folder (470 galaxies, 96x96 RGB).
"""

import csv
import pathlib

import numpy as np
import tensorflow as tf

from astrozoo.datasets import _common as C
from astrozoo.datasets.registry import register_dataset

GZ2_URL = ("https://data.galaxyzoo.org (Hart et al. 2016 table 'gz2_hart16.csv') and "
           "https://zenodo.org/record/3565489 (images_gz2.zip + gz2_filename_mapping.csv)")
RINGS_URL = "github.com/mwalmsley/zoobot (data/example_images, Walmsley et al. 2022, GZ DECaLS)"
GZ2_CLASSES = ["E", "S", "SB"]

#: The GZ2 decision tree: question -> its answers, as in the Hart et al. 2016 column names.
GZ2_QUESTIONS = {
    "t01_smooth_or_features": ("a01_smooth", "a02_features_or_disk", "a03_star_or_artifact"),
    "t02_edgeon": ("a04_yes", "a05_no"),
    "t03_bar": ("a06_bar", "a07_no_bar"),
    "t04_spiral": ("a08_spiral", "a09_no_spiral"),
    "t05_bulge_prominence": ("a10_no_bulge", "a11_just_noticeable", "a12_obvious", "a13_dominant"),
    "t06_odd": ("a14_yes", "a15_no"),
    "t07_rounded": ("a16_completely_round", "a17_in_between", "a18_cigar_shaped"),
    "t08_odd_feature": ("a19_ring", "a20_lens_or_arc", "a21_disturbed", "a22_irregular", "a23_other",
                        "a24_merger", "a38_dust_lane"),
    "t09_bulge_shape": ("a25_rounded", "a26_boxy", "a27_no_bulge"),
    "t10_arms_winding": ("a28_tight", "a29_medium", "a30_loose"),
    "t11_arms_number": ("a31_1", "a32_2", "a33_3", "a34_4", "a36_more_than_4", "a37_cant_tell"),
}
FRACTION_KINDS = ("debiased", "weighted_fraction", "fraction")
TARGETS = ("class", "fractions", "counts")
_ID_COLUMNS = ("asset_id", "dr7objid", "objid", "id", "iauname")
_CLASS_COLUMNS = ("gz2_class", "class")


def gz2_columns(kind="debiased"):
    """The 37 Hart et al. 2016 column names of ``kind`` (``debiased``, ``weighted_fraction``,
    ``fraction`` or ``count``), in question order t01..t11."""
    return [f"{q}_{a}_{kind}" for q, answers in GZ2_QUESTIONS.items() for a in answers]


def gz2_class_index(hart_class):
    """0 (E), 1 (S) or 2 (SB) for a Hart ``gz2_class`` string, or -1 (artefact/other).

    SB is tested before S, so a barred spiral is never counted as S (the course's
    notebook matched "S" first and put the SB galaxies in both classes).
    """
    s = str(hart_class).strip()
    if s.startswith("SB"):
        return 2
    if s.startswith("S"):
        return 1
    if s.startswith("E"):
        return 0
    return -1


def read_catalog(path):
    """``(header, rows, line_numbers)`` of a CSV catalogue; malformed lines raise with file and line number.

    A file whose first row has a numeric first field has no header: its columns
    are named ``id`` and ``gz2_class`` (the course's ``gz2_filename_mapping_with_class.csv``).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise C.missing_file_error(path, "GZ2 catalogue", GZ2_URL)
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            first = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: the catalogue is empty.") from None
        first = [v.strip() for v in first]
        if first and first[0].lstrip("-").isdigit():
            header = ["id", "gz2_class"] + [f"col{i}" for i in range(2, len(first))]
            rows, lines = [first], [1]
        else:
            header, rows, lines = first, [], []
        if len(set(header)) != len(header):
            raise ValueError(f"{path}, line 1: duplicated column names in the header.")
        for row in reader:
            if not row or all(not v.strip() for v in row):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}, line {reader.line_num}: {len(row)} fields where the header has {len(header)}."
                )
            rows.append([v.strip() for v in row])
            lines.append(reader.line_num)
    return header, rows, lines


def _column(header, rows, name, path, lines=None, numeric=False):
    k = header.index(name)
    vals = [r[k] for r in rows]
    if not numeric:
        return vals
    out = np.empty(len(vals), np.float32)
    for i, v in enumerate(vals):
        try:
            out[i] = float(v) if v not in ("", "nan", "NaN") else np.nan
        except ValueError:
            raise ValueError(
                f"{path}, line {lines[i] if lines else i + 2}: column {name!r}: cannot parse {v!r} as a number."
            ) from None
    return out


def _find_images(image_dir, ids, extensions):
    image_dir = pathlib.Path(image_dir)
    present = {}
    for p in image_dir.iterdir():
        if p.suffix.lower() in extensions:
            present.setdefault(p.stem, str(p))
    return [present.get(str(i)) for i in ids]


@register_dataset(
    "gz2",
    task="image_classification",
    source="Galaxy Zoo 2: Hart et al. 2016 catalogue CSV + a folder of images named by id",
    licence="Galaxy Zoo data: CC BY 4.0 (cite Willett et al. 2013, Hart et al. 2016); SDSS images public",
    size="~240,000 galaxies (Hart table), 424x424 JPEGs (Kaggle/Zenodo images_gz2: 243,434 files, 3.4 GB)",
    splits=("train", "validation", "test"),
    builder="the course's GZ2 CNN / resnet18 (3 classes E/S/SB, or 37 sigmoid outputs for fractions)",
    description="E/S/SB classes, the 37 vote fractions grouped by question, or vote counts.",
    url=GZ2_URL,
    references=("Willett et al. 2013, MNRAS 435, 2835", "Hart et al. 2016, MNRAS 461, 3663"),
)
def gz2(catalog, image_dir, split="train", batch_size=32, image_size=64, target="class", augment=None,
        shuffle=None, seed=None, cache=True, fraction_kind="debiased", group_by_question=False, id_column=None,
        class_column=None, crop_fraction=None, label_mode="int", rescale="unit", val_fraction=0.05,
        test_fraction=0.05, split_seed=0, extensions=C.IMAGE_EXTENSIONS, drop_remainder=False, with_info=False):
    """Galaxy Zoo 2 images with E/S/SB classes, vote fractions or vote counts.

    Images are float32 RGB in ``[0, 1]`` resized to ``image_size`` (64 in the course).

    Args:
        catalog: the catalogue CSV (Hart et al. 2016 columns: an id column,
            ``gz2_class``, ``t01_..._a01_..._{debiased,weighted_fraction,fraction,count}``),
            or the course's two-column mapping file (id, class; no header).
        image_dir: folder of the images, each named ``<id>.<ext>``.
        split: ``"train"``, ``"validation"`` or ``"test"``: a seeded partition
            (stratified by class for ``target="class"``) of the catalogued galaxies
            that have an image, optionally sliced.
        image_size: output side (int) or ``(height, width)``.
        target: ``"class"``, ``"fractions"`` or ``"counts"`` (see the module docstring).
        fraction_kind: which vote fractions: ``"debiased"`` (default), ``"weighted_fraction"``, ``"fraction"``.
        group_by_question: with fractions/counts, give ``y`` as a dict ``{question: (n_answers,)}``
            (for a multi-output model) rather than one ``(37,)`` vector.
        id_column, class_column: catalogue column names; guessed when ``None``
            (first of asset_id, dr7objid, objid, id, iauname; gz2_class).
        crop_fraction: central crop kept before resizing (e.g. 0.5 keeps the central
            212 of 424 pixels); ``None`` keeps the whole image.
        augment: ``True`` for flips and 90-degree rotations (:func:`astrozoo.datasets.augment.gz2_preset`),
            a preset name, an Albumentations transform or a callable.
        val_fraction, test_fraction, split_seed: the partition.
        batch_size, shuffle, seed, cache, label_mode, rescale, drop_remainder,
        with_info: as in :func:`astrozoo.datasets.mnist`.

    Galaxies of the catalogue without an image are dropped and counted
    (``info["missing_images"]``); unreadable images are skipped and reported.
    """
    C.check_common(batch_size, seed, label_mode, rescale)
    name, start, stop = C.parse_split(split, ("train", "validation", "test"))
    if target not in TARGETS:
        raise ValueError(f"`target` must be one of {TARGETS}. Received: target={target!r}")
    if fraction_kind not in FRACTION_KINDS:
        raise ValueError(f"`fraction_kind` must be one of {FRACTION_KINDS}. Received: {fraction_kind!r}")
    size = C.check_image_size(image_size, (64, 64))
    if crop_fraction is not None and not 0 < crop_fraction <= 1:
        raise ValueError(f"`crop_fraction` must be in (0, 1]. Received: {crop_fraction!r}")
    aug = C.resolve_augment(augment, "gz2", size)
    image_dir = C.check_dir(image_dir, "GZ2 images", GZ2_URL)
    header, rows, lines = read_catalog(catalog)
    id_column = id_column or next((c for c in _ID_COLUMNS if c in header), None)
    if id_column not in header:
        raise ValueError(f"{catalog}: no id column (looked for {id_column or _ID_COLUMNS}); header: {header[:10]}...")
    ids = _column(header, rows, id_column, catalog)

    if target == "class":
        class_column = class_column or next((c for c in _CLASS_COLUMNS if c in header), None)
        if class_column not in header:
            raise ValueError(f"{catalog}: no class column (looked for {class_column or _CLASS_COLUMNS}).")
        y_all = np.array([gz2_class_index(c) for c in _column(header, rows, class_column, catalog)], np.int64)
        valid = y_all >= 0
        strata = y_all
    else:
        cols = gz2_columns(fraction_kind if target == "fractions" else "count")
        missing = [c for c in cols if c not in header]
        if missing:
            raise ValueError(
                f"{catalog}: missing {len(missing)} of the 37 GZ2 columns for target={target!r}, e.g. {missing[:3]}."
            )
        y_all = np.stack([_column(header, rows, c, catalog, lines, numeric=True) for c in cols], axis=1)
        valid = ~np.isnan(y_all).any(axis=1)
        strata = np.zeros(len(rows), np.int64)

    paths = _find_images(image_dir, ids, tuple(extensions))
    has_image = np.array([p is not None for p in paths])
    missing_images = int((~has_image & valid).sum())
    if missing_images:
        C.logger.warning("GZ2: %d catalogued galaxies have no image in %s; they are left out.",
                         missing_images, image_dir)
    keep_all = np.flatnonzero(valid & has_image)
    if len(keep_all) == 0:
        raise ValueError(f"GZ2: no usable galaxy: none of the catalogue ids of {catalog} has an image in {image_dir}.")
    from astrozoo.datasets.spectra import split_indices

    part = keep_all[split_indices(strata[keep_all], name, val_fraction, test_fraction, split_seed)]
    part = part[C.slice_indices(len(part), start, stop)]
    sel_paths = [paths[i] for i in part]
    skipped = C.find_corrupt(sel_paths)
    C.report_corrupt(skipped, f"GZ2 {image_dir}")
    ok = np.setdiff1d(np.arange(len(part)), [b[0] for b in skipped])
    part = part[ok]
    sel_paths = [sel_paths[i] for i in ok]
    y = y_all[part]

    def load(p, lab):
        img = C.decode_image(tf.io.read_file(p))
        if crop_fraction is not None:
            img = tf.image.central_crop(img, crop_fraction)
        return C.resize_uint8(img, size), lab

    ds = tf.data.Dataset.from_tensor_slices((tf.constant(sel_paths, tf.string), y))
    ds = ds.map(load, num_parallel_calls=C.AUTOTUNE)
    num_classes = 3 if target == "class" else None
    ds = C.finish(ds, num_examples=len(part), batch_size=batch_size, shuffle=C.default_shuffle(shuffle, name),
                  seed=seed, cache=cache, augment=aug, map_x=lambda t: C.rescale_images(t, rescale),
                  num_classes=num_classes, label_mode=label_mode if target == "class" else "int",
                  drop_remainder=drop_remainder)
    groups, i = {}, 0
    for q, answers in GZ2_QUESTIONS.items():
        groups[q] = (i, i + len(answers))
        i += len(answers)
    if target != "class" and group_by_question:
        ds = ds.map(lambda x, t: (x, {q: t[..., a:b] for q, (a, b) in groups.items()}),
                    num_parallel_calls=C.AUTOTUNE)
    if with_info:
        info = C.make_info(num_examples=len(part), source=str(catalog), image_shape=(*size, 3), rescale=rescale,
                           skipped=skipped, missing_images=missing_images, ids=[ids[i] for i in part])
        if target == "class":
            info["class_names"] = GZ2_CLASSES
        else:
            info["target_names"] = gz2_columns(fraction_kind if target == "fractions" else "count")
            info["question_slices"] = groups
        return ds, info
    return ds


# --------------------------------------------------------------------------- GZ DECaLS rings


def _rings_path(data_dir):
    if data_dir is None:
        from astrozoo.utils import require_shared_data

        try:
            return require_shared_data("galaxy_zoo", "gz_decals_rings_zoobot_96px.npz")
        except FileNotFoundError as e:
            raise FileNotFoundError(f"GZ rings: {e} Pass data_dir= the folder or .npz; source: {RINGS_URL}.") from e
    p = pathlib.Path(data_dir).expanduser()
    if p.is_dir():
        p = p / "gz_decals_rings_zoobot_96px.npz"
    if not p.is_file():
        raise C.missing_file_error(p, "GZ rings", RINGS_URL)
    return p


@register_dataset(
    "gz_rings",
    task="image_classification",
    source="Galaxy Zoo DECaLS ring vs non-ring cut-outs (zoobot example set), one npz",
    licence="labels: Galaxy Zoo DECaLS (Walmsley et al. 2022); images: DESI Legacy Surveys (acknowledge)",
    size="470 RGB 96x96 galaxies (235 rings / 235 non-rings), 8.4 MB",
    splits=("train", "validation", "test"),
    builder="resnet18 / the course's GZ2 CNN (2 classes)",
    description="Binary ring classification on real DECaLS colour images.",
    url=RINGS_URL,
    references=("Walmsley et al. 2022, MNRAS 509, 3966",),
)
def gz_rings(split="train", batch_size=32, image_size=None, augment=None, shuffle=None, seed=None, cache=True,
             data_dir=None, label_mode="int", rescale="unit", val_fraction=0.15, test_fraction=0.15, split_seed=0,
             drop_remainder=False, with_info=False):
    """Galaxy Zoo DECaLS rings (0 = not ring, 1 = ring), float32 RGB in ``[0, 1]``, 96x96 by default.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``: a stratified, seeded
            partition (``val_fraction``, ``test_fraction``, ``split_seed``), optionally sliced.
        data_dir: the folder holding ``gz_decals_rings_zoobot_96px.npz``, or the
            file; ``None`` uses the shared data folder.
        augment: ``True`` for flips and 90-degree rotations (the GZ2 preset), or a transform.
        batch_size, image_size, shuffle, seed, cache, label_mode, rescale,
        drop_remainder, with_info: as in :func:`astrozoo.datasets.mnist`.
    """
    C.check_common(batch_size, seed, label_mode, rescale)
    name, start, stop = C.parse_split(split, ("train", "validation", "test"))
    size = C.check_image_size(image_size)
    path = _rings_path(data_dir)
    with np.load(path) as d:
        missing = [k for k in ("x", "y") if k not in d.files]
        if missing:
            raise ValueError(f"{path} is not the GZ rings npz: missing keys {missing}.")
        x, y = d["x"], d["y"].astype(np.int64)
        names = [str(c) for c in d["class_names"]] if "class_names" in d.files else ["not_ring", "ring"]
        ids = d["iauname"] if "iauname" in d.files else np.arange(len(x))
    if len(x) != len(y):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels.")
    from astrozoo.datasets.spectra import split_indices

    idx = split_indices(y, name, val_fraction, test_fraction, split_seed)
    idx = idx[C.slice_indices(len(idx), start, stop)]
    aug = C.resolve_augment(augment, "gz2", size or x.shape[1:3])
    ds = tf.data.Dataset.from_tensor_slices((x[idx], y[idx]))
    if size is not None:
        ds = ds.map(lambda a, b: (C.resize_uint8(a, size), b), num_parallel_calls=C.AUTOTUNE)
    ds = C.finish(ds, num_examples=len(idx), batch_size=batch_size, shuffle=C.default_shuffle(shuffle, name),
                  seed=seed, cache=cache, augment=aug, map_x=lambda t: C.rescale_images(t, rescale),
                  num_classes=len(names), label_mode=label_mode, drop_remainder=drop_remainder)
    if with_info:
        return ds, C.make_info(class_names=names, num_examples=len(idx), source=str(path),
                               image_shape=(*(size or x.shape[1:3]), 3), rescale=rescale, ids=ids[idx])
    return ds
