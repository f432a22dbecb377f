"""astrozoo: a Keras 3 model zoo for deep learning in astrophysics.

Builders live in :mod:`astrozoo.applications`, tf.data pipelines in
:mod:`astrozoo.datasets`, custom layers and losses in :mod:`astrozoo.layers`
and :mod:`astrozoo.losses`, metrics and plots in :mod:`astrozoo.evaluation`.
"""

import importlib

from astrozoo._version import __version__
from astrozoo.precision import get_precision, set_precision

_SUBMODULES = (
    "applications",
    "datasets",
    "evaluation",
    "io",
    "layers",
    "losses",
    "transfer",
    "precision",
    "backend",
    "distribute",
)

__all__ = ["__version__", "get_precision", "set_precision", "set_backend", *_SUBMODULES]


def __getattr__(name):
    # Submodules are imported on first use so that `import astrozoo` stays cheap
    # and `astrozoo.set_backend` can run before Keras picks its backend.
    if name in _SUBMODULES:
        return importlib.import_module(f"astrozoo.{name}")
    if name == "set_backend":
        from astrozoo.backend import set_backend

        return set_backend
    raise AttributeError(f"module 'astrozoo' has no attribute {name!r}")
