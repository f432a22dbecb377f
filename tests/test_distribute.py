"""Data-parallel training: MirroredStrategy, MultiWorkerMirroredStrategy, JAX DataParallel.

Each scenario runs in a subprocess with 2 logical CPU devices (devices and the
Keras backend are fixed when a process first uses them). The checks compare
one SGD step under distribution with the same step on one device for the same
global batch: equal for losses that Keras reduces (mean or sum), and for a loss
returning its own batch mean only with ``ReplicaMeanLoss`` (the documented
scaling rule).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from astrozoo import distribute as azd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Shared by the subprocesses: a tiny regression net, one SGD step on 8 examples.
_COMMON = """
import json, os, sys
import numpy as np
rng = np.random.default_rng(0)
X = rng.standard_normal((8, 6)).astype("float32")
Y = rng.standard_normal((8, 1)).astype("float32")

def make_model(keras):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])

def scalar_mean(y_true, y_pred):
    # Reduces over the batch itself: Keras cannot rescale it per replica.
    import keras
    return keras.ops.mean(keras.ops.square(y_true - y_pred))

def losses(keras, azd):
    return {
        "mean": lambda: keras.losses.MeanSquaredError(),
        "sum": lambda: keras.losses.MeanSquaredError(reduction="sum"),
        "scalar_mean": lambda: scalar_mean,
        "scalar_mean_wrapped": lambda: azd.ReplicaMeanLoss(scalar_mean),
    }
"""

_MIRRORED = _COMMON + """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from astrozoo import distribute as azd
import astrozoo.applications as apps

def step(strategy, make_loss):
    with azd.scope(strategy):
        m = make_model(keras)
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss=make_loss())
    azd.prepare_model(m, strategy)  # a no-op for MirroredStrategy
    w0 = [np.array(v) for v in m.get_weights()]
    ds = azd.shard_dataset(tf.data.Dataset.from_tensor_slices((X, Y)).batch(8), strategy)
    m.fit(ds, epochs=1, verbose=0)
    return [(np.array(v) - a).tolist() for v, a in zip(m.get_weights(), w0)]

out = {}
strategy = azd.get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
out["replicas"] = azd.num_replicas(strategy)
out["global_batch"] = azd.global_batch_size(4, strategy)
for name, make_loss in losses(keras, azd).items():
    out[name] = {"single": step(None, make_loss), "mirrored": step(strategy, make_loss)}

# An astrozoo model and pipeline: lenet5 on real MNIST digits, 2 replicas.
x = np.load(sys.argv[1])["x"][..., None].astype("float32") / 255.0
y = np.load(sys.argv[1])["y"].astype("int32")
with azd.scope(strategy):
    model = apps.lenet5()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
ds = azd.shard_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(azd.global_batch_size(32, strategy)), strategy)
hist = model.fit(ds, epochs=4, verbose=0)
out["lenet5_loss"] = hist.history["loss"]

# YoloLoss (when this checkout has it): one step of a small yolo_cianna on 4 images, 2 per replica.
try:
    from astrozoo.applications import yolo_cianna
    from astrozoo.losses import YoloLoss
except ImportError:
    out["yolo"] = None
else:
    priors = [(8.0, 8.0), (20.0, 20.0)]
    xi = np.zeros((4, 64, 64, 3), "float32")
    yb = -np.ones((4, 3, 4), "float32"); yc = -np.ones((4, 3), "int32")
    for i in range(4):
        c = 12 + 10 * i
        xi[i, c - 4:c + 4, c - 4:c + 4] = 1.0
        yb[i, 0] = [c - 4, c - 4, c + 4, c + 4]; yc[i, 0] = i % 2
    y = {"boxes": yb, "classes": yc}

    def yolo_step(strategy):
        with azd.scope(strategy):
            keras.utils.set_random_seed(0)
            # Group norm (per image), not batch norm: per-replica batch statistics would differ.
            m = yolo_cianna("darknet_tiny", num_classes=2, priors=priors, input_shape=(64, 64, 3), width=0.5,
                            head_filters=(32,), norm="group", head_norm="group")
            m.compile(optimizer=keras.optimizers.SGD(0.01), loss=YoloLoss.from_head(m.yolo_head, preset="cianna_default"))
        w0 = [np.array(v) for v in m.get_weights()]
        ds = azd.shard_dataset(tf.data.Dataset.from_tensor_slices((xi, y)).batch(4), strategy)
        m.fit(ds, epochs=1, verbose=0)
        return [(np.array(v) - a).tolist() for v, a in zip(m.get_weights(), w0)]

    out["yolo"] = {"single": yolo_step(None), "mirrored": yolo_step(strategy)}
