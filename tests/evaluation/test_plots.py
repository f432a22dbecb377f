import keras
import numpy as np
import pytest

from astrozoo.evaluation import SampleGridCallback, latent_generation_grid, latent_grid_points, latent_scatter, sample_grid


def test_sample_grid_writes_png_and_refuses_overwrite(tmp_path):
    path = tmp_path / "grid.png"
    sample_grid(np.random.default_rng(0).uniform(size=(10, 8, 8, 1)), path=path, title="t")
    assert path.stat().st_size > 0
    with pytest.raises(FileExistsError, match="overwrite"):
        sample_grid(np.zeros((4, 8, 8)), path=path)
    sample_grid(np.zeros((4, 8, 8, 3)), path=path, overwrite=True)
    with pytest.raises(ValueError, match="images"):
        sample_grid(np.zeros((4, 8, 8, 2)))


def test_latent_points_regular_and_polar():
    pts, shape = latent_grid_points("regular", n=5, limits=(-2, 2))
    assert shape == (5, 5) and pts.shape == (25, 2)
    assert pts.min() == -2 and pts.max() == 2
    pts, shape = latent_grid_points("polar", n_r=4, n_theta=6, radii=(1.0, 2.5))
    assert shape == (6, 4) and pts.shape == (24, 2)
    r = np.hypot(pts[:, 0], pts[:, 1]).reshape(6, 4)
    np.testing.assert_allclose(r, np.tile(np.linspace(1.0, 2.5, 4), (6, 1)), rtol=1e-5)
    theta = np.arctan2(pts[:, 1], pts[:, 0]).reshape(6, 4)[:, 0] % (2 * np.pi)
    np.testing.assert_allclose(theta, np.arange(6) * np.pi / 3, atol=1e-5)
    with pytest.raises(ValueError, match="mode"):
        latent_grid_points("hex")


def test_latent_scatter_and_generation_grid(tmp_path):
    z = np.random.default_rng(0).normal(size=(50, 2))
    latent_scatter(z, np.arange(50) % 10, path=tmp_path / "s.png")
    assert (tmp_path / "s.png").exists()
    inp = keras.Input((2,))
    decoder = keras.Model(inp, keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="sigmoid")(inp)))
    fig, imgs = latent_generation_grid(decoder, tmp_path / "g.png", mode="polar", n_r=3, n_theta=4)
    assert imgs.shape == (12, 4, 4, 1)
    inp3 = keras.Input((3,))
    with pytest.raises(ValueError, match="2-D latent"):
        latent_generation_grid(keras.Model(inp3, keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4)(inp3))))


def test_sample_grid_callback(tmp_path):
    class Dummy(keras.Model):
        def sample(self, n, seed=None):
            return np.random.default_rng(seed).uniform(-1, 1, size=(n, 6, 6, 1))

    cb = SampleGridCallback(tmp_path / "cb", n=4, seed=1, every=2)
    cb.set_model(Dummy())
    for epoch in range(4):
        cb.on_epoch_end(epoch)
    assert [p.split("/")[-1] for p in cb.paths] == ["samples_epoch002.png", "samples_epoch004.png"]
    with pytest.raises(ValueError, match="every"):
        SampleGridCallback(tmp_path, every=0)
