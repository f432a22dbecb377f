import numpy as np
import pytest

import keras

from astrozoo import transfer
from astrozoo.applications import darknet19, lenet5, resnet18


def _weight_ids(weights):
    return {id(w) for w in weights}


def test_blocks_follow_the_zoo_layer_names():
    r = transfer.build_finetune_model(resnet18(include_top=False, input_shape=(32, 32, 3)), classes=3)
    assert list(transfer.backbone_blocks(r)) == [
        "conv1", "conv2_block1", "conv2_block2", "conv3_block1", "conv3_block2",
        "conv4_block1", "conv4_block2", "conv5_block1", "conv5_block2",
    ]
    d = transfer.build_finetune_model(darknet19(include_top=False, input_shape=(32, 32, 3)))
    assert list(transfer.backbone_blocks(d)) == [f"block{i}" for i in range(1, 7)]
    le = transfer.build_finetune_model("lenet5", head="regression", input_shape=(28, 28, 1))
    assert list(transfer.backbone_blocks(le)) == ["conv1", "conv2"]
    assert transfer.layer_block("conv3_block2_1_bn") == "conv3_block2"
    assert transfer.layer_block("avg_pool") is None


def test_freeze_and_unfreeze_change_exactly_the_expected_weights():
    model = transfer.build_finetune_model(resnet18(include_top=False, input_shape=(32, 32, 3)), classes=2)
    head = [w for lay in model.layers if lay.name.startswith("head_") for w in lay.trainable_weights]
    assert transfer.freeze_backbone(model) == []
    assert _weight_ids(model.trainable_weights) == _weight_ids(head)

    assert transfer.unfreeze_top_blocks(model, 2) == ["conv5_block1", "conv5_block2"]
    expected = [
        w for lay in model.layers if lay.name.startswith("conv5_") for w in lay.weights if w.trainable
    ] + head
    assert _weight_ids(model.trainable_weights) == _weight_ids(expected)
    # BatchNorm moving statistics of frozen blocks are not trainable either.
    frozen_bn = model.get_layer("conv4_block2_2_bn")
    assert not frozen_bn.trainable and id(frozen_bn.weights[0]) not in _weight_ids(model.trainable_weights)

    transfer.unfreeze_top_blocks(model, "all")
    # Everything but the BatchNorm moving statistics.
    assert _weight_ids(model.trainable_weights) == {id(w) for w in model.weights if w.trainable}
    assert len(model.non_trainable_weights) == 2 * 20  # 20 BatchNorm layers in ResNet-18
    assert all(lay.trainable for lay in model.layers)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        transfer.unfreeze_top_blocks(model, 10)


def test_training_with_frozen_blocks_leaves_them_untouched():
    keras.utils.set_random_seed(0)
    model = transfer.build_finetune_model(lenet5(include_top=False, input_shape=(12, 12, 1)), classes=2)
    transfer.unfreeze_top_blocks(model, 1)
    before = {lay.name: [np.array(w) for w in lay.get_weights()] for lay in model.layers}
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(16, 12, 12, 1)).astype("float32")
    model.fit(x, np.arange(16) % 2, epochs=1, batch_size=8, verbose=0)
    for name in ("conv1", "conv2", "head_predictions"):
        changed = any(not np.array_equal(a, b) for a, b in zip(before[name], model.get_layer(name).get_weights()))
        assert changed == (name != "conv1"), name


def test_build_errors_name_the_bad_value():
    bb = lenet5(include_top=False)
    with pytest.raises(ValueError, match="head='tree'"):
        transfer.build_finetune_model(bb, head="tree")
    with pytest.raises(ValueError, match="only apply when"):
        transfer.build_finetune_model(bb, weights=None)
    with pytest.raises(ValueError, match="classes=0"):
        transfer.build_finetune_model(bb, classes=0)


def test_heads():
    bb = lenet5(include_top=False, input_shape=(16, 16, 1))
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 1)).astype("float32")
    reg = transfer.build_finetune_model(bb, "regression", outputs=3, unit_interval=True)
    y = np.asarray(reg(x))
    assert y.shape == (4, 3) and (y > 0).all() and (y < 1).all()
    tree = transfer.build_finetune_model(bb, "galaxy_zoo", schema="decals")
    p = np.asarray(tree(x))
    assert p.shape == (4, 34)
    np.testing.assert_allclose(p[:, :3].sum(-1), 1.0, atol=1e-5)
    assert tree.output.dtype == "float32"


