"""Albumentations (or any numpy-level transform) inside ``tf.data``, seeded.

The bridge, :func:`map_numpy`, maps a per-example numpy function over a batched
or unbatched ``tf.data.Dataset`` with ``tf.numpy_function``. Randomness is
deterministic for a given ``seed``: each call receives its own seed drawn from a
seeded ``tf.data.Dataset.random`` stream (different at every epoch, identical
between two runs), and each worker thread works on its own copy of the
transform, so parallel calls neither race on a shared RNG nor depend on thread
scheduling. Shapes are restored with ``set_shape`` so that Keras sees static
shapes.

:func:`augment_images` applies an Albumentations pipeline (or a callable
``f(image, rng) -> image``) to the image of ``(image, label)`` elements; the
course's recipes are the presets :func:`asirra_preset`, :func:`cifar10_preset`
and :func:`gz2_preset` (``get_preset(name)``). The detection datasets reuse
:func:`map_numpy` for their bbox-aware transforms.
"""

import copy
import random
import threading

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE

__all__ = [
    "AlbumentationsImageFn",
    "asirra_preset",
    "augment_images",
    "cifar10_preset",
    "get_preset",
    "gz2_preset",
    "map_numpy",
    "PRESETS",
]


def _seed_stream(seed):
    # Same seed -> same stream for a fresh pipeline; a new stream at each epoch.
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)


