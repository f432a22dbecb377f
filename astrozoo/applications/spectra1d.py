"""The course's 1D CNN for stellar spectra.

Three convolutions of kernel 8, stride 4 and padding 2 (8, 16, 32 filters:
3776 -> 944 -> 236 -> 59 samples), then two dense layers of 256 with dropout 0.4
and a softmax over the spectral types.
"""

import keras

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model


@register_model(
    "spectra1d",
    task="spectrum_classification",
    family="spectra1d",
    default_input_shape=(3776, 1),
    description="The course's 1D CNN for stellar spectra (3 strided convs + 2 dense 256).",
    references=("Cornu, ML_OSAE_M2 course: 1D-spectra CNN notebook (Indo-US library)",),
)
def spectra1d(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=7,
    classifier_activation="softmax",
    filters=(8, 16, 32),
    kernel_size=8,
    strides=4,
    padding=2,
    dense_units=(256, 256),
    dropout=0.4,
    activation="relu",
    name="spectra1d",
):
    """Build the 1D spectral classifier.

    Args:
        include_top, weights, input_tensor, pooling, classes, classifier_activation, name:
            as in ``keras.applications``.
        input_shape: ``(length, channels)``, default ``(3776, 1)``; e.g. ``(4300, 1)`` for MILES.
        filters: filters of each strided convolution.
        kernel_size, strides, padding: of every convolution (CIANNA: 8, 4, 2).
        dense_units: sizes of the hidden dense layers; ``dropout`` after each.
        activation: hidden activation; ``"cianna"`` is CIANNA's leaky ReLU.
        classifier_activation: ``"softmax"`` for classes, ``None``/``"linear"`` for regression.
    """
    _utils.check_pooling(pooling)
    _utils.check_classes(classes, include_top)
    spec = _utils.resolve_weights("spectra1d", weights, include_top, classes, classifier_activation)
    # Shortest input that leaves at least one sample after every strided conv.
    min_len = 1
    for _ in filters:
        min_len = max((min_len - 1) * strides + kernel_size - 2 * padding, 1)
    input_shape = _utils.obtain_input_shape(
        input_shape,
        (3776, 1),
        min_size=min_len,
        include_top=include_top,
        spec=spec,
        model_name="spectra1d",
    )
    spec_input, inputs = _utils.make_input(input_tensor, input_shape)

    x = spec_input
    for i, f in enumerate(filters, start=1):
        if padding:
            x = keras.layers.ZeroPadding1D(padding, name=f"conv{i}_pad")(x)
        x = keras.layers.Conv1D(f, kernel_size, strides=strides, name=f"conv{i}")(x)
        x = _utils.activation_layer(activation, f"conv{i}_act")(x)

    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(dense_units, start=1):
            x = keras.layers.Dense(units, name=f"fc{i}")(x)
            x = _utils.activation_layer(activation, f"fc{i}_act")(x)
            x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
        x = _utils.classifier_head(x, classes, classifier_activation)
    else:
        x = _utils.global_pool(x, pooling, rank=1)

    model = keras.Model(inputs, x, name=name)
    return _utils.load_into(
        model,
        spec,
        builder=spectra1d,
        include_top=include_top,
        build_kwargs=dict(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            dense_units=dense_units,
            dropout=dropout,
            activation=activation,
            classifier_activation=classifier_activation,
        ),
    )
