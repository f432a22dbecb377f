"""U-Net (Ronneberger et al. 2015): encoder-decoder with concatenated skips.

Used for segmentation (softmax / sigmoid head), image regression such as
denoising (linear head), and, with ``time_embedding_dim``, as the noise
predictor of :func:`astrozoo.applications.ddpm` (the course's DDPM U-Net:
2 convs per level, strided 2x2 downsampling, transposed-conv upsampling,
concatenation, 1x1 linear head).
"""

import os

import keras

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model
from astrozoo.layers.embedding import SinusoidalEmbedding

UPSAMPLINGS = ("transpose", "resize")
DOWNSAMPLINGS = ("conv", "max")
NORMALIZATIONS = (None, "group", "batch")


def _level_filters(filters, depth):
    if isinstance(filters, int):
        if filters < 1:
            raise ValueError(f"`filters` must be a positive integer. Received: filters={filters}")
        return [filters * 2**i for i in range(depth + 1)]
    filters = list(filters)
    if len(filters) != depth + 1 or any(not isinstance(f, int) or f < 1 for f in filters):
        raise ValueError(
            f"`filters` must be an int or {depth + 1} positive ints (one per level, depth={depth}). "
            f"Received: filters={filters}"
        )
    return filters


def _norm(x, normalization, groups, name):
    if normalization == "group":
        ch = x.shape[-1]
        g = groups
        while ch % g:  # largest group count <= groups that divides the channels
            g -= 1
        return keras.layers.GroupNormalization(groups=g, name=name)(x)
    if normalization == "batch":
        return keras.layers.BatchNormalization(name=name)(x)
    return x


def _conv_block(x, f, n, prefix, *, activation, normalization, groups, temb, dropout):
    for c in range(n):
        x = keras.layers.Conv2D(f, 3, padding="same", name=f"{prefix}_conv{c + 1}")(x)
        if c == 0 and temb is not None:
            # Time conditioning: a per-channel shift after the first conv of every block.
            shift = keras.layers.Dense(f, name=f"{prefix}_time")(temb)
            shift = keras.layers.Reshape((1, 1, f), name=f"{prefix}_time_reshape")(shift)
            x = keras.layers.Add(name=f"{prefix}_time_add")([x, shift])
        x = _norm(x, normalization, groups, f"{prefix}_norm{c + 1}")
        x = _utils.activation_layer(activation, f"{prefix}_act{c + 1}")(x)
        if dropout and c == 0:
            x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    return x


