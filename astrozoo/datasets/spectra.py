"""Stellar spectra: the MILES library (npz), the course's Indo-US files, or arrays.

All loaders give ``(spectrum, target)`` with spectra float32 of shape
``(length, 1)`` (channels last, as :func:`astrozoo.applications.spectra1d`
expects). The course's preprocessing is available as options:
``tanh_scale=40`` with ``clip=(0, 1)`` gives ``tanh(40 * clip(x, 0, 1))``, and
``pad_multiple=64`` zero-pads the end to a length divisible by the product of
the strides (3753 -> 3776 for the Indo-US spectra and strides 4, 4, 4).
"""

import pathlib

import numpy as np
import tensorflow as tf

from astrozoo.datasets import _common as C
from astrozoo.datasets.registry import register_dataset

MILES_URL = "http://miles.iac.es (MILES v9.1); the npz is built from the sdss/mangadap MILES templates"
INDO_US_URL = ("https://www.noao.edu/cflib/ (Valdes et al. 2004); the course's stellar_spectra_data.tar.gz "
               "(train.dat, target.dat) from github.com/Deyht/ML_OSAE_M2")
SPECTRAL_CLASSES = ["O", "B", "A", "F", "G", "K", "M"]
MILES_TARGETS = ("teff", "logg", "feh")
NAN_POLICIES = ("drop", "keep")
#: The course's rebalanced Indo-US training set: number of spectra per class O..M.
COURSE_BALANCE = (10, 30, 30, 20, 20, 30, 10)


