"""Data-parallel training of astrozoo models on several devices or machines.

One entry point for the three ways Keras 3 trains data-parallel:

* ``"mirrored"``: ``tf.distribute.MirroredStrategy`` (TensorFlow backend), all
  GPUs (or the given devices) of one machine;
* ``"multiworker"``: ``tf.distribute.MultiWorkerMirroredStrategy`` (TensorFlow
  backend), several machines described by ``TF_CONFIG``;
* ``"data_parallel"``: ``keras.distribution.DataParallel`` (JAX backend), every
  local device, or every device of a ``jax.distributed`` cluster.

Usage::

    strategy = astrozoo.distribute.get_strategy("mirrored")
    with astrozoo.distribute.scope(strategy):
        model = astrozoo.applications.lenet5()
        model.compile(...)
    astrozoo.distribute.prepare_model(model, strategy)  # MultiWorker workaround
    model.fit(astrozoo.distribute.shard_dataset(ds, strategy), ...)

Loss scaling rule. Under ``tf.distribute`` each replica computes the loss on
its own slice of the global batch and the replicas' gradients are *summed*.
Keras 3 makes this right for losses that return one value per example and let
Keras reduce them: ``reduction="sum_over_batch_size"`` (the default, a mean) is
divided by the number of replicas, ``reduction="sum"`` is not, so both give the
single-device gradient of the global batch (astrozoo's losses, YoloLoss
included, work this way). A loss whose ``call`` already reduces over the batch
and returns a scalar bypasses Keras' reduction: a scalar *sum* is still right,
but a scalar *mean* comes out ``replicas`` times too large. Return per-example
values instead, or wrap such a loss in :class:`ReplicaMeanLoss` (which divides
by :func:`replicas_in_sync`). Under JAX ``DataParallel`` the loss is computed
once on the whole (sharded) global batch, so every form is right and the
wrapper is a no-op.
"""

import contextlib
import os

import keras

STRATEGIES = (None, "none", "mirrored", "multiworker", "data_parallel")
SHARD_POLICIES = ("data", "file", "auto", "off")


def _require_backend(name, backends):
    current = keras.backend.backend()
    if current not in backends:
        hint = {"tensorflow": "KERAS_BACKEND=tensorflow", "jax": "KERAS_BACKEND=jax"}
        raise RuntimeError(
            f"distribution strategy {name!r} needs the {' or '.join(backends)} backend, but Keras runs on "
            f"{current!r}; set {hint[backends[0]]} (or astrozoo.set_backend({backends[0]!r})) before importing keras."
        )


