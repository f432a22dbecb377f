"""The dataset registry: what each dataset is, where it comes from, what it pairs with.

Every loader module registers itself with :func:`register_dataset`;
``list_datasets()`` answers which datasets astrozoo can load, their source,
licence, size, splits and the builder each one is meant for, without reading the
source. Other modules (e.g. the detection datasets) add entries the same way.
"""

import dataclasses
import fnmatch
from typing import Callable, Optional


@dataclasses.dataclass
class DatasetInfo:
    """One registry entry; ``load(**kwargs)`` calls the loader."""

    name: str
    loader: Optional[Callable]
    task: str
    source: str
    licence: str
    size: str
    splits: tuple
    builder: str
    description: str = ""
    url: str = ""
    tfds_name: Optional[str] = None
    references: tuple = ()

    def load(self, **kwargs):
        if self.loader is None:
            raise ValueError(f"Dataset {self.name!r} has no loader function registered.")
        return self.loader(**kwargs)

    def as_dict(self):
        out = dataclasses.asdict(self)
        out.pop("loader")
        out["loader"] = None if self.loader is None else f"{self.loader.__module__}.{self.loader.__name__}"
        out["splits"] = list(self.splits)
        out["references"] = list(self.references)
        return out


_REGISTRY = {}
_FIELDS = ("task", "source", "licence", "size", "splits", "builder")


def register_dataset(name, loader=None, *, task, source, licence, size, splits, builder, description="",
                     url="", tfds_name=None, references=(), overwrite=False):
    """Add a dataset to the registry.

    Usable as a plain call (``register_dataset("voc", voc, task=..., ...)``) or as a
    decorator (``@register_dataset("voc", task=..., ...)`` above the loader).

    Args:
        name: registry key, e.g. ``"mnist"``.
        loader: the function returning the ``tf.data.Dataset``; omitted when used as a decorator.
        task: e.g. ``"image_classification"``, ``"spectrum_regression"``, ``"detection"``.
        source: where the data come from (TFDS name, archive, paper).
        licence: licence or terms of use of the data.
        size: number of examples and download size, in words.
        splits: names of the splits the loader accepts.
        builder: the astrozoo builder the pipeline's normalisation matches.
        description, url, tfds_name, references: free text, download page, TFDS name, citations.
        overwrite: replace an existing entry of the same name instead of raising.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")
    if isinstance(splits, str):
        splits = (splits,)

    def add(fn):
        if name in _REGISTRY and not overwrite and _REGISTRY[name].loader is not fn:
            raise ValueError(
                f"A dataset named {name!r} is already registered (by {_REGISTRY[name].loader}); "
                "pass overwrite=True to replace it."
            )
        _REGISTRY[name] = DatasetInfo(
            name=name,
            loader=fn,
            task=task,
            source=source,
            licence=licence,
            size=size,
            splits=tuple(splits),
            builder=builder,
            description=description,
            url=url,
            tfds_name=tfds_name,
            references=tuple(references),
        )
        return fn

    if loader is None:
        return add
    add(loader)
    return loader


def _ensure_loaded():
    import astrozoo.datasets  # noqa: F401  (importing the package registers every loader)


def list_datasets(pattern=None, task=None):
    """Registry entries (:class:`DatasetInfo`) sorted by name, filtered by a glob and/or task.

    Example: ``[d.name for d in list_datasets(task="image_classification")]``;
    ``d.as_dict()`` gives source, licence, size, splits and the paired builder.
    """
    _ensure_loaded()
    out = []
    for name in sorted(_REGISTRY):
        info = _REGISTRY[name]
        if pattern is not None and not fnmatch.fnmatch(name, pattern):
            continue
        if task is not None and info.task != task:
            continue
        out.append(info)
    return out


def get_dataset(name):
    """The :class:`DatasetInfo` registered under ``name``."""
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ValueError(f"Unknown dataset {name!r}. Available datasets: {', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[name]


def load_dataset(name, **kwargs):
    """Call the loader of the registered dataset ``name`` with keyword arguments."""
    return get_dataset(name).load(**kwargs)
