import keras
import numpy as np
import pytest

from astrozoo.applications import lenet5
from astrozoo.evaluation import (
    class_histogram_entropy,
    classifier_confidence,
    feature_extractor,
    frechet_distance,
    quality_table,
    sample_quality,
)


def test_frechet_distance_matches_gaussian_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    b = rng.normal(size=(20000, 3)) * np.array([2.0, 1.0, 0.5]) + np.array([1.0, 0.0, -1.0])
    # Diagonal covariances: |dmu|^2 + sum (s_a - s_b)^2 = 2 + (1 + 0 + 0.25)
    assert frechet_distance(a, b) == pytest.approx(3.25, abs=0.08)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    mu, sigma = b.mean(0), np.cov(b, rowvar=False)
    assert frechet_distance(a, mu_b=mu, sigma_b=sigma) == pytest.approx(frechet_distance(a, b))


def test_frechet_distance_singular_features():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 6))
    a[:, :3] = 0.0  # dead ReLU units: singular covariance
    b = a + np.array([0, 0, 0, 1.0, 0, 0])
    assert frechet_distance(a, b) == pytest.approx(1.0, abs=1e-3)


def test_confidence_and_entropy():
    probs = np.eye(10)[np.arange(100) % 10] * 0.9 + 0.01
    assert classifier_confidence(probs) == pytest.approx(0.91)
    assert class_histogram_entropy(probs) == pytest.approx(np.log(10))
    collapsed = np.tile(np.eye(10)[3], (50, 1))
    assert class_histogram_entropy(collapsed) == pytest.approx(0.0)
    two = np.eye(10)[[0, 1] * 10]
    assert class_histogram_entropy(two) == pytest.approx(np.log(2))


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((2, 3, 4))])
def test_bad_shapes(bad):
    with pytest.raises(ValueError, match="n_images, n_classes"):
        classifier_confidence(bad)
    with pytest.raises(ValueError, match="n_images, n_classes"):
        class_histogram_entropy(bad)


def test_quality_table_rows_and_features(shared_data):
    from astrozoo.datasets import read_idx

    x = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")[:300, ..., None].astype("float32") / 255
    keras.utils.set_random_seed(0)
    clf = lenet5()
    ext = feature_extractor(clf)
    probs, feats = ext.predict(x[:4], verbose=0)
    assert probs.shape == (4, 10) and feats.shape == (4, 128)  # fc2 activations (penultimate)
    table = quality_table(clf, x[:150], x[150:250], {"copy": x[150:250]})
    assert list(table) == ["real_heldout", "copy", "noise"]
    assert table["copy"] == pytest.approx(table["real_heldout"])
    # The same classifier sees real digits as closer to real digits than uniform noise.
    assert table["noise"]["frechet_distance"] > table["real_heldout"]["frechet_distance"]
    with pytest.raises(ValueError, match="shape"):
        sample_quality(np.zeros((2, 14, 14, 1)), clf)