def get_strategy(name=None, devices=None, communication="auto"):
    """The distribution object for ``name``.

    Args:
        name: ``None``/``"none"`` (no distribution: returns ``None``),
            ``"mirrored"``, ``"multiworker"`` or ``"data_parallel"``.
        devices: optional list of devices: TensorFlow device names
            (``["/cpu:0", "/cpu:1"]``) for ``"mirrored"``, JAX devices or device
            strings (``["cpu:0", "cpu:1"]``) for ``"data_parallel"``; default all.
        communication: collective implementation of ``"multiworker"``:
            ``"auto"``, ``"ring"`` (gRPC, CPUs) or ``"nccl"`` (GPUs).

    Returns:
        ``None``, a ``tf.distribute.Strategy`` or a
        ``keras.distribution.DataParallel``.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown distribution strategy {name!r}; expected one of {STRATEGIES}.")
    if name in (None, "none"):
        return None
    if name in ("mirrored", "multiworker"):
        _require_backend(name, ("tensorflow",))
        import tensorflow as tf

        if name == "mirrored":
            return tf.distribute.MirroredStrategy(devices=devices)
        if devices is not None:
            raise ValueError("`devices` does not apply to 'multiworker': each worker uses its local devices.")
        impl = {
            "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
            "ring": tf.distribute.experimental.CommunicationImplementation.RING,
            "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
        }
        if communication not in impl:
            raise ValueError(f"Unknown communication {communication!r}; expected one of {tuple(impl)}.")
        options = tf.distribute.experimental.CommunicationOptions(implementation=impl[communication])
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    _require_backend(name, ("jax",))
    if devices is None:
        devices = keras.distribution.list_devices()
    else:
        devices = [str(d) for d in devices]
    return keras.distribution.DataParallel(devices=devices)


def scope(strategy):
    """Context manager under which to build and compile the model.

    ``None`` gives a no-op context; a ``tf.distribute.Strategy`` its
    ``scope()``; a ``keras.distribution.Distribution`` its ``scope()`` (keep
    ``fit`` inside it too, or call ``keras.distribution.set_distribution``).
    """
    if strategy is None:
        return contextlib.nullcontext()
    if hasattr(strategy, "scope"):
        return strategy.scope()
    raise TypeError(f"Expected None, a tf.distribute.Strategy or a keras Distribution; got {type(strategy).__name__}.")


def prepare_model(model, strategy):
    """Make ``model.fit`` work under ``strategy``; call after ``model.compile`` (returns ``model``).

    Keras 3 (up to 3.15 at least) builds a model under ``tf.distribute`` by
    *reducing* the first distributed batch eagerly, which
    ``MultiWorkerMirroredStrategy`` cannot do (``ValueError: Attempt to convert
    a value (PerReplica...)``, keras-team/keras#20585). The build only needs
    shapes, so for that strategy this takes the first replica's batch instead.
    Its log all-reduce also rejects scalar metrics, so they travel as
    length-1 vectors. A no-op for every other strategy.
    """
    if strategy is None or keras.backend.backend() != "tensorflow":
        return model
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model

    def _maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = keras.tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v,
                    batch,
                )
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    # In multi-worker mode Keras all-reduces each log with ``reduce(MEAN, axis=0)``,
    # which rejects scalars: hand it the scalars as length-1 vectors.
    def _vector_logs(step):
        def wrapped(data):
            logs = step(data)
            return keras.tree.map_structure(lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, logs)

        return wrapped

    model._maybe_symbolic_build = _maybe_symbolic_build
    model.train_step = _vector_logs(model.train_step)
    model.test_step = _vector_logs(model.test_step)
    return model


def num_replicas(strategy):
    """Number of data-parallel replicas of ``strategy`` (1 for ``None``)."""
    if strategy is None:
        return 1
    if hasattr(strategy, "num_replicas_in_sync"):
        return int(strategy.num_replicas_in_sync)
    if isinstance(strategy, keras.distribution.DataParallel):
        return int(strategy.device_mesh.devices.size)
    raise TypeError(f"Cannot count the replicas of {type(strategy).__name__}.")


def global_batch_size(per_replica_batch, strategy):
    """Global batch for ``per_replica_batch`` examples per replica (what ``Dataset.batch`` takes)."""
    if int(per_replica_batch) < 1:
        raise ValueError(f"per_replica_batch must be >= 1, got {per_replica_batch!r}.")
    return int(per_replica_batch) * num_replicas(strategy)


def shard_dataset(dataset, strategy=None, policy="data"):
    """Set how a ``tf.data.Dataset`` is split between workers.

    Args:
        dataset: a batched ``tf.data.Dataset`` of the *global* batch size.
        strategy: the strategy (only used to skip the option when ``None``).
        policy: ``"data"`` (every worker reads everything and keeps its share
            of the batches: always correct, the right choice for in-memory and
            generator pipelines), ``"file"`` (each worker reads its own files:
            faster for TFRecord shards, needs at least as many files as
            workers), ``"auto"`` (TensorFlow's guess) or ``"off"``.

    Returns:
        The dataset with the sharding option set (MirroredStrategy on one
        machine splits each batch between its replicas whatever the policy).
    """
    if policy not in SHARD_POLICIES:
        raise ValueError(f"Unknown shard policy {policy!r}; expected one of {SHARD_POLICIES}.")
    if strategy is None:
        return dataset
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"shard_dataset expects a tf.data.Dataset, got {type(dataset).__name__}.")
    p = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = {
        "data": p.DATA,
        "file": p.FILE,
        "auto": p.AUTO,
        "off": p.OFF,
    }[policy]
    return dataset.with_options(options)


def replicas_in_sync():
    """Replicas over which the current TensorFlow strategy sums gradients (1 elsewhere).

    This is the factor by which Keras divides each replica's mean-reduced loss
    under ``tf.distribute``; JAX ``DataParallel`` computes the loss on the
    global batch and needs no factor.
    """
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


@keras.saving.register_keras_serializable(package="astrozoo")
class ReplicaMeanLoss(keras.losses.Loss):
    """Wraps a loss that returns a batch *mean* as a scalar, so that it trains alike on any number of replicas.

    Divides the wrapped loss by :func:`replicas_in_sync`: under
    ``tf.distribute`` Keras sums the replicas' gradients and only rescales
    losses that it reduces itself. With one replica, or on JAX/torch, it is the
    wrapped loss unchanged. Losses that return per-example values do not need it.

    Args:
        loss: a callable ``loss(y_true, y_pred)`` returning the mean over its
            batch as a scalar.
    """

    def __init__(self, loss, name=None, **kwargs):
        if isinstance(loss, dict):
            loss = keras.saving.deserialize_keras_object(loss)
        if not callable(loss):
            raise TypeError(f"ReplicaMeanLoss wraps a callable loss; got {loss!r}.")
        kwargs.setdefault("reduction", "none")
        super().__init__(name=name or f"replica_mean_{getattr(loss, 'name', 'loss')}", **kwargs)
        self.loss = loss

    def call(self, y_true, y_pred):
        value = self.loss(y_true, y_pred)
        return value / keras.ops.cast(replicas_in_sync(), value.dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        config["loss"] = keras.saving.serialize_keras_object(self.loss)
        return config


def tf_config(workers, index, task_type="worker"):
    """The ``TF_CONFIG`` JSON string for worker ``index`` of ``workers`` (``"host:port"`` list).

    Every machine runs the same script with its own ``index``; set the result
    as ``os.environ["TF_CONFIG"]`` *before* calling ``get_strategy("multiworker")``.
    """
    import json

    workers = list(workers)
    if not workers or not all(isinstance(w, str) and ":" in w for w in workers):
        raise ValueError(f"workers must be a non-empty list of 'host:port' strings; got {workers!r}.")
    if not 0 <= int(index) < len(workers):
        raise ValueError(f"index {index!r} out of range for {len(workers)} workers.")
    return json.dumps({"cluster": {task_type: workers}, "task": {"type": task_type, "index": int(index)}})


def set_cpu_devices(count):
    """Split the CPU into ``count`` logical devices (TensorFlow and JAX), for tests and demos.

    Must run before TensorFlow/JAX initialise their devices (first op).
    """
    count = int(count)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}.")
    flag = f"--xla_force_host_platform_device_count={count}"
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " " + flag).strip()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