print("RESULT " + json.dumps(out))
"""

_MULTIWORKER = _COMMON + """
os.environ["TF_CONFIG"] = sys.argv[1]
import tensorflow as tf
import keras
from astrozoo import distribute as azd
strategy = azd.get_strategy("multiworker", communication="ring")
out = {"replicas": azd.num_replicas(strategy)}
for name, make_loss in losses(keras, azd).items():
    with azd.scope(strategy):
        m = make_model(keras)
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss=make_loss())
    azd.prepare_model(m, strategy)
    w0 = [np.array(v) for v in m.get_weights()]
    ds = azd.shard_dataset(tf.data.Dataset.from_tensor_slices((X, Y)).batch(8), strategy, policy="data")
    m.fit(ds, epochs=1, verbose=0)
    out[name] = [(np.array(v) - a).tolist() for v, a in zip(m.get_weights(), w0)]
print("RESULT " + json.dumps(out))
"""

_DATA_PARALLEL = _COMMON + """
import keras
import jax
from astrozoo import distribute as azd

def step(make_loss):
    m = make_model(keras)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss=make_loss())
    w0 = [np.array(v) for v in m.get_weights()]
    m.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return m, [(np.array(v) - a).tolist() for v, a in zip(m.get_weights(), w0)]

out = {"devices": len(jax.devices())}
single = {name: step(f)[1] for name, f in losses(keras, azd).items()}
strategy = azd.get_strategy("data_parallel")
out["replicas"] = azd.num_replicas(strategy)
with azd.scope(strategy):
    for name, f in losses(keras, azd).items():
        m, delta = step(f)
        out[name] = {"single": single[name], "data_parallel": delta}
    kernel = m.layers[0].kernel.value
    out["kernel_sharding_devices"] = len(kernel.sharding.device_set)
