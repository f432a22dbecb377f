"""MNIST: 28x28 grey digits, from TensorFlow Datasets or from the IDX files on disk."""

import pathlib

import numpy as np
import tensorflow as tf

from astrozoo.datasets import _common as C
from astrozoo.datasets._idx import read_idx
from astrozoo.datasets.registry import register_dataset

URL = "https://storage.googleapis.com/cvdf-datasets/mnist/ (mirror of yann.lecun.com/exdb/mnist)"
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASS_NAMES = [str(i) for i in range(10)]


def _find(folder, stem):
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        p = folder / name
        if p.is_file():
            return p
    raise C.missing_file_error(folder / (stem + ".gz"), "MNIST", URL)


def load_mnist_arrays(data_dir, split="test"):
    """``(images uint8 (N, 28, 28), labels uint8 (N,))`` of ``split`` from a folder of IDX files."""
    folder = C.check_dir(data_dir, "MNIST", URL)
    if split not in _FILES:
        raise ValueError(f"MNIST files exist for the splits {tuple(_FILES)}; received split={split!r}.")
    img_path = _find(folder, _FILES[split][0])
    lab_path = _find(folder, _FILES[split][1])
    x = read_idx(img_path)
    y = read_idx(lab_path)
    if x.ndim != 3 or y.ndim != 1:
        raise ValueError(f"Unexpected IDX shapes: {img_path} {x.shape}, {lab_path} {y.shape}.")
    if len(x) != len(y):
        raise ValueError(
            f"MNIST image/label count mismatch: {img_path} holds {len(x)} images but {lab_path} "
            f"holds {len(y)} labels."
        )
    return x, y


@register_dataset(
    "mnist",
    task="image_classification",
    source="TFDS 'mnist', or the IDX files (train-/t10k-images-idx3-ubyte[.gz], ...-labels-idx1-ubyte[.gz])",
    licence="CC BY-SA 3.0 (Y. LeCun & C. Cortes)",
    size="70,000 grey 28x28 images (60,000 train / 10,000 test), 11 MB compressed",
    splits=("train", "test"),
    builder="lenet5",
    description="Handwritten digits; the course's first CNN practical (MNIST_CIANNA).",
    url=URL,
    tfds_name="mnist",
    references=("LeCun et al. 1998, Proc. IEEE 86, 2278",),
)
def mnist(split="train", batch_size=32, image_size=None, augment=None, shuffle=None, seed=None, cache=True,
          data_dir=None, label_mode="int", rescale="unit", drop_remainder=False, with_info=False,
          tfds_kwargs=None):
    """MNIST as ``(image, label)`` batches for ``model.fit``.

    Images are float32 ``(28, 28, 1)`` in ``[0, 1]`` (``rescale="unit"``), which is
    what :func:`astrozoo.applications.lenet5` expects; labels are int class indices
    (``label_mode="categorical"`` gives one-hot float32).

    Args:
        split: ``"train"`` or ``"test"``, optionally sliced (``"train[:50000]"``,
            ``"train[-10%:]"``) to carve out a validation set.
        batch_size: examples per batch; ``None`` for unbatched examples.
        image_size: ``(height, width)`` or int to resize to (e.g. 32); default 28x28.
        augment: ``None``/``False``; an Albumentations transform, a callable
            ``f(image_uint8, rng)`` or a preset name, applied after the cache.
        shuffle: shuffle the examples (default: only for ``"train"``).
        seed: seed of the shuffle and of the augmentation.
        cache: ``True`` (memory), a file path, or ``False``.
        data_dir: folder holding the IDX files (gzipped or not); ``None`` loads
            TFDS ``mnist`` (downloaded once into ``~/tensorflow_datasets``).
        label_mode: ``"int"`` or ``"categorical"``.
        rescale: pixel scaling, one of :data:`astrozoo.datasets.RESCALE_MODES` or a callable.
        drop_remainder: drop the last incomplete batch.
        with_info: also return a dict (class names, number of examples, source).
        tfds_kwargs: extra keyword arguments of ``tfds.load`` (e.g. ``data_dir``, ``download``).
    """
    C.check_common(batch_size, seed, label_mode, rescale)
    name, start, stop = C.parse_split(split, tuple(_FILES))
    size = C.check_image_size(image_size)
    aug = C.resolve_augment(augment, "cifar10", size or (28, 28))
    if data_dir is None:
        ds, tinfo = C.load_tfds("mnist", split, tfds_kwargs, "MNIST",
                                f"pass data_dir= a folder with the IDX files from {URL}")
        n = C.tfds_num_examples(tinfo, split)
        source = "tfds:mnist"
    else:
        x, y = load_mnist_arrays(data_dir, name)
        idx = C.slice_indices(len(x), start, stop)
        x, y = x[idx][..., None], y[idx].astype(np.int64)
        n = len(x)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        source = str(pathlib.Path(data_dir))

    def prep(img, lab):
        img = tf.reshape(img, [28, 28, 1]) if size is None else C.resize_uint8(tf.reshape(img, [28, 28, 1]), size)
        return img, tf.cast(lab, tf.int64)

    ds = ds.map(prep, num_parallel_calls=C.AUTOTUNE)
    ds = C.finish(ds, num_examples=n, batch_size=batch_size, shuffle=C.default_shuffle(shuffle, name), seed=seed,
                  cache=cache, augment=aug, map_x=lambda t: C.rescale_images(t, rescale), num_classes=10,
                  label_mode=label_mode, drop_remainder=drop_remainder)
    if with_info:
        return ds, C.make_info(class_names=CLASS_NAMES, num_examples=n, source=source,
                               image_shape=(*(size or (28, 28)), 1), rescale=rescale)
    return ds
