"""In-memory arrays as a fit-ready ``tf.data`` pipeline."""

import numpy as np
import tensorflow as tf

from astrozoo.datasets import _common as C


def from_arrays(x, y=None, *, batch_size=32, shuffle=True, seed=None, sample_weight=None, drop_remainder=False,
                augment=None, cache=False):
    """``model.fit``-ready batches from NumPy arrays (what ``fit(x, y)`` does, without its stalls).

    ``model.fit(x, y)`` on arrays builds a ``tf.data`` pipeline whose autotuner
    makes every epoch boundary wait up to ~10 s on a busy CPU; this pipeline has
    it off (:func:`astrozoo.datasets.pipeline_options`), which made
    ResNet-18 training on CIFAR-sized batches 1.5x faster per epoch here
    (docs/performance.md).

    Args:
        x: an array, or a tuple/dict of arrays, with the examples on axis 0.
        y: labels (array, tuple or dict), or ``None`` for unlabelled data.
        batch_size: examples per batch (``None``: unbatched).
        shuffle: reshuffle the whole set at each epoch.
        seed: shuffle (and ``augment``) seed.
        sample_weight: optional ``(n,)`` weights, yielded third as Keras expects.
        drop_remainder: drop the last, smaller batch.
        augment: optional Albumentations transform or callable applied to ``x``
            batch by batch (see :func:`astrozoo.datasets.augment.augment_images`).
        cache: ``True`` (memory) or a ``tf.data`` cache file name; ``False`` (default)
            reads straight from the arrays.

    Returns:
        A ``tf.data.Dataset`` of ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` batches.
    """
    C.check_common(batch_size=batch_size, seed=seed)
    parts = [x] if y is None else [x, y]
    if sample_weight is not None:
        if y is None:
            raise ValueError("`sample_weight` needs labels `y`.")
        parts.append(np.asarray(sample_weight, np.float32))
    lengths = {}
    for name, part in zip(("x", "y", "sample_weight"), parts):
        for leaf in tf.nest.flatten(part):
            shape = np.shape(leaf)
            if len(shape) == 0:
                raise ValueError(f"`{name}` must hold arrays with the examples on axis 0; received a scalar {leaf!r}.")
            lengths.setdefault(name, set()).add(shape[0])
    counts = {n for s in lengths.values() for n in s}
    if len(counts) != 1:
        raise ValueError(f"`x`, `y` and `sample_weight` must have the same number of examples; received {lengths}.")
    n = counts.pop()
    if n == 0:
        raise ValueError("`x` is empty: there is nothing to batch.")
    ds = tf.data.Dataset.from_tensor_slices(tuple(parts) if len(parts) > 1 else parts[0])
    return C.finish(ds, num_examples=n, batch_size=batch_size, shuffle=shuffle, seed=seed, cache=cache,
                    augment=augment, drop_remainder=drop_remainder, shuffle_buffer=n)
