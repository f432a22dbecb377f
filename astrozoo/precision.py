"""Mixed-precision policy for astrozoo models.

Keras applies the global dtype policy to layers created after it is set, so set
the precision *before* building a model. Output heads of astrozoo builders are
always float32 (``dtype="float32"`` on the last activation).
"""

_POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def _gpu_compute_capability():
    """Highest (major, minor) compute capability of a GPU seen by the running Keras backend, or None."""
    try:
        import keras

        backend = keras.config.backend()
        if backend == "jax":
            import jax

            caps = [d.compute_capability for d in jax.devices() if d.platform == "gpu"]
            caps = [tuple(int(v) for v in str(c).split(".")[:2]) for c in caps]
        elif backend == "torch":
            import torch

            caps = [tuple(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())]
        else:
            import tensorflow as tf

            caps = [tf.config.experimental.get_device_details(g).get("compute_capability")
                    for g in tf.config.list_physical_devices("GPU")]
            caps = [tuple(c) for c in caps if c is not None]
        return max(caps) if caps else None
    except Exception:  # no GPU runtime, or a device without a compute capability
        return None


def resolve_precision(policy="auto"):
    """The concrete policy name that ``set_precision(policy)`` would apply."""
    if policy not in _POLICIES:
        raise ValueError(
            f"Unknown precision policy {policy!r}; expected one of {_POLICIES}."
        )
    if policy != "auto":
        return policy
    cc = _gpu_compute_capability()
    # Tensor cores (and so a float16 speed-up) start at compute capability 7.0.
    if cc is not None and cc >= (7, 0):
        return "mixed_float16"
    return "float32"


def set_precision(policy="auto"):
    """Set the global Keras dtype policy and return the name applied.

    Args:
        policy: ``"auto"`` (mixed_float16 on a GPU of compute capability >= 7.0,
            float32 otherwise), ``"float32"``, ``"mixed_float16"`` or
            ``"mixed_bfloat16"``. On CPUs prefer ``"mixed_bfloat16"``:
            CPUs have no float16 arithmetic units.
    """
    import keras  # here, not at module level: `import astrozoo` must not fix the Keras backend

    name = resolve_precision(policy)
    keras.config.set_dtype_policy(name)
    return name


def get_precision():
    """Name of the global Keras dtype policy now in force."""
    import keras

    return keras.config.dtype_policy().name
