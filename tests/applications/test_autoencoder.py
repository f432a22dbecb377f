import keras
import numpy as np
import pytest

import astrozoo
from astrozoo.applications import autoencoder, get_model, vae
from astrozoo.applications.autoencoder import kl_divergence
from tests.helpers import roundtrip_keras

SMALL = dict(filters=(8, 16), dense_units=(32,))


def test_encoder_decoder_standalone():
    ae = autoencoder(latent_dim=3, **SMALL)
    assert ae.encoder.output_shape == (None, 3)
    assert ae.decoder.input_shape == (None, 3)
    assert ae.decoder.output_shape == (None, 28, 28, 1)
    x = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")
    z = ae.encoder.predict(x, verbose=0)
    np.testing.assert_allclose(ae.decoder.predict(z, verbose=0), ae.predict(x, verbose=0), atol=1e-5)
    v = vae(latent_dim=2, input_shape=(16, 16, 3), **SMALL)
    assert [tuple(s) for s in v.encoder.output_shape] == [(None, 2), (None, 2)]
    assert v.decoder.output_shape == (None, 16, 16, 3)


def test_course_layout_default():
    ae = autoencoder()
    names = [layer.name for layer in ae.encoder.layers]
    assert [ae.encoder.get_layer(n).filters for n in ("conv0", "down1", "conv1", "down2", "conv2")] == [16, 32, 32, 64, 64]
    assert ae.encoder.get_layer("down1").kernel_size == (4, 4) and ae.encoder.get_layer("down1").strides == (2, 2)
    assert ae.decoder.get_layer("fc_map").units == 7 * 7 * 64
    assert "fc2" in names and ae.encoder.output_shape == (None, 2)


def test_kl_closed_form():
    mu = np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 0.0]], "float32")
    logvar = np.array([[0.0, 0.0], [0.0, 0.0], [np.log(4.0), np.log(0.25)]], "float32")
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 * sum(s^2 + mu^2 - 1 - log s^2)
    expected = 0.5 * np.sum(np.exp(logvar) + mu**2 - 1.0 - logvar, axis=1)
    np.testing.assert_allclose(np.asarray(kl_divergence(mu, logvar)), expected, rtol=1e-6)
    np.testing.assert_allclose(expected[:2], [0.0, 2.5])


def test_compute_loss_is_reconstruction_plus_beta_kl():
    model = vae(beta=0.5, reconstruction_loss="mse", out_activation=None, input_shape=(8, 8, 1), **SMALL)
    x = np.full((2, 8, 8, 1), 0.5, "float32")
    y_pred = {
        "reconstruction": np.zeros((2, 8, 8, 1), "float32"),
        "z_mean": np.array([[1.0, -2.0], [0.0, 0.0]], "float32"),
        "z_log_var": np.zeros((2, 2), "float32"),
    }
    loss = float(model.compute_loss(x=x, y_pred=y_pred))
    rec = 64 * 0.25  # pixel-summed squared error
    kl = np.array([2.5, 0.0])
    assert loss == pytest.approx(np.mean(rec + 0.5 * kl), rel=1e-6)
    assert float(model.kl_tracker.result()) == pytest.approx(1.25)


def test_training_lowers_loss_and_logs_terms():
    keras.utils.set_random_seed(0)
    x = (np.random.default_rng(0).uniform(size=(64, 16, 16, 1)) > 0.5).astype("float32") * 0.8
    model = vae(input_shape=(16, 16, 1), seed=1, **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    hist = model.fit(x, epochs=4, batch_size=16, verbose=0).history
    assert {"loss", "reconstruction_loss", "kl_loss"} <= set(hist)
    assert hist["loss"][-1] < hist["loss"][0]


def test_sampling_reproducible():
    model = vae(seed=3, **SMALL)
    a, b, c = model.sample(4, seed=7), model.sample(4, seed=7), model.sample(4, seed=8)
    assert a.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0
    z = np.zeros((1, 2), "float32")
    np.testing.assert_allclose(model.sample(1, z=z), model.decoder.predict(z, verbose=0), atol=1e-6)


def test_predict_is_deterministic_mean_decoding():
    model = vae(**SMALL)
    x = np.random.default_rng(1).uniform(size=(3, 28, 28, 1)).astype("float32")
    mu, _ = model.encoder.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.decoder.predict(mu, verbose=0), atol=1e-6)
    out = model(x)  # the training forward pass: reparameterised z
    assert set(out) == {"reconstruction", "z_mean", "z_log_var", "z"}


def test_roundtrips(tmp_path):
    x = np.random.default_rng(2).uniform(size=(2, 28, 28, 1)).astype("float32")
    for model in (autoencoder(**SMALL), vae(beta=2.0, seed=4, **SMALL)):
        reloaded = roundtrip_keras(model, x, tmp_path)
        assert reloaded.encoder.name == model.encoder.name
    assert reloaded.beta == 2.0 and reloaded.seed == 4


def test_mixed_precision_float32_outputs():
    astrozoo.set_precision("mixed_bfloat16")
    model = vae(**SMALL)
    assert model.encoder.get_layer("conv1").compute_dtype == "bfloat16"
    out = model(np.zeros((1, 28, 28, 1), "float32"))
    assert out["reconstruction"].dtype == "float32" and out["z_mean"].dtype == "float32"


BAD_ARGUMENTS = [
        (vae, {"latent_dim": 0}, "latent_dim"),
        (vae, {"input_shape": (30, 30, 1)}, "multiple"),
        (vae, {"reconstruction_loss": "l1"}, "reconstruction_loss"),
        (vae, {"out_activation": None}, "bce"),
        (autoencoder, {"filters": ()}, "filters"),
    ]


def test_bad_arguments():
    for builder, kwargs, match in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=match):
            builder(**kwargs)



def test_registered():
    assert get_model("vae").task == "generation"
    assert get_model("autoencoder").family == "autoencoder"
