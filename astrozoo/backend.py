"""Choosing the Keras backend before Keras is imported."""

import os
import sys

_BACKENDS = ("tensorflow", "jax", "torch")


def set_backend(name):
    """Select the Keras backend (``"tensorflow"``, ``"jax"`` or ``"torch"``).

    Keras reads ``KERAS_BACKEND`` once, when it is first imported, so this must
    run before anything imports ``keras``. Calling it afterwards with a
    different backend raises instead of silently doing nothing.
    """
    if name not in _BACKENDS:
        raise ValueError(f"Unknown backend {name!r}; expected one of {_BACKENDS}.")
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise RuntimeError(
                f"Keras is already imported with the {current!r} backend; "
                f"set_backend({name!r}) must run before `import keras` "
                f"(or set the environment variable KERAS_BACKEND={name})."
            )
        return name
    os.environ["KERAS_BACKEND"] = name
    return name
