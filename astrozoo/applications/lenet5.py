"""LeNet-5 as taught in the course (MNIST, CIANNA's MNIST_CIANNA notebook).

conv 5x5-8 (same) -> max-pool 2 -> conv 5x5-16 (same) -> max-pool 2 ->
dense 256 (dropout 0.5) -> dense 128 (dropout 0.2) -> softmax 10.
238,570 parameters at 28x28x1 and 10 classes.
"""

import keras

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model


@register_model(
    "lenet5",
    task="image_classification",
    family="lenet",
    default_input_shape=(28, 28, 1),
    description="The course's LeNet-5 variant for MNIST (2 conv + 3 dense, 238,570 params).",
    references=(
        "LeCun et al. 1998, Gradient-based learning applied to document recognition",
        "Cornu, ML_OSAE_M2 course: MNIST_CIANNA.ipynb",
    ),
)
def lenet5(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    activation="relu",
    name="lenet5",
):
    """Build the course's LeNet-5.

    Args:
        include_top: keep the dense layers and the classifier.
        weights: ``None``, a registered name (``astrozoo.weights.available_weights("lenet5")``)
            or a path to a ``.weights.h5`` / ``.keras`` file.
        input_tensor: optional Keras tensor to build on.
        input_shape: ``(height, width, channels)``, default ``(28, 28, 1)``; any channel
            count without weights.
        pooling: with ``include_top=False``: ``None`` (the 4D feature map), ``"avg"`` or ``"max"``.
        classes: number of classes of the classifier.
        classifier_activation: activation of the last layer (``None`` for logits).
        activation: hidden activation; ``"cianna"`` is CIANNA's leaky ReLU (slope 0.05).
        name: model name.
    """
    _utils.check_pooling(pooling)
    _utils.check_classes(classes, include_top)
    spec = _utils.resolve_weights("lenet5", weights, include_top, classes, classifier_activation)
    input_shape = _utils.obtain_input_shape(
        input_shape, (28, 28, 1), min_size=4, include_top=include_top, spec=spec, model_name="lenet5"
    )
    img_input, inputs = _utils.make_input(input_tensor, input_shape)

    x = keras.layers.Conv2D(8, 5, padding="same", name="conv1")(img_input)
    x = _utils.activation_layer(activation, "conv1_act")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(16, 5, padding="same", name="conv2")(x)
    x = _utils.activation_layer(activation, "conv2_act")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)

    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(256, name="fc1")(x)
        x = _utils.activation_layer(activation, "fc1_act")(x)
        x = keras.layers.Dropout(0.5, name="fc1_dropout")(x)
        x = keras.layers.Dense(128, name="fc2")(x)
        x = _utils.activation_layer(activation, "fc2_act")(x)
        x = keras.layers.Dropout(0.2, name="fc2_dropout")(x)
        x = _utils.classifier_head(x, classes, classifier_activation)
    else:
        x = _utils.global_pool(x, pooling, rank=2)

    model = keras.Model(inputs, x, name=name)
    return _utils.load_into(
        model,
        spec,
        builder=lenet5,
        include_top=include_top,
        build_kwargs=dict(activation=activation, classifier_activation=classifier_activation),
    )
