"""scikit-learn's bundled handwritten digits as 28x28 MNIST-like images (offline demo data)."""

import numpy as np


def load_digits_28(test_size=0.25, seed=0):
    """The 1,797 real 8x8 digits of scikit-learn (UCI optdigits), made MNIST-like.

    Each 8x8 image (values 0..16) is scaled to [0, 1], resized to 20x20
    (bilinear) and centred in a 28x28 frame, as MNIST digits are. The split is
    stratified by class: ``test_size`` of the images (450 of 1,797 by default)
    go to the test set, drawn with ``seed``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` with ``x`` float32 ``(N, 28, 28, 1)``
        in [0, 1] and ``y`` int32 labels 0..9.
    """
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype("float32") / 16.0)[..., None]
    x = tf.image.resize(x, (20, 20), method="bilinear").numpy()
    x = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    y = d.target.astype("int32")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return (x_tr, y_tr), (x_te, y_te)