def map_numpy(ds, fn, *, seed=None, batched=False, output_signature=None, num_parallel_calls=AUTOTUNE,
              deterministic=True, name=None):
    """Map a per-example numpy function over a ``tf.data.Dataset``.

    Args:
        ds: a dataset whose elements are a tensor or a tuple of tensors.
        fn: ``fn(*arrays, seed=int) -> array or tuple of arrays``, called once per
            example with numpy arrays (one per component) and an integer seed that is
            a deterministic function of ``seed``, the epoch and the example's position.
            It must be thread-safe (build per-thread state from ``seed``, as
            :class:`AlbumentationsImageFn` does).
        seed: integer seed of the whole mapping; ``None`` for a non-reproducible stream.
        batched: the elements are batches; ``fn`` is then called on each example of
            the batch and the results are stacked (so every output must keep one
            shape within a batch).
        output_signature: ``tf.TensorSpec`` (or tuple of them, without the batch
            axis) of ``fn``'s output; default: the same as its input.
        num_parallel_calls, deterministic: as in ``tf.data.Dataset.map``.
        name: optional name of the map op.

    Returns:
        The mapped dataset, with static shapes set from ``output_signature``.
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be callable. Received: fn={fn!r}")
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int or None. Received: seed={seed!r}")
    in_spec = ds.element_spec
    single = not isinstance(in_spec, tuple)
    in_specs = (in_spec,) if single else tuple(in_spec)
    for s in in_specs:
        if not isinstance(s, tf.TensorSpec):
            raise TypeError(
                "map_numpy needs elements that are a tensor or a tuple of tensors; "
                f"received element_spec={in_spec!r}."
            )
    if output_signature is None:
        out_specs = tuple(
            tf.TensorSpec(s.shape[1:] if batched else s.shape, s.dtype) for s in in_specs
        )
        out_single = single
    else:
        out_single = not isinstance(output_signature, (tuple, list))
        out_specs = (output_signature,) if out_single else tuple(output_signature)
    out_dtypes = [s.dtype for s in out_specs]

    def call_one(arrays, s):
        out = fn(*arrays, seed=int(s))
        out = (out,) if not isinstance(out, (tuple, list)) else tuple(out)
        if len(out) != len(out_specs):
            raise ValueError(
                f"The function {fn!r} returned {len(out)} arrays; expected {len(out_specs)} "
                f"(output_signature={out_specs})."
            )
        return [np.asarray(o, dtype=d.as_numpy_dtype) for o, d in zip(out, out_dtypes)]

    def np_fn(s, *arrays):
        if not batched:
            return call_one(arrays, s)
        n = arrays[0].shape[0]
        seeds = np.random.SeedSequence(int(s) & 0xFFFFFFFFFFFFFFFF).generate_state(n, dtype=np.uint32)
        results = [call_one([a[i] for a in arrays], seeds[i]) for i in range(n)]
        if n == 0:
            return [np.zeros((0,) + tuple(d if d is not None else 0 for d in spec.shape), spec.dtype.as_numpy_dtype)
                    for spec in out_specs]
        return [np.stack([r[k] for r in results]) for k in range(len(out_specs))]

    def tf_fn(s, *components):
        outs = tf.numpy_function(np_fn, [s, *components], out_dtypes, stateful=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        lead = [components[0].shape[0]] if batched else []
        for o, spec in zip(outs, out_specs):
            o.set_shape(tf.TensorShape(lead).concatenate(spec.shape))
        return outs[0] if out_single else tuple(outs)

    zipped = tf.data.Dataset.zip((_seed_stream(seed), ds))

    def unpack(s, element):
        comps = (element,) if single else tuple(element)
        return tf_fn(s, *comps)

    return zipped.map(unpack, num_parallel_calls=num_parallel_calls, deterministic=deterministic, name=name)


def _is_albumentations(t):
    try:
        import albumentations as A
    except ImportError:  # pragma: no cover
        return False
    return isinstance(t, (A.BaseCompose, A.BasicTransform))


class AlbumentationsImageFn:
    """Thread-safe, seeded per-example callable around an Albumentations transform.

    ``fn(image, *others, seed=s)`` returns ``(transform(image=image)["image"], *others)``
    with the transform's random state set from ``s``; every thread holds its own
    deep copy of the transform. A plain callable ``f(image, rng)`` (``rng`` a
    ``numpy.random.Generator``) is accepted instead of a transform.
    """

    def __init__(self, transform):
        if not (_is_albumentations(transform) or callable(transform)):
            raise TypeError(
                "`transform` must be an Albumentations transform/Compose or a callable "
                f"f(image, rng) -> image. Received: {transform!r}"
            )
        self.transform = transform
        self.is_albumentations = _is_albumentations(transform)
        self._local = threading.local()

    def _get(self):
        t = getattr(self._local, "t", None)
        if t is None:
            t = copy.deepcopy(self.transform) if self.is_albumentations else self.transform
            self._local.t = t
        return t

    def apply(self, image, seed):
        t = self._get()
        if self.is_albumentations:
            # One shared generator for the whole pipeline: cheap to make, and it
            # keeps the transforms' random draws independent of each other.
            t.set_random_state(np.random.default_rng(seed), random.Random(seed))
            return t(image=image)["image"]
        return t(image, np.random.default_rng(seed))

    def __call__(self, image, *others, seed):
        out = self.apply(image, seed)
        return (out, *others) if others else out


def augment_images(ds, transform, *, seed=None, batched=None, image_shape=None,
                   num_parallel_calls=AUTOTUNE):
    """Apply an image transform to the first component of each element of ``ds``.

    Args:
        ds: elements ``image`` or ``(image, label, ...)``, batched or not.
        transform: an Albumentations transform, a callable ``f(image, rng)``, or a
            preset name (``"asirra"``, ``"cifar10"``, ``"gz2"``; see :data:`PRESETS`).
        seed: integer seed (deterministic augmentation) or ``None``.
        batched: whether the elements are batches; guessed from the image rank
            (rank 4 = batch of HWC images) when ``None``.
        image_shape: output image shape (without batch axis) when the transform changes
            it; default: unchanged.
        num_parallel_calls: as in ``tf.data.Dataset.map``.
    """
    if isinstance(transform, str):
        spec = ds.element_spec
        first = spec[0] if isinstance(spec, tuple) else spec
        size = tuple(first.shape[-3:-1])
        if None in size:
            raise ValueError(
                f"The preset {transform!r} needs images of static size; received element_spec {spec}."
            )
        transform = get_preset(transform, image_size=size)
    fn = AlbumentationsImageFn(transform)
    spec = ds.element_spec
    specs = spec if isinstance(spec, tuple) else (spec,)
    if batched is None:
        batched = specs[0].shape.rank == 4
    signature = None
    if image_shape is not None:
        rest = [tf.TensorSpec(s.shape[1:] if batched else s.shape, s.dtype) for s in specs[1:]]
        img = tf.TensorSpec(tuple(image_shape), specs[0].dtype)
        signature = (img, *rest) if isinstance(spec, tuple) else img
    return map_numpy(ds, fn, seed=seed, batched=batched, output_signature=signature,
                     num_parallel_calls=num_parallel_calls)


# --------------------------------------------------------------------------- presets


def asirra_preset(image_size=(128, 128), *, scale=(0.3, 1.3), translate=0.3, rotate=10.0, gray_p=0.02,
                  jitter=(0.8, 1.2), hue=0.15):
    """The course's ASIRRA / CIFAR-10 augmentation (Albumentations).

    Horizontal flip (p 0.5), affine (scale 0.3-1.3, translation +-30 %, rotation
    +-10 degrees, black border), ToGray (p 0.02), ColorJitter (brightness,
    contrast, saturation 0.8-1.2, hue +-0.15). The output keeps ``image_size``.
    """
    import albumentations as A

    del image_size  # the transforms keep the input size; accepted for a uniform preset signature
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(scale=scale, translate_percent=(-translate, translate), rotate=(-rotate, rotate),
                     border_mode=0, fill=0, p=1.0),
            A.ToGray(p=gray_p),
            A.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=(-hue, hue), p=1.0),
        ]
    )


def cifar10_preset(image_size=(32, 32), **kwargs):
    """The course's CIFAR-10 augmentation: the ASIRRA recipe (see :func:`asirra_preset`)."""
    return asirra_preset(image_size, **kwargs)


def gz2_preset(image_size=None, *, rot90=True):
    """The Galaxy Zoo augmentation: horizontal and vertical flips (p 0.5 each) and,
    with ``rot90``, a random multiple of 90 degrees (galaxies have no up)."""
    import albumentations as A

    del image_size
    ts = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    if rot90:
        ts.append(A.RandomRotate90(p=1.0))
    return A.Compose(ts)


PRESETS = {"asirra": asirra_preset, "cifar10": cifar10_preset, "gz2": gz2_preset}


def get_preset(name, image_size=None, **kwargs):
    """The Albumentations pipeline of the preset ``name`` (one of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown augmentation preset {name!r}; expected one of {sorted(PRESETS)}.")
    return PRESETS[name](image_size, **kwargs)
