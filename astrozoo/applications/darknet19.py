"""Darknet-19 as CIANNA builds it (the course's ImageNet backbone and YOLO body).

Differences from Redmon's Darknet-19: every convolution is followed by CIANNA's
leaky ReLU (slope 0.05) and *then* CIANNA's group normalisation (one gamma/beta
per group, eps 1e-3); there is no batch norm. ``norm="batch"`` gives the usual
conv -> BatchNorm -> leaky ordering instead.
"""

import keras

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model

# (filters, kernel, group_size) per conv; a max-pool closes each of the first 5 blocks.
DARKNET19_BLOCKS = (
    ((32, 3, 4),),
    ((64, 3, 8),),
    ((128, 3, 8), (64, 1, 8), (128, 3, 8)),
    ((256, 3, 16), (128, 1, 16), (256, 3, 16)),
    ((512, 3, 16), (256, 1, 16), (512, 3, 16), (256, 1, 16), (512, 3, 16)),
    ((1024, 3, 32), (512, 1, 16), (1024, 3, 32), (512, 1, 16), (1024, 3, 32)),
)
NORMS = ("group", "batch", None)


def conv_unit(x, filters, kernel, group_size, norm, activation, name):
    """One Darknet unit: conv + activation + norm, in CIANNA's order for ``norm="group"``."""
    if norm == "batch":
        x = keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)
        x = keras.layers.BatchNormalization(epsilon=1e-3, name=name + "_norm")(x)
        return _utils.activation_layer(activation, name + "_act")(x)
    x = keras.layers.Conv2D(filters, kernel, padding="same", name=name)(x)
    x = _utils.activation_layer(activation, name + "_act")(x)
    if norm == "group":
        from astrozoo.layers import CiannaGroupNorm

        x = CiannaGroupNorm(group_size, name=name + "_norm")(x)
    return x


@register_model(
    "darknet19",
    task="image_classification",
    family="darknet",
    default_input_shape=(224, 224, 3),
    description="Darknet-19 with CIANNA's leaky ReLU + GroupNorm (ImageNet backbone of yolo_cianna).",
    references=(
        "Redmon & Farhadi 2017, YOLO9000: Better, Faster, Stronger, arXiv:1612.08242",
        "Cornu et al., CIANNA, github.com/Deyht/CIANNA (examples/ImageNET/imagenet_train.py)",
    ),
)
def darknet19(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    norm="group",
    activation="cianna",
    name="darknet19",
):
    """Build Darknet-19.

    Args:
        include_top: keep the 1x1 convolution to ``classes``, the global average
            pooling and the softmax.
        weights: ``None``, a registered name, a ``.weights.h5``/``.keras`` path, or a
            CIANNA ``.dat`` network file of the same layout.
        input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as in ``keras.applications``; the input may have any size >= 32 (the top
            is fully convolutional) and any number of channels without weights.
        norm: ``"group"`` (CIANNA), ``"batch"`` or ``None``.
        activation: ``"cianna"`` (leaky 0.05, CIANNA) or any Keras activation name.
    """
    if norm not in NORMS:
        raise ValueError(f"`norm` should be one of {NORMS}. Received: norm={norm!r}")
    _utils.check_pooling(pooling)
    _utils.check_classes(classes, include_top)
    spec = _utils.resolve_weights(
        "darknet19", weights, include_top, classes, classifier_activation, extra_suffixes=(".dat",)
    )
    input_shape = _utils.obtain_input_shape(
        input_shape,
        (224, 224, 3),
        min_size=32,
        include_top=include_top,
        spec=spec,
        model_name="darknet19",
        require_static=False,
    )
    img_input, inputs = _utils.make_input(input_tensor, input_shape)

    x = img_input
    for b, block in enumerate(DARKNET19_BLOCKS, start=1):
        for i, (filters, kernel, group_size) in enumerate(block, start=1):
            x = conv_unit(x, filters, kernel, group_size, norm, activation, f"block{b}_conv{i}")
        if b < len(DARKNET19_BLOCKS):
            x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)

    if include_top:
        x = keras.layers.Conv2D(classes, 1, name="predictions_conv")(x)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    else:
        x = _utils.global_pool(x, pooling, rank=2)

    model = keras.Model(inputs, x, name=name)
    if spec is not None and spec.suffix == ".dat":
        from astrozoo.io.cianna import load_dat_weights_into

        return load_dat_weights_into(model, spec.path)
    return _utils.load_into(
        model,
        spec,
        builder=darknet19,
        include_top=include_top,
        build_kwargs=dict(norm=norm, activation=activation, classifier_activation=classifier_activation),
    )
