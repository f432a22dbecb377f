"""The course's CIFAR-10 and ASIRRA (cats vs dogs) CNNs (CIANNA notebooks).

Each block is conv (linear) -> max-pool 2 -> CIANNA group norm -> CIANNA leaky
ReLU, with a 3x3-1x1-3x3 "bottleneck" triple in the deeper blocks; a 1x1
convolution to the classes, global average pooling and a softmax close the
network (no dense layer):

    CIFAR-10 (32x32):  16 | 32 | 64 | 128-64-128 | 1x1-10
    ASIRRA (128x128):  16 | 32 | 64 | 128-64-128 | 192-96-192 | 1x1-2

Group sizes (channels per group) are 2, 2, 4, 4, 8. Inside a triple the first
two convolutions use CIANNA's leaky ReLU and the third is linear, as in the
notebooks (`CIFAR_10.ipynb`, `ASIRRA_CIANNA.ipynb` of Deyht/ML_OSAE_M2). The
activation follows the group norm (CIANNA's CUDA semantics). Inputs are scaled
as in the course: ``(pixel - 100) / 155``.
"""

import keras

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model
from astrozoo.layers import CiannaGroupNorm

# (filters of the block: one int or a (3x3, 1x1, 3x3) triple, group size)
CIFAR10_BLOCKS = ((16, 2), (32, 2), (64, 4), ((128, 64, 128), 4))
ASIRRA_BLOCKS = CIFAR10_BLOCKS + (((192, 96, 192), 8),)


def _check_blocks(blocks):
    try:
        parsed = [(f if isinstance(f, (tuple, list)) else (f,), int(g)) for f, g in blocks]
    except (TypeError, ValueError):
        raise ValueError(
            f"`blocks` should be a sequence of (filters, group_size) pairs, where filters is an int "
            f"or a (3x3, 1x1, 3x3) triple. Received: blocks={blocks!r}"
        ) from None
    for filters, group in parsed:
        if len(filters) not in (1, 3) or any(int(f) < 1 for f in filters):
            raise ValueError(f"Each block's filters should be an int or a triple of ints >= 1. Received: {filters!r}")
        if filters[-1] % group:
            raise ValueError(
                f"The last convolution of a block ({filters[-1]} filters) must be a multiple of its "
                f"group_size ({group}). Received: blocks={blocks!r}"
            )
    return [(tuple(int(f) for f in filters), group) for filters, group in parsed]


def cianna_cnn(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    blocks=CIFAR10_BLOCKS,
    name="cianna_cnn",
):
    """Build a course CNN of conv / max-pool / group-norm blocks (any depth).

    Args:
        include_top: keep the 1x1 classifier convolution, the global average
            pooling and the softmax.
        weights: ``None`` or a path to a ``.weights.h5`` / ``.keras`` file.
        input_tensor: optional Keras tensor to build on.
        input_shape: ``(height, width, channels)``, default ``(32, 32, 3)``; the
            spatial size must be at least ``2 ** len(blocks)``.
        pooling: with ``include_top=False``: ``None`` (the feature map), ``"avg"`` or ``"max"``.
        classes: number of classes.
        classifier_activation: activation after the global pooling (``None`` for logits).
        blocks: ``(filters, group_size)`` per block, ``filters`` an int (one 3x3
            convolution) or a ``(3x3, 1x1, 3x3)`` triple; every block ends with a
            max-pool of 2, CIANNA group norm and CIANNA's leaky ReLU.
        name: model name.
    """
    _utils.check_pooling(pooling)
    _utils.check_classes(classes, include_top)
    parsed = _check_blocks(blocks)
    spec = _utils.resolve_weights("cianna_cnn", weights, include_top, classes, classifier_activation)
    input_shape = _utils.obtain_input_shape(
        input_shape,
        (32, 32, 3),
        min_size=2 ** len(parsed),
        include_top=include_top,
        spec=spec,
        model_name=name,
        require_static=False,
    )
    img_input, inputs = _utils.make_input(input_tensor, input_shape)

    x = img_input
    for b, (filters, group) in enumerate(parsed, start=1):
        kernels = (3,) if len(filters) == 1 else (3, 1, 3)
        for c, (f, k) in enumerate(zip(filters, kernels), start=1):
            x = keras.layers.Conv2D(f, k, padding="same", name=f"block{b}_conv{c}")(x)
            if c < len(filters):
                x = _utils.activation_layer("cianna", f"block{b}_conv{c}_act")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        x = CiannaGroupNorm(group, name=f"block{b}_norm")(x)
        x = _utils.activation_layer("cianna", f"block{b}_act")(x)

    if include_top:
        x = keras.layers.Conv2D(classes, 1, name="classifier_conv")(x)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    else:
        x = _utils.global_pool(x, pooling, rank=2)

    model = keras.Model(inputs, x, name=name)
    return _utils.load_into(
        model,
        spec,
        builder=cianna_cnn,
        include_top=include_top,
        build_kwargs=dict(blocks=blocks, classifier_activation=classifier_activation),
    )


@register_model(
    "cifar10_cnn",
    task="image_classification",
    family="cianna_cnn",
    default_input_shape=(32, 32, 3),
    description="The course's CIFAR-10 CNN: 4 conv/max-pool/group-norm blocks, 1x1-10, global average pooling.",
    references=(
        "Cornu, ML_OSAE_M2 course: CIFAR_10.ipynb (reference model 11.27% test error)",
        "Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images",
    ),
)
def cifar10_cnn(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="cifar10_cnn",
):
    """The course's CIFAR-10 network (32x32x3 inputs, 10 classes).

    The arguments are those of :func:`cianna_cnn` (without ``blocks``):
    ``include_top``, ``weights``, ``input_tensor``, ``input_shape``,
    ``pooling``, ``classes``, ``classifier_activation`` and ``name``.
    """
    return cianna_cnn(
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape or (32, 32, 3),
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        blocks=CIFAR10_BLOCKS,
        name=name,
    )


@register_model(
    "asirra_cnn",
    task="image_classification",
    family="cianna_cnn",
    default_input_shape=(128, 128, 3),
    description="The course's ASIRRA cats-vs-dogs CNN: the CIFAR-10 network plus a 192-96-192 block, 1x1-2.",
    references=(
        "Cornu, ML_OSAE_M2 course: ASIRRA_CIANNA.ipynb (reference model 1.76% test error)",
        "Elson et al. 2007, Asirra: a CAPTCHA that exploits interest-aligned manual image categorization",
    ),
)
def asirra_cnn(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=2,
    classifier_activation="softmax",
    name="asirra_cnn",
):
    """The course's ASIRRA (cats vs dogs) network (128x128x3 inputs, 2 classes).

    The arguments are those of :func:`cianna_cnn` (without ``blocks``):
    ``include_top``, ``weights``, ``input_tensor``, ``input_shape``,
    ``pooling``, ``classes``, ``classifier_activation`` and ``name``.
    """
    return cianna_cnn(
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape or (128, 128, 3),
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        blocks=ASIRRA_BLOCKS,
        name=name,
    )
