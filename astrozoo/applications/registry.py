"""The model registry: every builder of the zoo, discoverable by name.

Builders register themselves with :func:`register_model`; ``list_models`` and
``get_model`` answer what the zoo holds (task, default input shape, parameter
count, references) without the user reading the source.
"""

import dataclasses
import fnmatch
from typing import Callable


@dataclasses.dataclass
class ModelInfo:
    """One registry entry. ``build(**kwargs)`` calls the builder."""

    name: str
    builder: Callable
    task: str
    family: str
    default_input_shape: tuple
    description: str = ""
    references: tuple = ()
    _param_count: int = dataclasses.field(default=None, repr=False)

    def build(self, **kwargs):
        return self.builder(**kwargs)

    @property
    def param_count(self):
        """Parameters of the model built with its defaults (built once, cached)."""
        if self._param_count is None:
            import keras

            model = self.builder()
            self._param_count = int(model.count_params())
            del model
            keras.backend.clear_session()
        return self._param_count

    def as_dict(self, with_params=True):
        out = {
            "name": self.name,
            "task": self.task,
            "family": self.family,
            "default_input_shape": tuple(self.default_input_shape),
            "description": self.description,
            "references": list(self.references),
        }
        if with_params:
            out["param_count"] = self.param_count
        return out


_REGISTRY = {}


def register_model(name, *, task, family, default_input_shape, description="", references=()):
    """Decorator that adds a builder function to the registry under ``name``."""

    def wrap(fn):
        if name in _REGISTRY and _REGISTRY[name].builder is not fn:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = ModelInfo(
            name=name,
            builder=fn,
            task=task,
            family=family,
            default_input_shape=tuple(default_input_shape),
            description=description,
            references=tuple(references),
        )
        return fn

    return wrap


def _ensure_loaded():
    # Importing the package registers every builder module.
    import astrozoo.applications  # noqa: F401


def list_models(pattern=None, task=None):
    """Registry entries sorted by name, filtered by a glob ``pattern`` and/or ``task``."""
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


def get_model(name):
    """The :class:`ModelInfo` registered under ``name``; ``get_model(n).build()`` builds it."""
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown model {name!r}. Available models: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[name]


def create_model(name, **kwargs):
    """Build the registered model ``name`` with builder keyword arguments."""
    return get_model(name).build(**kwargs)