def preprocess_spectra(x, normalize=None, clip=None, tanh_scale=None, pad_multiple=None):
    """The optional spectral preprocessing, on a ``(N, length)`` array.

    Args:
        normalize: ``None``, ``"max"`` (divide each spectrum by its maximum) or
            ``"median"`` (by its median).
        clip: ``None`` or ``(low, high)`` applied before ``tanh``.
        tanh_scale: ``None`` or ``s`` for ``tanh(s * x)`` (the course uses 40 after clip (0, 1)).
        pad_multiple: zero-pad the end so that the length is a multiple of this.

    Returns:
        float32 ``(N, length')``.
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"Spectra must be a 2D array (n_spectra, length); received shape {x.shape}.")
    if normalize is not None:
        if normalize not in ("max", "median"):
            raise ValueError(f"`normalize` must be None, 'max' or 'median'. Received: {normalize!r}")
        ref = np.max(x, axis=1, keepdims=True) if normalize == "max" else np.median(x, axis=1, keepdims=True)
        bad = np.flatnonzero(~(np.abs(ref[:, 0]) > 0))
        if len(bad):
            raise ValueError(f"Cannot normalize by the {normalize}: spectra {bad[:10].tolist()} have a zero {normalize}.")
        x = x / ref
    if clip is not None:
        lo, hi = clip
        x = np.clip(x, lo, hi)
    if tanh_scale is not None:
        x = np.tanh(tanh_scale * x)
    if pad_multiple:
        if not isinstance(pad_multiple, (int, np.integer)) or pad_multiple < 1:
            raise ValueError(f"`pad_multiple` must be a positive int. Received: {pad_multiple!r}")
        extra = (-x.shape[1]) % pad_multiple
        if extra:
            x = np.pad(x, ((0, 0), (0, extra)))
    return x.astype(np.float32)


def spectra(x, y=None, batch_size=32, shuffle=False, seed=None, cache=False, augment=None, sample_weight=None,
            drop_remainder=False, **preprocess):
    """A ``tf.data`` pipeline from arrays of spectra.

    Args:
        x: ``(N, length)`` spectra (or ``(N, length, 1)``).
        y: ``(N, ...)`` targets, or ``None`` for a dataset of spectra only.
        batch_size: examples per batch; ``None`` for unbatched.
        shuffle, seed, cache, drop_remainder: as for the image loaders.
        augment: ``None`` or a callable ``f(spectrum, rng) -> spectrum`` (numpy, applied seeded).
        sample_weight: optional ``(N,)`` weights, given as the third element.
        **preprocess: keyword arguments of :func:`preprocess_spectra`.
    """
    C.check_common(batch_size, seed)
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    x = preprocess_spectra(x, **preprocess)[..., None]
    n = len(x)
    parts = [x]
    if y is not None:
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"Spectra/target count mismatch: {n} spectra but {len(y)} targets.")
        parts.append(y)
    if sample_weight is not None:
        if y is None:
            raise ValueError("`sample_weight` needs targets `y`.")
        sample_weight = np.asarray(sample_weight, np.float32)
        if sample_weight.shape != (n,):
            raise ValueError(f"`sample_weight` must have shape ({n},); received {sample_weight.shape}.")
        parts.append(sample_weight)
    if augment is not None and not callable(augment):
        raise TypeError(f"`augment` for spectra must be a callable f(spectrum, rng). Received: {augment!r}")
    ds = tf.data.Dataset.from_tensor_slices(tuple(parts) if len(parts) > 1 else parts[0])
    return C.finish(ds, num_examples=n, batch_size=batch_size, shuffle=shuffle, seed=seed, cache=cache,
                    augment=augment, drop_remainder=drop_remainder, shuffle_buffer=max(n, 1))


# --------------------------------------------------------------------------- MILES


def _miles_path(data_dir):
    if data_dir is None:
        from astrozoo.utils import require_shared_data

        try:
            return require_shared_data("miles", "miles_stellar_library_v9.1.npz")
        except FileNotFoundError as e:
            raise FileNotFoundError(f"MILES: {e} Pass data_dir= the folder or .npz file; source: {MILES_URL}.") from e
    p = pathlib.Path(data_dir).expanduser()
    if p.is_dir():
        p = p / "miles_stellar_library_v9.1.npz"
    if not p.is_file():
        raise C.missing_file_error(p, "MILES", MILES_URL)
    return p


def split_indices(strata, split, val_fraction, test_fraction, split_seed):
    """Stratified, seeded train/validation/test indices of ``len(strata)`` examples."""
    from sklearn.model_selection import train_test_split

    for nm, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ValueError(f"`{nm}` must be in [0, 1). Received: {f!r}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1; received {val_fraction} + {test_fraction}.")
    idx = np.arange(len(strata))
    strata = np.asarray(strata)
    counts = dict(zip(*np.unique(strata, return_counts=True)))
    # Strata too small to be split are merged into one, so that stratification stays possible.
    strata = np.array([s if counts[s] >= 5 else "__rare__" for s in strata])
    rest, test = (idx, idx[:0]) if test_fraction == 0 else train_test_split(
        idx, test_size=test_fraction, random_state=split_seed, stratify=strata)
    if val_fraction == 0:
        train, val = rest, rest[:0]
    else:
        train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), random_state=split_seed,
                                      stratify=strata[rest])
    return np.sort({"train": train, "validation": val, "test": test}[split])


def load_miles_arrays(data_dir=None):
    """The MILES npz as a dict of numpy arrays (``wave``, ``flux``, ``spt_class``, ``teff``...)."""
    path = _miles_path(data_dir)
    with np.load(path) as d:
        missing = [k for k in ("flux", "spt_class", *MILES_TARGETS) if k not in d.files]
        if missing:
            raise ValueError(f"{path} is not the MILES npz: missing keys {missing} (has {d.files}).")
        out = {k: d[k] for k in d.files}
    if len(out["flux"]) != len(out["spt_class"]):
        raise ValueError(f"{path}: {len(out['flux'])} spectra but {len(out['spt_class'])} labels.")
    out["path"] = str(path)
    return out


@register_dataset(
    "miles",
    task="spectrum_classification",
    source="MILES v9.1 stellar library, one npz (wave, flux, spt_class, teff, logg, feh)",
    licence="public (miles.iac.es); cite Sanchez-Blazquez et al. 2006, Falcon-Barroso et al. 2011",
    size="985 spectra x 4300 samples (3540-7410 A), 15 MB",
    splits=("train", "validation", "test"),
    builder="spectra1d(input_shape=(4300, 1), classes=7) (classes) or classes=k, classifier_activation=None",
    description="Spectral class O..M (897 stars with an MK letter) or regression of teff/logg/feh.",
    url=MILES_URL,
    references=("Sanchez-Blazquez et al. 2006, MNRAS 371, 703", "Falcon-Barroso et al. 2011, A&A 532, A95"),
)
def miles(split="train", batch_size=32, target="class", shuffle=None, seed=None, cache=False, data_dir=None,
          label_mode="int", normalize="max", clip=None, tanh_scale=None, pad_multiple=None, nan_policy="drop",
          standardize=True, log_teff=True, val_fraction=0.1, test_fraction=0.2, split_seed=0, drop_omitted=True,
          augment=None, drop_remainder=False, with_info=False):
    """MILES spectra for classification (O..M) or regression (teff, logg, feh).

    The split is a stratified (by spectral class), seeded partition of the whole
    library, identical for every ``target``, so a classifier and a regressor see
    the same test stars.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        target: ``"class"`` (int 0..6 for O, B, A, F, G, K, M; the 88 stars with no MK
            letter are left out), one of ``"teff"``, ``"logg"``, ``"feh"``, or a list of them.
        normalize, clip, tanh_scale, pad_multiple: see :func:`preprocess_spectra`;
            by default each spectrum is divided by its maximum (fluxes are then <= 1).
        nan_policy: regression targets are NaN where unknown (3 teff, 3 logg, 39
            feh): ``"drop"`` leaves those stars out, ``"keep"`` keeps the NaN for a
            NaN-masking loss.
        standardize: regression targets minus the train-split mean, over its std
            (``info["target_mean"]``/``["target_std"]`` invert it).
        log_teff: regress ``log10(teff)`` rather than teff.
        val_fraction, test_fraction, split_seed: the partition.
        drop_omitted: leave out m0970 (``dap_omitted``: artefact at the red end).
        data_dir: the folder or the npz; ``None`` uses the shared data folder.
        batch_size, shuffle, seed, cache, label_mode, augment, drop_remainder,
        with_info: as for the other loaders.
    """
    C.check_common(batch_size, seed, label_mode)
    name, start, stop = C.parse_split(split, ("train", "validation", "test"))
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"`nan_policy` must be one of {NAN_POLICIES}. Received: nan_policy={nan_policy!r}")
    targets = [target] if isinstance(target, str) else list(target)
    if targets != ["class"] and any(t not in MILES_TARGETS for t in targets):
        raise ValueError(f"`target` must be 'class' or among {MILES_TARGETS}. Received: target={target!r}")
    d = load_miles_arrays(data_dir)
    n_all = len(d["flux"])
    part = split_indices(d["spt_class"], name, val_fraction, test_fraction, split_seed)
    train_part = split_indices(d["spt_class"], "train", val_fraction, test_fraction, split_seed)
    usable = np.ones(n_all, bool)
    if drop_omitted and "dap_omitted" in d:
        usable &= ~d["dap_omitted"].astype(bool)
    info = dict(source=d["path"], wave=d.get("wave"))
    if targets == ["class"]:
        usable &= np.isin(d["spt_class"], SPECTRAL_CLASSES)
        y_all = np.array([SPECTRAL_CLASSES.index(c) if c in SPECTRAL_CLASSES else -1 for c in d["spt_class"]],
                         np.int64)
        info["class_names"] = SPECTRAL_CLASSES
    else:
        cols = []
        for t in targets:
            v = d[t].astype(np.float64)
            if t == "teff" and log_teff:
                v = np.log10(v)
            cols.append(v)
        y_all = np.stack(cols, axis=1)
        if nan_policy == "drop":
            usable &= ~np.isnan(y_all).any(axis=1)
        if standardize:
            ref = y_all[np.intersect1d(train_part, np.flatnonzero(usable))]
            mean, std = np.nanmean(ref, axis=0), np.nanstd(ref, axis=0)
            y_all = (y_all - mean) / std
            info.update(target_mean=mean.tolist(), target_std=std.tolist())
        y_all = y_all.astype(np.float32)
        if len(targets) == 1:
            y_all = y_all[:, 0]
        info["target_names"] = [("log10_teff" if t == "teff" and log_teff else t) for t in targets]
    idx = part[usable[part]]
    idx = idx[C.slice_indices(len(idx), start, stop)]
    x = d["flux"][idx]
    y = y_all[idx]
    if targets == ["class"] and label_mode == "categorical":
        y = np.eye(len(SPECTRAL_CLASSES), dtype=np.float32)[y]
    ds = spectra(x, y, batch_size=batch_size, shuffle=C.default_shuffle(shuffle, name), seed=seed, cache=cache,
                 augment=augment, drop_remainder=drop_remainder, normalize=normalize, clip=clip,
                 tanh_scale=tanh_scale, pad_multiple=pad_multiple)
    if with_info:
        info.update(num_examples=len(idx), indices=idx, length=int(ds.element_spec[0].shape[-2]))
        return ds, info
    return ds


# --------------------------------------------------------------------------- Indo-US (course files)


def _read_ascii(path, what):
    rows = []
    width = None
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                vals = [float(v) for v in fields]
            except ValueError:
                bad = next(v for v in fields if not _is_float(v))
                raise ValueError(f"{path}, line {lineno}: {what}: cannot parse {bad!r} as a number.") from None
            if width is None:
                width = len(vals)
            elif len(vals) != width:
                raise ValueError(
                    f"{path}, line {lineno}: {what}: {len(vals)} values where the previous lines have {width}."
                )
            rows.append(vals)
    if not rows:
        raise ValueError(f"{path}: {what}: the file is empty.")
    return np.asarray(rows, np.float32)


def _is_float(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def load_indo_us_arrays(data_dir):
    """``(spectra (N, L), one-hot targets (N, 7))`` from the course's ``train.dat`` and ``target.dat``."""
    folder = C.check_dir(data_dir, "Indo-US spectra", INDO_US_URL)
    paths = {}
    for f in ("train.dat", "target.dat"):
        p = folder / f
        if not p.is_file():
            raise C.missing_file_error(p, "Indo-US spectra", INDO_US_URL)
        paths[f] = p
    x = _read_ascii(paths["train.dat"], "spectra")
    t = _read_ascii(paths["target.dat"], "one-hot targets")
    if len(x) != len(t):
        raise ValueError(
            f"Indo-US count mismatch: {paths['train.dat']} holds {len(x)} spectra but "
            f"{paths['target.dat']} holds {len(t)} targets."
        )
    sums = t.sum(axis=1)
    if not np.all(np.isin(t, (0, 1))) or not np.all(sums == 1):
        line = int(np.flatnonzero(~np.isclose(sums, 1) | ~np.isin(t, (0, 1)).all(axis=1))[0]) + 1
        raise ValueError(f"{paths['target.dat']}: row {line} is not a one-hot vector.")
    return x, t


