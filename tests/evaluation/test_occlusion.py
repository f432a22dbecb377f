import numpy as np
import pytest

import keras

from astrozoo.evaluation import occlusion_map, plot_occlusion


def _corner_model():
    """Two-class softmax that only looks at the top-left 4x4 pixels of an 8x8 image."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Cropping2D(((0, 4), (0, 4)))(inputs)
    x = keras.layers.Flatten()(x)
    dense = keras.layers.Dense(2, activation="softmax")
    out = dense(x)
    dense.set_weights([np.tile([[0.3, -0.3]], (16, 1)).astype("float32"), np.zeros(2, "float32")])
    return keras.Model(inputs, out)


class _Counting:
    def __init__(self, model):
        self.model, self.calls = model, 0

    def predict(self, x, **kwargs):
        self.calls += 1
        return self.model.predict(x, **kwargs)


def test_map_is_zero_where_the_model_does_not_look():
    model = _Counting(_corner_model())
    image = np.ones((8, 8, 1), "float32")
    heat, grid, base = occlusion_map(model, image, class_index=0, window=2, stride=2, fill=0.0, batch_size=5, return_grid=True)
    assert heat.shape == (8, 8) and grid.shape == (4, 4)
    assert base == pytest.approx(1 / (1 + np.exp(-0.3 * 2 * 16)), rel=1e-5)
    assert (heat[:4, :4] > 0).all()
    np.testing.assert_array_equal(heat[4:, :], 0.0)
    np.testing.assert_array_equal(heat[:, 4:], 0.0)
    # Batched: one call for the baseline, then ceil(16 / 5) = 4 for the windows.
    assert model.calls == 1 + 4
    # Each window of the corner hides 4 of 16 inputs.
    p_occ = 1 / (1 + np.exp(-0.3 * 2 * 12))
    np.testing.assert_allclose(grid[:2, :2], base - p_occ, rtol=1e-4)


def test_fills_and_argument_errors():
    model = _corner_model()
    image = np.random.default_rng(0).uniform(size=(8, 8)).astype("float32")
    a = occlusion_map(model, image, window=3, stride=2, fill="noise", seed=1)
    b = occlusion_map(model, image, window=3, stride=2, fill="noise", seed=1)
    np.testing.assert_array_equal(a, b)
    m = occlusion_map(model, image, window=3, stride=2, fill="mean")
    assert m.shape == (8, 8) and np.isfinite(m).all()
    with pytest.raises(ValueError, match="fill='zeros'"):
        occlusion_map(model, image, fill="zeros")
    with pytest.raises(ValueError, match="larger than the image"):
        occlusion_map(model, image, window=9)
    with pytest.raises(ValueError, match="without a batch axis"):
        occlusion_map(model, image[None, ..., None])
    with pytest.raises(ValueError, match="class_index=2"):
        occlusion_map(model, image, class_index=2)


def test_map_rises_on_mnist_digits(shared_data, tmp_path):
    from astrozoo.applications import lenet5
    from astrozoo.datasets import read_idx

    x = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")[..., None].astype("float32") / 255.0
    y = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").astype("int32")
    keras.utils.set_random_seed(0)
    model = lenet5(input_shape=(28, 28, 1), classes=10)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:2000], y[:2000], batch_size=64, epochs=2, verbose=0)
    acc = model.evaluate(x[9000:9500], y[9000:9500], verbose=0)[1]
    assert acc > 0.9
    on, off = [], []
    for i in range(9000, 9008):
        # Filling with the background value hides strokes without drawing new ones.
        heat = occlusion_map(model, x[i], class_index=int(y[i]), window=6, stride=2, fill=0.0)
        digit = x[i, ..., 0] > 0.5
        border = np.zeros((28, 28), bool)
        border[:3], border[-3:], border[:, :3], border[:, -3:] = True, True, True, True
        on.append(heat[digit].mean())
        off.append(heat[border].mean())
    on, off = np.array(on), np.array(off)
    # Measured: digit 0.116 on average, border 0.016.
    assert on.mean() > 0.05 and on.mean() > 4 * abs(off.mean())
    assert (on > off).sum() >= 6
    path = tmp_path / "occ.png"
    plot_occlusion(x[9000], heat, path, title="digit")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        plot_occlusion(x[9000], heat, path)