print("RESULT " + json.dumps(out))
"""


def _run(script, args=(), env_extra=None, timeout=900):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    return json.loads(lines[-1][7:])


def _close(a, b, rtol=1e-4, atol=1e-6):
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.array(x), np.array(y), rtol=rtol, atol=atol)


def _not_close(a, b):
    return any(not np.allclose(np.array(x), np.array(y), rtol=1e-3, atol=1e-7) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def mnist_npz(tmp_path_factory, shared_data):
    from astrozoo.datasets import read_idx

    x = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")[:256]
    y = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")[:256]
    path = tmp_path_factory.mktemp("mnist") / "mnist256.npz"
    np.savez(path, x=x, y=y)
    return str(path)


@pytest.fixture(scope="module")
def mirrored_out(mnist_npz):
    return _run(_MIRRORED, [mnist_npz], {"KERAS_BACKEND": "tensorflow"})


def test_mirrored_strategy_matches_single_device(mirrored_out):
    out = mirrored_out
    assert out["replicas"] == 2 and out["global_batch"] == 8
    # Losses reduced by Keras (mean or sum): the single-device step.
    _close(out["mean"]["mirrored"], out["mean"]["single"])
    _close(out["sum"]["mirrored"], out["sum"]["single"])
    # A loss returning its own batch mean: the step is twice too large ...
    single, raw = out["scalar_mean"]["single"], out["scalar_mean"]["mirrored"]
    _close(raw, [2 * np.array(s) for s in single])
    assert _not_close(raw, single)
    # ... and ReplicaMeanLoss restores it.
    _close(out["scalar_mean_wrapped"]["mirrored"], single)
    _close(out["scalar_mean_wrapped"]["single"], single)
    # An astrozoo model on real digits learns under 2 replicas.
    loss = out["lenet5_loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0] * 0.75, loss


def test_yolo_loss_mirrored_matches_single_device(mirrored_out):
    if mirrored_out["yolo"] is None:
        pytest.skip("YoloLoss is not in this checkout (branch yolo)")
    # Per-image YOLO losses reduced by Keras: 2 replicas x 2 images == 1 device x 4 images.
    out = mirrored_out["yolo"]
    _close(out["mirrored"], out["single"], rtol=1e-3, atol=1e-6)
    assert any(np.abs(np.array(d)).max() > 0 for d in out["single"])


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two TensorFlow processes talking gRPC: ~2x the time of the others
def test_multiworker_two_processes_match_single_device():
    import keras

    workers = [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MULTIWORKER, azd.tf_config(workers, i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for i in range(2)
    ]
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=900)
            lines = [l for l in stdout.splitlines() if l.startswith("RESULT ")]
            assert p.returncode == 0 and lines, stderr[-4000:]
            outs.append(json.loads(lines[-1][7:]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [o["replicas"] for o in outs] == [2, 2]

    # The single-device reference, computed here (default TensorFlow backend).
    ns = {}
    exec(_COMMON, ns)
    ref = {}
    for name, make_loss in ns["losses"](keras, azd).items():
        m = ns["make_model"](keras)
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss=make_loss())
        w0 = [np.array(v) for v in m.get_weights()]
        m.fit(ns["X"], ns["Y"], batch_size=8, epochs=1, verbose=0, shuffle=False)
        ref[name] = [np.array(v) - a for v, a in zip(m.get_weights(), w0)]
    for o in outs:  # both workers hold the same, all-reduced weights
        _close(o["mean"], ref["mean"])
        _close(o["sum"], ref["sum"])
        _close(o["scalar_mean"], [2 * r for r in ref["scalar_mean"]])
        _close(o["scalar_mean_wrapped"], ref["scalar_mean"])


def test_jax_data_parallel_matches_single_device():
    pytest.importorskip("jax")
    out = _run(
        _DATA_PARALLEL,
        env_extra={"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    assert out["devices"] == 2 and out["replicas"] == 2
    assert out["kernel_sharding_devices"] == 2  # variables replicated on both devices
    for name in ("mean", "sum", "scalar_mean", "scalar_mean_wrapped"):
        # The global batch is one SPMD computation: no correction needed or applied.
        _close(out[name]["data_parallel"], out[name]["single"])


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="Unknown distribution strategy 'mirror'"):
        azd.get_strategy("mirror")
    assert azd.get_strategy(None) is None and azd.get_strategy("none") is None
    with pytest.raises(RuntimeError, match="needs the jax backend"):
        azd.get_strategy("data_parallel")
    with pytest.raises(ValueError, match="Unknown shard policy 'rows'"):
        azd.shard_dataset(None, object(), policy="rows")
    with pytest.raises(ValueError, match="per_replica_batch must be >= 1"):
        azd.global_batch_size(0, None)
    assert azd.global_batch_size(16, None) == 16
    with pytest.raises(ValueError, match="out of range for 2 workers"):
        azd.tf_config(["a:1", "b:2"], 2)
    cfg = json.loads(azd.tf_config(["a:1", "b:2"], 1))
    assert cfg == {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}


def test_replica_mean_loss_roundtrip(tmp_path):
    import keras

    loss = azd.ReplicaMeanLoss(keras.losses.MeanSquaredError(reduction="sum"))
    y_true, y_pred = np.ones((4, 3), "float32"), np.zeros((4, 3), "float32")
    assert float(loss(y_true, y_pred)) == pytest.approx(4.0)  # one replica: unchanged (4 rows x 1)
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(3)(inp))
    model.compile(optimizer="sgd", loss=loss)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again.loss, azd.ReplicaMeanLoss)
    assert float(again.loss(y_true, y_pred)) == pytest.approx(4.0)
