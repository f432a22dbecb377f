"""Choosing the Keras backend and the fast settings for it.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so the backend
must be chosen before ``import keras`` (``import astrozoo`` does not import
Keras). The measured trade-offs are in ``docs/performance.md``; in short:

* ``fit_defaults()`` gives the ``model.compile`` arguments that astrozoo
  recommends for the running backend (XLA only where it pays, several steps
  per execution on TensorFlow);
* ``configure_threads(n)`` pins the thread pools of TensorFlow, PyTorch, JAX
  and the BLAS libraries (one thread per process is often fastest on a
  crowded machine, all cores on a dedicated one);
* ``recommended()`` bundles the two with the backend recommended for CPU
  training, for ``set_backend(recommended()["backend"])``.

Everything here keeps working on the TensorFlow backend: nothing changes
unless asked.
"""

import os
import sys

_BACKENDS = ("tensorflow", "jax", "torch")

# Measured on the course networks (docs/performance.md, interleaved runs against
# plain PyTorch): the ``compile`` settings that train fastest on a CPU for each
# backend. On TensorFlow, graph mode with oneDNN kernels beat XLA by 4-7x on
# LeNet-5 (XLA's CPU convolutions are slower, and its compile costs minutes), so
# astrozoo keeps XLA off there; 8 steps per execution cut the per-step dispatch
# (about 2x on LeNet-5). JAX is always XLA-compiled.
_CPU_COMPILE = {
    "tensorflow": {"jit_compile": False, "steps_per_execution": 8},
    "jax": {"jit_compile": True, "steps_per_execution": 1},
    # torch.compile needs minutes of compilation per model; eager is the default.
    "torch": {"jit_compile": False, "steps_per_execution": 1},
}
# Backend recommended for CPU training: TensorFlow was the fastest Keras backend,
# and faster than plain PyTorch, in every interleaved run on the shared
# development machine (docs/performance.md).
RECOMMENDED_CPU_BACKEND = "tensorflow"
# On an H100, Keras-JAX trained resnet18 / darknet19 at 1.6x / 2.7x plain PyTorch
# in float32 and 2.8x / 4.3x with mixed_float16 (1.75x / 1.59x its own float32);
# Keras-torch was 0.2-0.4x. TensorFlow's GPU build could not be measured there.
RECOMMENDED_GPU_BACKEND = "jax"
RECOMMENDED_GPU_PRECISION = "mixed_float16"


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


def current_backend():
    """The backend Keras uses or will use (without importing Keras if it is not yet imported)."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def _has_accelerator():
    backend = current_backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return jax.default_backend() != "cpu"
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except ImportError:
        return False
    return False


def fit_defaults(jit_compile="auto", steps_per_execution=None, backend=None):
    """The ``model.compile`` keyword arguments astrozoo recommends for speed.

    Args:
        jit_compile: ``"auto"`` picks the measured best for the backend on a
            CPU (Keras' own choice on an accelerator); ``True``/``False`` force it.
        steps_per_execution: ``None`` picks the measured best; an int forces
            it. More than 1 means ``on_train_batch_*`` callbacks see every
            n-th batch only.
        backend: the backend to answer for (default: the running one).

    Returns:
        ``dict(jit_compile=..., steps_per_execution=...)`` for
        ``model.compile(..., **fit_defaults())``.
    """
    backend = backend or current_backend()
    if backend not in _BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {_BACKENDS}.")
    if jit_compile not in ("auto", True, False):
        raise ValueError(f"jit_compile must be 'auto', True or False; got {jit_compile!r}.")
    if steps_per_execution is not None and (not isinstance(steps_per_execution, int) or steps_per_execution < 1):
        raise ValueError(f"steps_per_execution must be a positive int or None; got {steps_per_execution!r}.")
    best = dict(_CPU_COMPILE[backend])
    if backend == current_backend() and _has_accelerator():
        best = {"jit_compile": "auto", "steps_per_execution": 1 if backend == "torch" else 8}
    if jit_compile != "auto":
        best["jit_compile"] = jit_compile
    if steps_per_execution is not None:
        best["steps_per_execution"] = steps_per_execution
    return best


def configure_threads(threads=None, inter_op=None):
    """Set the thread pools of every framework to ``threads`` (``None``: leave the defaults).

    Environment variables (``OMP_NUM_THREADS`` and friends, JAX's XLA flags)
    only act before the libraries load, so call this first thing; TensorFlow
    and PyTorch pools are also set through their APIs when already imported
    (TensorFlow refuses once it has run an op: it then warns and keeps its pools).

    Args:
        threads: threads per operation (intra-op); ``1`` is often fastest when
            several processes share the cores.
        inter_op: threads running independent operations (TensorFlow/PyTorch);
            default ``1`` when ``threads`` is given.

    Returns:
        The dict of settings applied.
    """
    if threads is None:
        return {}
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}.")
    inter_op = int(inter_op or 1)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(inter_op)
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(inter_op)
        except RuntimeError:  # only settable once, before any parallel work
            pass
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        except RuntimeError as exc:
            import warnings

            warnings.warn(f"TensorFlow threads already fixed ({exc}); set them before the first op.")
    return {"threads": threads, "inter_op": inter_op}


def recommended(device="cpu"):
    """astrozoo's recommended fast configuration.

    Args:
        device: ``"cpu"`` or ``"gpu"``.

    Returns:
        ``{"backend": ..., "compile": {...}, "env": {...}, "precision": ...}``:
        call ``set_backend(r["backend"])`` before importing Keras, export
        ``r["env"]`` (optional), ``astrozoo.set_precision(r["precision"])``
        before building the model, and pass ``**r["compile"]`` to
        ``model.compile``. On a GPU: JAX with ``mixed_float16`` (measured on an
        H100, docs/performance.md); on a CPU: TensorFlow in float32.
    """
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu'; got {device!r}.")
    if device == "gpu":
        return {
            "backend": RECOMMENDED_GPU_BACKEND,
            "compile": {"jit_compile": "auto", "steps_per_execution": 8},
            # Several processes share one GPU (benchmarks, notebooks): JAX must not grab 75% of it up front.
            "env": {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
            "precision": RECOMMENDED_GPU_PRECISION,
        }
    backend = RECOMMENDED_CPU_BACKEND
    return {"backend": backend, "compile": dict(_CPU_COMPILE[backend]), "env": {}, "precision": "float32"}
