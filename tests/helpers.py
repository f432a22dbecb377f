"""Shared checks for builders (the keras-hub `run_backbone_test` pattern)."""

import numpy as np


def roundtrip_keras(model, x, tmp_path, atol=1e-6):
    """Save to ``.keras``, reload, and check identical predictions."""
    import keras

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    a = np.asarray(model.predict(x, verbose=0))
    b = np.asarray(reloaded.predict(x, verbose=0))
    np.testing.assert_allclose(a, b, atol=atol)
    return reloaded


def check_predict_numpy_and_tfdata(model, x):
    import tensorflow as tf

    a = np.asarray(model.predict(x, verbose=0))
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2)
    b = np.asarray(model.predict(ds, verbose=0))
    # Batches of another size take other oneDNN kernels: agreement to float32 round-off only.
    np.testing.assert_allclose(a, b, atol=1e-4)
    return a