@register_model(
    "unet",
    task="segmentation",
    family="unet",
    default_input_shape=(28, 28, 1),
    description="U-Net encoder-decoder with concatenated skips (segmentation, denoising, DDPM denoiser).",
    references=(
        "Ronneberger, Fischer & Brox 2015, U-Net: Convolutional Networks for Biomedical Image Segmentation",
        "Cornu, AI_astro_ED_AAIF course: MNIST_diffusion.ipynb (the DDPM U-Net)",
    ),
)
def unet(
    input_shape=None,
    out_channels=1,
    depth=2,
    filters=16,
    out_activation=None,
    upsampling="transpose",
    downsampling="conv",
    convs_per_level=2,
    activation="relu",
    normalization=None,
    groups=8,
    dropout=0.0,
    time_embedding_dim=None,
    input_tensor=None,
    weights=None,
    name="unet",
):
    """Build a 2D U-Net (channels last).

    Spatial sizes that are not multiples of ``2**depth`` are zero-padded on
    the bottom/right at the input and cropped back at the output, so MNIST's
    28x28 works at any depth.

    Args:
        input_shape: ``(height, width, channels)``, default ``(28, 28, 1)``.
            ``None`` spatial sizes are allowed; they must then be multiples of
            ``2**depth`` at run time.
        out_channels: channels of the output map (classes for a softmax
            segmentation head, image channels for denoising).
        depth: number of downsampling steps (the bottleneck is at ``1/2**depth``).
        filters: filters of the first level (doubled at every level) or a list
            of ``depth + 1`` filter counts.
        out_activation: head activation: ``None``/``"linear"`` (regression,
            denoising, noise prediction), ``"sigmoid"`` (binary or
            multi-label masks), ``"softmax"`` (one class per pixel).
        upsampling: ``"transpose"`` (2x2 transposed conv, stride 2) or
            ``"resize"`` (bilinear upsampling then 3x3 conv).
        downsampling: ``"conv"`` (2x2 strided conv, as in the course) or ``"max"``.
        convs_per_level: 3x3 convolutions per block.
        activation: hidden activation (any Keras name, ``"leaky_relu"`` for
            slope 0.1, ``"cianna"`` for CIANNA's leaky ReLU).
        normalization: ``None``, ``"group"`` (GroupNormalization) or ``"batch"``.
        groups: maximum group count of GroupNormalization.
        dropout: dropout rate after the first conv of every block (0 disables).
        time_embedding_dim: when set, the model takes ``[images, timestep]``
            (timestep of shape ``(batch,)``) and adds a learned projection of a
            sinusoidal embedding of it in every block (the DDPM denoiser).
        input_tensor: optional Keras tensor for the image input.
        weights: ``None`` or a path to a ``.weights.h5`` file.
        name: model name.
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"`depth` must be an integer >= 1. Received: depth={depth!r}")
    if not isinstance(out_channels, int) or out_channels < 1:
        raise ValueError(f"`out_channels` must be a positive integer. Received: out_channels={out_channels!r}")
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"`upsampling` must be one of {UPSAMPLINGS}. Received: upsampling={upsampling!r}")
    if downsampling not in DOWNSAMPLINGS:
        raise ValueError(f"`downsampling` must be one of {DOWNSAMPLINGS}. Received: downsampling={downsampling!r}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"`normalization` must be one of {NORMALIZATIONS}. Received: normalization={normalization!r}"
        )
    if not isinstance(convs_per_level, int) or convs_per_level < 1:
        raise ValueError(f"`convs_per_level` must be an integer >= 1. Received: {convs_per_level!r}")
    if out_activation == "softmax" and out_channels < 2:
        raise ValueError(
            "A softmax head needs `out_channels` >= 2 (one per class); use out_activation='sigmoid' "
            f"for a single binary mask. Received: out_channels={out_channels}"
        )
    if time_embedding_dim is not None and (
        not isinstance(time_embedding_dim, int) or time_embedding_dim < 2 or time_embedding_dim % 2
    ):
        raise ValueError(
            f"`time_embedding_dim` must be None or an even integer >= 2. Received: {time_embedding_dim!r}"
        )
    if weights is not None and not (isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)):
        raise ValueError(
            f"`weights` must be None or the path to an existing .weights.h5 file. Received: weights={weights!r}"
        )
    level_filters = _level_filters(filters, depth)
    input_shape = _utils.obtain_input_shape(
        input_shape, (28, 28, 1), min_size=1, include_top=False, model_name="unet"
    )
    img_input, inputs = _utils.make_input(input_tensor, input_shape, name="images")
    if not isinstance(inputs, list):
        inputs = [inputs]

    temb = None
    if time_embedding_dim is not None:
        t_input = keras.Input(shape=(), name="timestep")
        inputs = inputs + [t_input]
        temb = SinusoidalEmbedding(time_embedding_dim, name="time_embedding")(t_input)
        temb = keras.layers.Dense(4 * time_embedding_dim, name="time_mlp1")(temb)
        temb = _utils.activation_layer("swish", "time_mlp_act")(temb)
        temb = keras.layers.Dense(4 * time_embedding_dim, name="time_mlp2")(temb)

    # Pad to a multiple of 2**depth so that the skips and the upsampled maps match.
    mult = 2**depth
    h, w = input_shape[0], input_shape[1]
    pad_h = (-h) % mult if h is not None else 0
    pad_w = (-w) % mult if w is not None else 0
    x = img_input
    if pad_h or pad_w:
        x = keras.layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), name="pad")(x)

    kw = dict(activation=activation, normalization=normalization, groups=groups, temb=temb, dropout=dropout)
    skips = []
    for i in range(depth):
        x = _conv_block(x, level_filters[i], convs_per_level, f"enc{i + 1}", **kw)
        skips.append(x)
        if downsampling == "conv":
            x = keras.layers.Conv2D(level_filters[i], 2, strides=2, name=f"down{i + 1}")(x)
        else:
            x = keras.layers.MaxPooling2D(2, name=f"down{i + 1}")(x)
    x = _conv_block(x, level_filters[depth], convs_per_level, "bottleneck", **kw)
    for i in reversed(range(depth)):
        f = level_filters[i]
        if upsampling == "transpose":
            x = keras.layers.Conv2DTranspose(f, 2, strides=2, name=f"up{i + 1}")(x)
        else:
            x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"up{i + 1}_resize")(x)
            x = keras.layers.Conv2D(f, 3, padding="same", name=f"up{i + 1}")(x)
        x = keras.layers.Concatenate(name=f"skip{i + 1}")([x, skips[i]])
        x = _conv_block(x, f, convs_per_level, f"dec{i + 1}", **kw)

    x = keras.layers.Conv2D(out_channels, 1, dtype="float32", name="head")(x)
    if pad_h or pad_w:
        x = keras.layers.Cropping2D(((0, pad_h), (0, pad_w)), dtype="float32", name="crop")(x)
    x = keras.layers.Activation(out_activation or "linear", dtype="float32", name="predictions")(x)

    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