def _one_step(optimizer, multipliers=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    h = keras.layers.Dense(4, name="low")(inputs)
    out = keras.layers.Dense(1, name="top")(h)
    model = keras.Model(inputs, out)
    if multipliers is not None:
        optimizer = transfer.LayerwiseLRDecay(optimizer, multipliers)
    model.compile(optimizer, "mse")
    x = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    before = [np.array(w) for w in model.weights]
    model.fit(x, x.sum(1, keepdims=True), batch_size=8, epochs=1, verbose=0)
    return {w.path: np.array(w) - b for w, b in zip(model.weights, before)}


@pytest.mark.parametrize("make", [lambda: keras.optimizers.SGD(0.1), lambda: keras.optimizers.Adam(0.01)])
def test_layerwise_lr_decay_scales_the_steps(make):
    plain = _one_step(make())
    scaled = _one_step(make(), {"low/kernel": 0.25, "low/bias": 0.0})
    np.testing.assert_allclose(scaled["low/kernel"], 0.25 * plain["low/kernel"], rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(scaled["low/bias"], 0.0)
    np.testing.assert_allclose(scaled["top/kernel"], plain["top/kernel"], rtol=1e-5)
    assert np.abs(plain["low/kernel"]).min() > 0


def test_layerwise_multipliers_and_serialization():
    model = transfer.build_finetune_model(resnet18(include_top=False, input_shape=(32, 32, 3)))
    m = transfer.layerwise_lr_multipliers(model, decay=0.5)
    assert m["head_predictions/kernel"] == 1.0
    assert m["conv5_block2_2_conv/kernel"] == 1.0
    assert m["conv5_block1_1_conv/kernel"] == 0.5
    assert m["conv1_conv/kernel"] == pytest.approx(0.5**8)
    m2 = transfer.layerwise_lr_multipliers(model, decay=0.5, n_blocks=2)
    assert m2["conv4_block2_1_conv/kernel"] == 0.0
    opt = transfer.LayerwiseLRDecay(keras.optimizers.AdamW(3e-4), m)
    clone = transfer.LayerwiseLRDecay.from_config(opt.get_config())
    assert isinstance(clone.inner_optimizer, keras.optimizers.AdamW)
    assert clone.multipliers == opt.multipliers
    assert float(clone.learning_rate) == pytest.approx(3e-4)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(restored, transfer.LayerwiseLRDecay)


def test_two_stage_finetune_on_real_galaxies(shared_data, tmp_path):
    d = np.load(shared_data / "galaxy_zoo" / "gz_decals_rings_zoobot_96px.npz")
    idx = np.r_[0:24, 235:259]  # rings first, then non-rings
    x = d["x"][idx, 32:64, 32:64].astype("float32") / 255.0
    x = (x - x.mean((0, 1, 2))) / x.std((0, 1, 2))
    y = d["y"][idx].astype("int32")
    assert set(y[:24]) == {1} and set(y[24:]) == {0}
    keras.utils.set_random_seed(0)
    model = transfer.build_finetune_model("lenet5", "classifier", classes=2, input_shape=(32, 32, 3), dropout=0.2)
    frozen_before = np.array(model.get_layer("conv1").kernel)
    top_before = np.array(model.get_layer("conv2").kernel)
    hist = transfer.two_stage_finetune(
        model, x, y, loss="sparse_categorical_crossentropy", metrics=["accuracy"], validation_data=(x[::4], y[::4]),
        head_epochs=1, finetune_epochs=1, n_blocks=1, lr_decay=0.5, batch_size=16, verbose=0,
    )
    assert len(hist.head.history["loss"]) == 1 and len(hist.finetune.history["loss"]) == 1
    assert len(hist.merged()["val_accuracy"]) == 2
    assert hist.finetune.epoch == [1]
    # conv1 sits below the one unfrozen block: untouched through both stages.
    np.testing.assert_array_equal(np.array(model.get_layer("conv1").kernel), frozen_before)
    assert not np.array_equal(np.array(model.get_layer("conv2").kernel), top_before)
    assert isinstance(model.optimizer, transfer.LayerwiseLRDecay)
    model.save(tmp_path / "ft.keras")
    reloaded = keras.saving.load_model(tmp_path / "ft.keras")
    np.testing.assert_allclose(reloaded.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0), atol=1e-5)
    assert isinstance(reloaded.optimizer, transfer.LayerwiseLRDecay)


def test_two_stage_finetune_validates_before_training():
    model = transfer.build_finetune_model(lenet5(include_top=False))
    with pytest.raises(ValueError, match="n_blocks=5"):
        transfer.two_stage_finetune(model, np.zeros((2, 28, 28, 1)), np.zeros(2), loss="mse", n_blocks=5)
    with pytest.raises(ValueError, match="lr_decay"):
        transfer.two_stage_finetune(model, np.zeros((2, 28, 28, 1)), np.zeros(2), loss="mse", lr_decay=0)


_OTHER_BACKEND = """
import numpy as np, keras
from astrozoo import transfer
keras.utils.set_random_seed(0)
inputs = keras.Input((3,))
out = keras.layers.Dense(1, name="top")(keras.layers.Dense(4, name="low")(inputs))
model = keras.Model(inputs, out)
model.compile(transfer.LayerwiseLRDecay(keras.optimizers.Adam(0.01), {"low/kernel": 0.25, "low/bias": 0.0}), "mse")
x = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
before = [np.array(w) for w in model.weights]
model.fit(x, x.sum(1, keepdims=True), batch_size=8, epochs=1, verbose=0)
d = {w.path: np.array(w) - b for w, b in zip(model.weights, before)}
print(keras.backend.backend(), float(np.abs(d["low/bias"]).max()), float(np.abs(d["low/kernel"]).mean()), float(np.abs(d["top/kernel"]).mean()))
"""


# A fresh interpreter per backend costs 20-40 s on 2 cores, so this runs with --run-slow.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_layerwise_lr_decay_on_other_backends(backend):
    import os
    import subprocess
    import sys

    pytest.importorskip(backend)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND=backend)
    res = subprocess.run([sys.executable, "-c", _OTHER_BACKEND], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    name, bias_step, low_step, top_step = res.stdout.split()[-4:]
    assert name == backend
    assert float(bias_step) == 0.0
    # Adam's first step is about lr for every weight: 0.25 * 0.01 below, 0.01 on top.
    assert float(low_step) == pytest.approx(0.0025, rel=0.05)
    assert float(top_step) == pytest.approx(0.01, rel=0.05)
