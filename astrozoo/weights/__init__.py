"""Pretrained weights: the table (data) and how a ``weights=`` argument is resolved.

``weights`` may be ``None``, a registered name (``WEIGHTS[model][name]``) or a
path to a ``.weights.h5`` / ``.keras`` file (``.dat`` CIANNA files where a
builder supports them). Everything that can be checked is checked *before* the
model is built, and every error names the offending value.
"""

import hashlib
import json
import os
import pathlib

_HERE = pathlib.Path(__file__).resolve().parent
_TABLE = _HERE / "registry.json"

# Weight files that this package can load, by suffix.
WEIGHT_SUFFIXES = (".weights.h5", ".keras")


def _load_table():
    if not _TABLE.exists():
        return {}
    with open(_TABLE) as f:
        return json.load(f)


#: ``{model_name: {weights_name: entry}}``. An entry has ``classes``,
#: ``input_shape``, ``preprocessing``, and either ``file`` (shipped inside the
#: package) or ``url`` + ``sha256`` (downloaded with ``keras.utils.get_file``),
#: optionally ``notop_url`` + ``notop_sha256``; plus ``metrics`` and ``script``
#: (how the weights were made).
WEIGHTS = _load_table()


def sha256sum(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def available_weights(model_name):
    """Names of the registered weights of ``model_name``."""
    return sorted(WEIGHTS.get(model_name, {}))


def _is_path_like(weights):
    s = str(weights)
    return (
        isinstance(weights, os.PathLike)
        or os.sep in s
        or s.endswith(WEIGHT_SUFFIXES + (".h5", ".dat"))
        or os.path.exists(s)
    )


class WeightsSpec:
    """A resolved ``weights=`` argument: either a registered entry or a file path."""

    def __init__(self, model_name, weights, entry=None, path=None):
        self.model_name = model_name
        self.weights = weights
        self.entry = entry
        self.path = path

    @property
    def is_registered(self):
        return self.entry is not None

    @property
    def suffix(self):
        p = str(self.path if self.path is not None else self.weights)
        for suf in WEIGHT_SUFFIXES + (".dat", ".h5"):
            if p.endswith(suf):
                return suf
        return pathlib.Path(p).suffix


def validate_weights_arg(
    model_name,
    weights,
    include_top=True,
    classes=None,
    classifier_activation="softmax",
    extra_suffixes=(),
):
    """Check ``weights`` and its compatibility with the other builder arguments.

    Returns ``None`` or a :class:`WeightsSpec`. Raises ``ValueError`` /
    ``FileNotFoundError`` with a message that names the bad value.
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), "
            f"a registered name ({', '.join(available_weights(model_name)) or 'none for '+model_name}) "
            f"or the path to a weights file. Received: weights={weights!r}"
        )
    entries = WEIGHTS.get(model_name, {})
    key = str(weights)
    if key in entries:
        entry = entries[key]
        if include_top and classes is not None and classes != entry["classes"]:
            raise ValueError(
                f"If using `weights={key!r}` with `include_top=True`, `classes` should be "
                f"{entry['classes']}. Received classes={classes}"
            )
        if include_top and classifier_activation not in (None, "softmax"):
            raise ValueError(
                "Only `None` and `softmax` activations are allowed for the "
                "`classifier_activation` argument when using pretrained weights, with "
                f"`include_top=True`. Received: classifier_activation={classifier_activation!r}"
            )
        return WeightsSpec(model_name, key, entry=entry)
    if not _is_path_like(weights):
        names = ", ".join(repr(n) for n in available_weights(model_name)) or "none yet"
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), "
            f"a registered name for {model_name} ({names}), or the path to a weights file "
            f"to be loaded. Received: weights={weights!r}"
        )
    path = pathlib.Path(weights).expanduser()
    suffixes = WEIGHT_SUFFIXES + tuple(extra_suffixes)
    if not str(path).endswith(suffixes):
        raise ValueError(
            f"Unsupported weights file {str(path)!r}: expected a file ending in "
            f"{', '.join(suffixes)}."
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"Weights file not found: {str(path)!r} (weights={weights!r}). Pass an existing "
            f"{' or '.join(suffixes)} file, a registered name "
            f"({', '.join(available_weights(model_name)) or 'none for ' + model_name}), or None."
        )
    return WeightsSpec(model_name, weights, path=path)


def fetch_registered(spec, include_top=True):
    """Local path of a registered weights file: shipped, cached, or downloaded."""
    entry = spec.entry
    use_notop = not include_top and "notop_url" in entry
    if "file" in entry and not use_notop:
        path = _HERE / entry["file"]
        if not path.is_file():
            raise FileNotFoundError(
                f"The packaged weights file {path} for weights={spec.weights!r} is missing; "
                "reinstall astrozoo."
            )
        digest = sha256sum(path)
        if entry.get("sha256") and digest != entry["sha256"]:
            raise ValueError(
                f"Hash mismatch for weights={spec.weights!r} ({path}): sha256 {digest}, "
                f"expected {entry['sha256']}. The file is corrupted; reinstall astrozoo."
            )
        return path
    url = entry["notop_url"] if use_notop else entry["url"]
    sha = entry["notop_sha256"] if use_notop else entry["sha256"]
    fname = url.rsplit("/", 1)[-1]
    import keras

    home = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    cache = home / "models"
    # get_file silently falls back to /tmp when the cache folder does not exist yet.
    cache.mkdir(parents=True, exist_ok=True)
    try:
        return pathlib.Path(
            keras.utils.get_file(fname, url, cache_dir=str(home), cache_subdir="models", file_hash=sha)
        )
    except ValueError as e:  # keras reports a hash mismatch as ValueError
        raise ValueError(
            f"Hash mismatch for weights={spec.weights!r} downloaded from {url}: {e}. "
            f"Delete {cache / fname} and try again."
        ) from e
    except Exception as e:  # offline, proxy, HTTP errors
        raise RuntimeError(
            f"Could not download weights={spec.weights!r} for {spec.model_name} from {url} "
            f"({type(e).__name__}: {e}). Download that file by hand and put it at "
            f"{cache / fname} (sha256 {sha}), or pass its path as `weights=`."
        ) from e


def load_weights_file(model, path, model_name="model"):
    """``model.load_weights(path)`` with errors that say which file and why."""
    path = pathlib.Path(path)
    try:
        model.load_weights(str(path))
    except (OSError, EOFError) as e:
        raise ValueError(
            f"Could not read weights file {str(path)!r} for {model_name}: the file is "
            f"truncated or is not a valid {''.join(path.suffixes[-2:])} file ({e})."
        ) from e
    except ValueError as e:
        raise ValueError(
            f"The weights in {str(path)!r} do not fit this {model_name} (wrong shapes or "
            f"layers: check `classes`, `include_top` and `input_shape` against the file): {e}"
        ) from e
