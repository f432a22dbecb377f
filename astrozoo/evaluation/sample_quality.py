"""Quality of generated images judged by a classifier, not by eye.

Three numbers, computed the same way for generated images, for held-out real
images and for pure noise so that they can be read side by side:

* ``confidence``: the classifier's mean max-probability (high when the
  samples look like some class);
* ``class_entropy``: entropy (nats) of the histogram of predicted classes
  (``log(10) = 2.303`` for 10 equally frequent classes; low when the model
  collapses onto few classes);
* ``frechet_distance``: the Frechet distance between Gaussians fitted to
  the classifier's penultimate-layer features of the samples and of the
  reference images (the FID recipe of Heusel et al. 2017, with the course's
  LeNet-5 in place of Inception).
"""

import warnings

import keras
import numpy as np
from scipy import linalg


def feature_extractor(classifier, layer=None):
    """A model returning ``(probabilities, features)`` of ``classifier``.

    Args:
        classifier: a functional classifier (e.g. ``astrozoo.applications.lenet5``).
        layer: name of the feature layer; default: the input of the last layer
            (the penultimate activations).
    """
    if layer is None:
        feats = classifier.layers[-1].input
    else:
        try:
            feats = classifier.get_layer(layer).output
        except ValueError:
            raise ValueError(
                f"No layer named {layer!r} in {classifier.name}; layers: {[l.name for l in classifier.layers]}"
            ) from None
    return keras.Model(classifier.inputs, [classifier.outputs[0], feats], name=f"{classifier.name}_features")


def classifier_confidence(probs):
    """Mean over images of the max class probability."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"`probs` must be (n_images, n_classes). Received shape {probs.shape}")
    return float(probs.max(axis=1).mean())


def class_histogram_entropy(probs, num_classes=None):
    """Entropy (nats) of the histogram of the predicted classes (argmax)."""
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"`probs` must be (n_images, n_classes). Received shape {probs.shape}")
    k = num_classes or probs.shape[1]
    counts = np.bincount(probs.argmax(axis=1), minlength=k).astype(np.float64)
    p = counts / counts.sum()
    p = p[p > 0]
    return float(abs(-(p * np.log(p)).sum()))


def frechet_distance(features_a, features_b=None, *, mu_b=None, sigma_b=None):
    """``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` between feature sets.

    Args:
        features_a: ``(n, d)`` features.
        features_b: ``(m, d)`` features, or give ``mu_b`` and ``sigma_b``.
    """
    a = np.asarray(features_a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"`features_a` must be (n >= 2, d). Received shape {a.shape}")
    if features_b is not None:
        b = np.asarray(features_b, dtype=np.float64)
        if b.ndim != 2 or b.shape[1] != a.shape[1]:
            raise ValueError(f"Feature widths differ: {a.shape} vs {b.shape}")
        mu_b, sigma_b = b.mean(0), np.cov(b, rowvar=False)
    elif mu_b is None or sigma_b is None:
        raise ValueError("Give `features_b` or both `mu_b` and `sigma_b`.")
    mu_a, sigma_a = a.mean(0), np.cov(a, rowvar=False)
    diff = mu_a - mu_b
    with warnings.catch_warnings():
        # ReLU features have dead units, so the covariances are often singular; sqrtm
        # still returns the right (real part of the) root, checked below.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(covmean).all():
        # Near-singular product: regularise as in the reference FID code.
        eps = 1e-6 * np.eye(a.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((sigma_a + eps) @ (sigma_b + eps))
    covmean = covmean.real
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * np.trace(covmean))


def sample_quality(images, classifier, reference_images=None, reference_features=None, batch_size=500, layer=None):
    """``{"confidence", "class_entropy", "frechet_distance", "n"}`` of ``images``.

    Args:
        images: ``(n, H, W, C)`` in the classifier's input range.
        classifier: trained classifier (softmax output).
        reference_images: real images for the Frechet distance (or give
            ``reference_features``).
        reference_features: precomputed penultimate features of real images.
        batch_size: prediction batch size.
        layer: feature layer name (default: penultimate).
    """
    images = np.asarray(images, dtype=np.float32)
    expected = tuple(classifier.inputs[0].shape[1:])
    if images.shape[1:] != expected:
        raise ValueError(f"`images` must have shape (n, *{expected}) for {classifier.name}. Received {images.shape}")
    extractor = feature_extractor(classifier, layer)
    probs, feats = extractor.predict(images, batch_size=batch_size, verbose=0)
    out = {
        "n": int(images.shape[0]),
        "confidence": classifier_confidence(probs),
        "class_entropy": class_histogram_entropy(probs),
    }
    if reference_features is None and reference_images is not None:
        _, reference_features = extractor.predict(
            np.asarray(reference_images, np.float32), batch_size=batch_size, verbose=0
        )
    if reference_features is not None:
        out["frechet_distance"] = frechet_distance(feats, reference_features)
    return out


def train_reference_classifier(x, y, epochs=8, batch_size=64, seed=0, verbose=0):
    """Train the course's LeNet-5 on ``(x, y)`` (images in [0, 1], integer labels) as the judge.

    Returns the trained classifier; its accuracy on held-out data should be
    reported next to the sample-quality numbers it produces.
    """
    from astrozoo.applications import lenet5

    keras.utils.set_random_seed(seed)
    model = lenet5(input_shape=tuple(np.asarray(x).shape[1:]), classes=int(np.max(y)) + 1)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(np.asarray(x, np.float32), np.asarray(y), epochs=epochs, batch_size=batch_size, verbose=verbose)
    return model


def quality_table(classifier, reference_images, real_images, generated, noise_seed=0, layer=None):
    """Sample-quality rows for generated sets next to real held-out images and pure noise.

    Args:
        classifier: the judge (softmax classifier, inputs in [0, 1]).
        reference_images: real images the Frechet distance is measured against.
        real_images: other real images (disjoint from the reference): the
            "as good as real data" row.
        generated: ``{name: images}`` of generated sets (in [0, 1]).
        noise_seed: seed of the uniform-noise row (as many images as ``real_images``).
        layer: feature layer (default: penultimate).

    Returns:
        ``{name: {"n", "confidence", "class_entropy", "frechet_distance"}}``
        with the rows ``"real_heldout"``, the generated names, then ``"noise"``.
    """
    extractor = feature_extractor(classifier, layer)
    _, ref_feats = extractor.predict(np.asarray(reference_images, np.float32), batch_size=500, verbose=0)
    noise = np.random.default_rng(noise_seed).uniform(0.0, 1.0, size=np.asarray(real_images).shape).astype(np.float32)
    rows = {"real_heldout": real_images, **generated, "noise": noise}
    return {
        name: sample_quality(images, classifier, reference_features=ref_feats, layer=layer)
        for name, images in rows.items()
    }