@register_dataset(
    "indo_us",
    task="spectrum_classification",
    source="the course's Indo-US Coude Feed files: train.dat (ASCII spectra) and target.dat (one-hot)",
    licence="public (NOAO CFLIB, Valdes et al. 2004)",
    size="1,115 spectra x 3753 samples, 7 classes (O..M); test = last 200",
    splits=("train", "test"),
    builder="spectra1d (input_shape=(3776, 1), classes=7)",
    description="The course's 1D-CNN practical, with tanh(40*clip(x,0,1)) and padding to 3776.",
    url=INDO_US_URL,
    references=("Valdes et al. 2004, ApJS 152, 251",),
)
def indo_us(split="train", batch_size=16, data_dir=None, shuffle=None, seed=None, cache=False, label_mode="int",
            test_size=200, balance=None, clip=(0.0, 1.0), tanh_scale=40.0, pad_multiple=64, augment=None,
            drop_remainder=False, with_info=False):
    """The course's Indo-US spectra (``train.dat`` + ``target.dat``) as ``(spectrum, label)`` batches.

    Defaults reproduce the course: ``tanh(40 * clip(x, 0, 1))`` and zero padding
    to a multiple of 64 (3753 -> 3776), test = the last ``test_size`` rows.

    Args:
        split: ``"train"`` or ``"test"``, optionally sliced.
        balance: ``None`` (all training rows), ``"course"`` (the course's
            rebalanced set, :data:`COURSE_BALANCE` per class, the first rows of each
            class) or a per-class count sequence.
        data_dir: folder with ``train.dat`` and ``target.dat``.
        clip, tanh_scale, pad_multiple: see :func:`preprocess_spectra` (``None`` disables).
        batch_size, shuffle, seed, cache, label_mode, augment, drop_remainder,
        with_info: as for the other loaders.
    """
    C.check_common(batch_size, seed, label_mode)
    name, start, stop = C.parse_split(split, ("train", "test"))
    if data_dir is None:
        raise FileNotFoundError(
            f"Indo-US spectra: pass data_dir= the folder holding train.dat and target.dat ({INDO_US_URL})."
        )
    x, t = load_indo_us_arrays(data_dir)
    if not 0 < test_size < len(x):
        raise ValueError(f"`test_size` must be in (0, {len(x)}). Received: {test_size!r}")
    y = t.argmax(axis=1).astype(np.int64)
    n = len(x)
    if name == "test":
        idx = np.arange(n - test_size, n)
    elif balance is None:
        idx = np.arange(n - test_size)
    else:
        counts = COURSE_BALANCE if balance == "course" else tuple(balance)
        if len(counts) != t.shape[1]:
            raise ValueError(f"`balance` needs one count per class ({t.shape[1]}). Received: {balance!r}")
        # As in the course: the first rows of each class (these may overlap the test rows).
        idx = np.sort(np.concatenate([np.flatnonzero(y == k)[:c] for k, c in enumerate(counts)]))
    idx = idx[C.slice_indices(len(idx), start, stop)]
    labels = y[idx] if label_mode == "int" else t[idx].astype(np.float32)
    ds = spectra(x[idx], labels, batch_size=batch_size, shuffle=C.default_shuffle(shuffle, name), seed=seed,
                 cache=cache, augment=augment, drop_remainder=drop_remainder, clip=clip, tanh_scale=tanh_scale,
                 pad_multiple=pad_multiple)
    if with_info:
        info = dict(class_names=SPECTRAL_CLASSES[: t.shape[1]], num_examples=len(idx), indices=idx,
                    length=int(ds.element_spec[0].shape[-2]), source=str(data_dir))
        return ds, info
    return ds
