import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from astrozoo.applications import GAN, gan, get_model
from tests.helpers import roundtrip_keras

SMALL = dict(latent_dim=8, filters=8)


def _digits(shared_data, n=64):
    from astrozoo.datasets import read_idx

    x = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")[:n].astype("float32")
    return x[..., None] / 127.5 - 1.0


def test_shapes_and_defaults():
    model = gan("dcgan", **SMALL)
    assert model.generator.output_shape == (None, 28, 28, 1)
    assert model.discriminator.output_shape == (None, 1)
    assert model.d_steps == 1
    w = gan("wgan_gp", image_shape=(16, 16, 3), **SMALL)
    assert w.d_steps == 5 and w.gp_weight == 10.0
    assert w.generator.output_shape == (None, 16, 16, 3)
    assert w.discriminator.get_layer("logit").dtype_policy.name == "float32"
    imgs = w.predict(np.zeros((2, 8), "float32"), verbose=0)
    assert imgs.shape == (2, 16, 16, 3) and np.abs(imgs).max() <= 1.0


def test_sampling_reproducible():
    model = gan("dcgan", seed=0, **SMALL)
    a, b, c = model.sample(5, seed=11), model.sample(5, seed=11), model.sample(5, seed=12)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0


def test_gradient_penalty_closed_form():
    # A linear critic D(x) = <w, x> has gradient w everywhere: penalty (|w| - 1)^2.
    grads = np.stack([np.full((4, 4, 1), 0.5, "float32"), np.zeros((4, 4, 1), "float32")])
    # |g| = sqrt(16 * 0.25) = 2 -> (2 - 1)^2 = 1 ; |g| = 0 -> 1 ; mean 1
    assert float(GAN._penalty(grads)) == pytest.approx(1.0, abs=1e-5)
    g = np.full((1, 4, 4, 1), 0.25, "float32")  # norm 1 -> penalty 0
    assert float(GAN._penalty(g)) == pytest.approx(0.0, abs=1e-5)


def test_uniform_interpolation():
    model = gan("wgan_gp", seed=3, **SMALL)
    z, alphas = model._draw(2000, keras.random.SeedGenerator(1))
    a = np.concatenate([np.asarray(x) for x in alphas])
    assert len(z) == model.d_steps + 1 and len(alphas) == model.d_steps
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert abs(a.mean() - 0.5) < 0.01 and abs(a.std() - (1 / 12) ** 0.5) < 0.01
    real, fake = np.ones((2, 2, 2, 1), "float32"), np.zeros((2, 2, 2, 1), "float32")
    mixed = np.asarray(model._interpolate(real, fake, np.array([0.25, 1.0], "float32")))
    np.testing.assert_allclose(mixed[:, 0, 0, 0], [0.25, 1.0])


@pytest.mark.parametrize("kind", ["dcgan", "wgan_gp"])
def test_train_step_tensorflow_discriminator_learns(kind, shared_data):
    keras.utils.set_random_seed(0)
    real = _digits(shared_data)
    model = gan(kind, seed=0, **SMALL)
    model.compile(d_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5), g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5))
    z = keras.random.normal((64, 8), seed=5)

    def d_loss():
        fake = model.generator(z, training=False)
        return float(model._d_loss_from_logits(model.discriminator(real), model.discriminator(fake)))

    before = d_loss()
    g0 = np.asarray(model.generator.trainable_variables[0]).copy()
    hist = model.fit(real, epochs=2, batch_size=32, verbose=0).history
    assert set(hist) == ({"d_loss", "g_loss", "gp"} if kind == "wgan_gp" else {"d_loss", "g_loss"})
    assert int(model.d_optimizer.iterations) == 4 * model.d_steps
    assert int(model.g_optimizer.iterations) == 4
    assert np.abs(np.asarray(model.generator.trainable_variables[0]) - g0).max() > 0
    # The discriminator separates real digits from the (slowly moving) generator.
    assert d_loss() < before - (0.05 if kind == "dcgan" else 0.5)


def test_roundtrip_with_optimizers(tmp_path):
    model = gan("wgan_gp", seed=1, **SMALL)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-4), g_optimizer=keras.optimizers.RMSprop(3e-4))
    z = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    reloaded = roundtrip_keras(model, z, tmp_path)
    assert reloaded.kind == "wgan_gp" and reloaded.d_steps == 5
    assert isinstance(reloaded.g_optimizer, keras.optimizers.RMSprop)
    assert reloaded.g_optimizer.learning_rate.numpy() == pytest.approx(3e-4)


BAD_ARGUMENTS = [({"kind": "vanilla"}, "kind"), ({"image_shape": (30, 30, 1)}, "multiples of 4"), ({"d_steps": 0}, "d_steps")]


def test_bad_arguments():
    for kwargs, match in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=match):
            gan(**{"latent_dim": 8, **kwargs})



def test_registered():
    assert get_model("gan").task == "generation"


_OTHER_BACKEND = textwrap.dedent(
    """
    import numpy as np, keras
    from astrozoo.applications import gan
    assert keras.backend.backend() == "{backend}"
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(-1, 1, size=(32, 28, 28, 1)).astype("float32")
    x[:, 8:20, 12:16] = 1.0  # a bar: something for the critic to learn
    for kind in {kinds}:
        m = gan(kind, latent_dim=8, filters=8, seed=0, d_steps=None if kind == "dcgan" else 2)
        m.compile(d_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5), g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5))
        g0 = np.asarray(m.generator.trainable_variables[0]).copy()
        h = m.fit(x, epochs=2, batch_size=16, verbose=0).history
        assert all(np.isfinite(v).all() for v in h.values()), h
        assert int(m.d_optimizer.iterations) == 4 * m.d_steps, int(m.d_optimizer.iterations)
        assert int(m.g_optimizer.iterations) == 4
        assert np.abs(np.asarray(m.generator.trainable_variables[0]) - g0).max() > 0
        a = m.sample(3, seed=1); assert np.array_equal(a, m.sample(3, seed=1))
        print(kind, {{k: round(float(v[-1]), 3) for k, v in h.items()}})
    print("OK")
    """
)


def _run_other_backends(backends, kinds=("dcgan", "wgan_gp")):
    procs = {}
    for backend in backends:
        try:
            __import__(backend)
        except ImportError:
            continue
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
        procs[backend] = subprocess.Popen(
            [sys.executable, "-c", _OTHER_BACKEND.format(backend=backend, kinds=repr(tuple(kinds)))],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    if not procs:
        pytest.skip(f"{', '.join(backends)} not installed")
    for backend, p in procs.items():
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0 and out.strip().endswith("OK"), f"{backend}:\n{out}\n{err[-3000:]}"


def test_train_step_jax():
    """wgan_gp (gradient penalty through jax.grad, 2 critic steps) trains on the JAX backend;
    dcgan shares the same step and runs in the slow suite."""
    _run_other_backends(["jax"], kinds=("wgan_gp",))


@pytest.mark.slow
def test_train_step_jax_dcgan():
    _run_other_backends(["jax"], kinds=("dcgan",))


@pytest.mark.slow
def test_train_step_torch():
    """The same on the torch backend (autograd step; slow to start, so not in the default suite)."""
    _run_other_backends(["torch"])
