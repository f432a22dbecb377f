"""Floating-point operations per image of a Keras model (forward pass).

Conventions (those of most papers and of ``fvcore``/``ptflops`` with MACs x 2):
a multiply-add counts as 2 FLOPs, so a convolution costs
``2 * kernel_volume * in_channels / groups * out_channels`` per output position,
plus one FLOP per output for the bias. Element-wise layers (activations, adds,
normalisations) count a few FLOPs per output element and pooling counts one per
window element; they are small next to the convolutions. Dropout, reshapes and
input layers are free. A training step costs about 3x the forward FLOPs
(forward, gradient w.r.t. inputs, gradient w.r.t. weights).
"""

import math

import keras

# FLOPs per output element of element-wise layers.
_ELEMENTWISE = {
    "Activation": 1,
    "ReLU": 1,
    "LeakyReLU": 2,
    "ELU": 3,
    "PReLU": 2,
    "Softmax": 3,
    "CiannaLeakyReLU": 4,
    "Add": 1,
    "Subtract": 1,
    "Multiply": 1,
    "Average": 1,
    "Maximum": 1,
    "Minimum": 1,
    "Rescaling": 2,
    "Normalization": 2,
    # Inference-time cost; the statistics are one pass more in training.
    "BatchNormalization": 2,
    "LayerNormalization": 5,
    "GroupNormalization": 5,
    "CiannaGroupNorm": 5,
    "UnitNormalization": 3,
}
_FREE = {
    "InputLayer",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Concatenate",
    "Identity",
    "Lambda",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
}


def _per_image(shape, layer_name):
    dims = list(shape)[1:]
    if any(d is None for d in dims):
        raise ValueError(
            f"count_flops needs static shapes; layer {layer_name!r} has shape {tuple(shape)}. "
            "Build the model with a fixed input_shape (e.g. input_shape=(224, 224, 3))."
        )
    return math.prod(dims)


def _shapes(tensors):
    if isinstance(tensors, dict):
        tensors = list(tensors.values())
    if not isinstance(tensors, (list, tuple)):
        tensors = [tensors]
    return [tuple(t.shape) for t in keras.tree.flatten(tensors)]


def _layer_flops(layer, in_shapes, out_shapes):
    cls = type(layer).__name__
    out = out_shapes[0]
    out_n = sum(_per_image(s, layer.name) for s in out_shapes)
    if cls in _FREE:
        return 0
    if isinstance(layer, keras.Model):
        return count_flops(layer)
    if isinstance(layer, keras.layers.Dense):
        fan_in = in_shapes[0][-1]
        return (2 * fan_in + (1 if layer.use_bias else 0)) * out_n
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        k = math.prod(layer.kernel_size)
        return (2 * k + (1 if layer.use_bias else 0)) * out_n
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        k = math.prod(layer.kernel_size)
        cin = in_shapes[0][-1] if layer.data_format == "channels_last" else in_shapes[0][1]
        mult = layer.depth_multiplier
        spatial = out_n // layer.filters
        return 2 * k * cin * mult * spatial + 2 * cin * mult * out_n + (out_n if layer.use_bias else 0)
    if isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)):
        k = math.prod(layer.kernel_size)
        in_n = _per_image(in_shapes[0], layer.name)
        return 2 * k * layer.filters * in_n + (out_n if layer.use_bias else 0)
    if hasattr(layer, "kernel_size") and hasattr(layer, "filters"):  # Conv1D/2D/3D and subclasses
        k = math.prod(layer.kernel_size)
        channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
        cin = in_shapes[0][-1] if channels_last else in_shapes[0][1]
        groups = getattr(layer, "groups", 1) or 1
        return (2 * k * cin // groups + (1 if layer.use_bias else 0)) * out_n
    if "Pooling" in cls:
        if "Global" in cls:
            return _per_image(in_shapes[0], layer.name)
        return math.prod(layer.pool_size) * out_n
    if cls in _ELEMENTWISE:
        return _ELEMENTWISE[cls] * out_n
    # Unknown custom layers: one FLOP per output element (a lower bound).
    return out_n


def count_flops(model):
    """Forward-pass FLOPs per input example (image, spectrum, cube) of ``model``.

    Args:
        model: a built functional or Sequential ``keras.Model`` with static
            input shapes (nested models are counted recursively).

    Returns:
        An ``int``: floating-point operations for one example (a multiply-add
        counts 2). Multiply by 3 for a training step.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"count_flops expects a keras.Model, got {type(model).__name__}.")
    if isinstance(model, keras.Sequential) and not model.built:
        raise ValueError(f"Sequential model {model.name!r} is not built: give it an Input or call build() first.")
    if isinstance(model, keras.Sequential):
        model = model._functional
    by_depth = getattr(model, "_nodes_by_depth", None)
    if by_depth is None:  # a subclassed model: no graph to walk
        raise ValueError(
            f"count_flops needs a functional or Sequential model; {model.name!r} is a subclassed "
            f"{type(model).__name__}."
        )
    total = 0
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            layer = node.operation
            if isinstance(layer, keras.layers.InputLayer) or not node.input_tensors:
                continue
            total += _layer_flops(layer, _shapes(node.input_tensors), _shapes(node.outputs))
    return int(total)
