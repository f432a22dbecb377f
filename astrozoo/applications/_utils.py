"""Shared plumbing of the builders: argument checks, inputs, pooling, weights."""

import keras

from astrozoo import weights as _weights

POOLINGS = (None, "avg", "max")


def check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(
            f"The `pooling` argument should be one of None, 'avg' or 'max'. Received: pooling={pooling!r}"
        )


def check_classes(classes, include_top):
    if include_top and (not isinstance(classes, int) or classes < 1):
        raise ValueError(
            f"`classes` should be a positive integer when `include_top=True`. Received: classes={classes!r}"
        )


def obtain_input_shape(
    input_shape,
    default_shape,
    *,
    min_size,
    include_top,
    spec=None,
    model_name="model",
    require_static=True,
):
    """Validate ``input_shape`` (channels last) against the builder's needs.

    ``default_shape`` is used when ``input_shape`` is None. With registered
    weights the channel count must match the weights, and with
    ``include_top=True`` the full shape must (the dense top fixes it).
    """
    rank = len(default_shape)
    if input_shape is None:
        input_shape = tuple(default_shape)
    try:
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`input_shape` should be a tuple of {rank} integers (channels last). "
            f"Received: input_shape={input_shape!r}"
        ) from None
    if len(input_shape) != rank:
        raise ValueError(
            f"`input_shape` should have {rank} dimensions (e.g. {tuple(default_shape)}) for "
            f"{model_name}. Received: input_shape={input_shape}"
        )
    if input_shape[-1] is None or input_shape[-1] < 1:
        raise ValueError(
            f"The channel dimension of `input_shape` must be a positive integer. "
            f"Received: input_shape={input_shape}"
        )
    spatial = input_shape[:-1]
    if include_top and require_static and any(d is None for d in spatial):
        raise ValueError(
            f"If `include_top` is True, you should specify a static `input_shape`. "
            f"Received: input_shape={input_shape}"
        )
    if any(d is not None and d < min_size for d in spatial):
        raise ValueError(
            f"Input size must be at least {min_size} along each spatial axis for {model_name}; "
            f"Received: input_shape={input_shape}"
        )
    if spec is not None and spec.is_registered:
        expected = tuple(spec.entry["input_shape"])
        if input_shape[-1] != expected[-1]:
            raise ValueError(
                f"The weights {spec.weights!r} expect {expected[-1]} input channel(s); "
                f"Received `input_shape={input_shape}`"
            )
        if include_top and require_static and input_shape != expected:
            raise ValueError(
                f"When setting `include_top=True` and loading {spec.weights!r} weights, "
                f"`input_shape` should be {expected}. Received: input_shape={input_shape}"
            )
    return input_shape


def make_input(input_tensor, input_shape, name="input"):
    """``(img_input, inputs)``: the tensor to build on and the model's source inputs."""
    if input_tensor is None:
        x = keras.Input(shape=input_shape, name=name)
        return x, x
    if not keras.backend.is_keras_tensor(input_tensor):
        x = keras.Input(tensor=input_tensor, shape=input_shape, name=name)
        return x, x
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def global_pool(x, pooling, rank):
    """Global average/max pooling for 1D or 2D feature maps (no-op for None)."""
    if pooling == "avg":
        layer = keras.layers.GlobalAveragePooling1D if rank == 1 else keras.layers.GlobalAveragePooling2D
        return layer(name="avg_pool")(x)
    if pooling == "max":
        layer = keras.layers.GlobalMaxPooling1D if rank == 1 else keras.layers.GlobalMaxPooling2D
        return layer(name="max_pool")(x)
    return x


def classifier_head(x, classes, classifier_activation):
    """Dense classifier kept in float32 under mixed precision (stable softmax)."""
    return keras.layers.Dense(
        classes, activation=classifier_activation, dtype="float32", name="predictions"
    )(x)


def resolve_weights(model_name, weights, include_top, classes, classifier_activation, extra_suffixes=()):
    """Validate ``weights`` and apply the registered class count when ``classes`` is None."""
    spec = _weights.validate_weights_arg(
        model_name,
        weights,
        include_top=include_top,
        classes=classes,
        classifier_activation=classifier_activation,
        extra_suffixes=extra_suffixes,
    )
    return spec


def _copy_weights_by_name(src, dst):
    src_layers = {layer.name: layer for layer in src.layers}
    copied = 0
    for layer in dst.layers:
        other = src_layers.get(layer.name)
        if other is None or not layer.weights:
            continue
        layer.set_weights(other.get_weights())
        copied += 1
    return copied


def load_into(model, spec, *, builder, include_top, build_kwargs):
    """Load a resolved :class:`WeightsSpec` into a freshly built ``model``.

    Registered weights are fetched (packaged, cached or downloaded). When the
    model has no top but the file has one, a reference model with the top is
    built by ``builder`` and the shared layers are copied by name.
    """
    if spec is None:
        return model
    if spec.is_registered:
        path = _weights.fetch_registered(spec, include_top=include_top)
        entry = spec.entry
        if include_top or "notop_url" in entry:
            _weights.load_weights_file(model, path, model.name)
        else:
            ref = builder(
                **{
                    **build_kwargs,
                    "include_top": True,
                    "weights": None,
                    "classes": entry["classes"],
                    "input_shape": tuple(entry["input_shape"]),
                    "input_tensor": None,
                    "pooling": None,
                }
            )
            _weights.load_weights_file(ref, path, model.name)
            _copy_weights_by_name(ref, model)
        return model
    if spec.suffix == ".keras" and not include_top:
        ref = keras.saving.load_model(str(spec.path), compile=False)
        if _copy_weights_by_name(ref, model) == 0:
            raise ValueError(
                f"No layer of {model.name} matches a layer of {str(spec.path)!r} by name."
            )
        return model
    _weights.load_weights_file(model, spec.path, model.name)
    return model


def activation_layer(activation, name):
    """A named activation layer; ``"cianna"`` is CIANNA's saturating leaky ReLU."""
    if activation == "cianna":
        from astrozoo.layers import CiannaLeakyReLU

        return CiannaLeakyReLU(name=name)
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.1, name=name)
    return keras.layers.Activation(activation, name=name)


def deserialize_members(config, *names):
    """A copy of ``config`` with the serialized Keras objects under ``names`` rebuilt (``None`` stays ``None``).

    For the ``from_config`` of models that hold other models (encoder, decoder, backbone...).
    """
    config = dict(config)
    for name in names:
        if config.get(name) is not None:
            config[name] = keras.saving.deserialize_keras_object(config[name])
    return config
