"""ResNet-18/34/50 (He et al. 2015), with a small-image stem for 32x32 inputs."""

import keras

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model

_DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}
_BN = dict(axis=-1, epsilon=1.001e-5)


def _basic_block(x, filters, stride, name):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=name + "_0_conv")(x)
        shortcut = keras.layers.BatchNormalization(**_BN, name=name + "_0_bn")(shortcut)
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=name + "_1_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name=name + "_1_bn")(x)
    x = keras.layers.Activation("relu", name=name + "_1_relu")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name + "_2_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name=name + "_2_bn")(x)
    x = keras.layers.Add(name=name + "_add")([shortcut, x])
    return keras.layers.Activation("relu", name=name + "_out")(x)


def _bottleneck_block(x, filters, stride, name):
    out_filters = 4 * filters
    shortcut = x
    if stride != 1 or x.shape[-1] != out_filters:
        shortcut = keras.layers.Conv2D(out_filters, 1, strides=stride, use_bias=False, name=name + "_0_conv")(x)
        shortcut = keras.layers.BatchNormalization(**_BN, name=name + "_0_bn")(shortcut)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=name + "_1_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name=name + "_1_bn")(x)
    x = keras.layers.Activation("relu", name=name + "_1_relu")(x)
    # Stride on the 3x3 conv (ResNet v1.5), as torchvision and keras-hub do.
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=name + "_2_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name=name + "_2_bn")(x)
    x = keras.layers.Activation("relu", name=name + "_2_relu")(x)
    x = keras.layers.Conv2D(out_filters, 1, use_bias=False, name=name + "_3_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name=name + "_3_bn")(x)
    x = keras.layers.Add(name=name + "_add")([shortcut, x])
    return keras.layers.Activation("relu", name=name + "_out")(x)


def resnet(
    depth=50,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    small_inputs=False,
    name=None,
):
    """Build a ResNet of ``depth`` 18, 34 or 50.

    Args:
        depth: 18 or 34 (basic blocks) or 50 (bottleneck blocks).
        small_inputs: use a 3x3 stride-1 stem without max-pooling, for 32x32 images
            such as CIFAR-10 (the feature map is then 4x4 at the end, not 1x1).
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name: as in ``keras.applications.ResNet50``.
            ``include_top=True`` always ends with global average pooling.
    """
    if depth not in _DEPTHS:
        raise ValueError(f"`depth` should be one of {sorted(_DEPTHS)}. Received: depth={depth!r}")
    model_name = f"resnet{depth}"
    name = name or model_name
    _utils.check_pooling(pooling)
    _utils.check_classes(classes, include_top)
    spec = _utils.resolve_weights(model_name, weights, include_top, classes, classifier_activation)
    default = (32, 32, 3) if small_inputs else (224, 224, 3)
    input_shape = _utils.obtain_input_shape(
        input_shape,
        default,
        min_size=8 if small_inputs else 32,
        include_top=include_top,
        spec=spec,
        model_name=model_name,
        require_static=False,
    )
    img_input, inputs = _utils.make_input(input_tensor, input_shape)

    if small_inputs:
        x = keras.layers.Conv2D(64, 3, padding="same", use_bias=False, name="conv1_conv")(img_input)
        x = keras.layers.BatchNormalization(**_BN, name="conv1_bn")(x)
        x = keras.layers.Activation("relu", name="conv1_relu")(x)
    else:
        x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(img_input)
        x = keras.layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
        x = keras.layers.BatchNormalization(**_BN, name="conv1_bn")(x)
        x = keras.layers.Activation("relu", name="conv1_relu")(x)
        x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    kind, blocks = _DEPTHS[depth]
    block_fn = _basic_block if kind == "basic" else _bottleneck_block
    for stage, (n, filters) in enumerate(zip(blocks, (64, 128, 256, 512)), start=2):
        for b in range(1, n + 1):
            stride = 2 if (b == 1 and stage > 2) else 1
            x = block_fn(x, filters, stride, name=f"conv{stage}_block{b}")

    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = _utils.classifier_head(x, classes, classifier_activation)
    else:
        x = _utils.global_pool(x, pooling, rank=2)

    model = keras.Model(inputs, x, name=name)
    return _utils.load_into(
        model,
        spec,
        builder=lambda **kw: resnet(depth=depth, **kw),
        include_top=include_top,
        build_kwargs=dict(small_inputs=small_inputs, classifier_activation=classifier_activation),
    )


def _variant(depth):
    def build(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        small_inputs=False,
        name=f"resnet{depth}",
    ):
        return resnet(
            depth,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            small_inputs=small_inputs,
            name=name,
        )

    build.__name__ = f"resnet{depth}"
    build.__qualname__ = build.__name__
    build.__doc__ = f"ResNet-{depth}; same arguments as :func:`resnet` without ``depth``."
    return register_model(
        f"resnet{depth}",
        task="image_classification",
        family="resnet",
        default_input_shape=(224, 224, 3),
        description=f"ResNet-{depth} (He et al. 2015); small_inputs=True for 32x32 images.",
        references=("He et al. 2015, Deep Residual Learning for Image Recognition, arXiv:1512.03385",),
    )(build)


resnet18 = _variant(18)
resnet34 = _variant(34)
resnet50 = _variant(50)
