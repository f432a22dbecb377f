"""Builders train directly on the pipelines (a few steps each)."""

import numpy as np

import astrozoo.datasets as D
from astrozoo.applications import lenet5, resnet18, spectra1d


def test_lenet5_fits_on_mnist(shared_data):
    ds = D.mnist("test[:256]", batch_size=32, data_dir=shared_data / "mnist", shuffle=True, seed=0)
    model = lenet5()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    hist = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert hist.history["loss"][1] < hist.history["loss"][0]


def test_spectra1d_fits_on_miles(shared_data):
    ds = D.miles("train[:64]", batch_size=16, data_dir=shared_data / "miles", seed=0)
    model = spectra1d(input_shape=(4300, 1), classes=7)
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile=False)
    hist = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()


def test_resnet18_fits_on_cifar10_with_augmentation(shared_data):
    # 16 px keeps the step cheap on a 2-core CI machine; the pipeline is the object under test.
    ds = D.cifar10("test[:32]", batch_size=16, image_size=16, data_dir=shared_data / "cifar10", augment=True,
                   shuffle=True, seed=0, label_mode="categorical")
    model = resnet18(small_inputs=True, classes=10, input_shape=(16, 16, 3))
    # Eager steps: tracing ResNet-18's train step costs more than the two steps themselves.
    model.compile("adam", "categorical_crossentropy", run_eagerly=True)
    hist = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and len(hist.history["loss"]) == 1
