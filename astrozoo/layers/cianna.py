"""Layers that reproduce CIANNA's own operations exactly.

CIANNA (github.com/Deyht/CIANNA) differs from the usual Keras layers in two
places that matter for the course's networks and for loading its `.dat` files:
its "RELU" is a leaky ReLU that also saturates, and its group normalisation has
one gamma/beta pair per *group*, not per channel.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="astrozoo")
class CiannaLeakyReLU(keras.layers.Layer):
    """CIANNA's "RELU": leaky below 0, identity up to ``saturation``, leaky above.

    ``y = a*x`` for ``x <= 0``; ``y = x`` for ``0 < x <= s``;
    ``y = s + a*(x - s)`` for ``x > s``, with ``a = negative_slope``
    (0.05 in CIANNA) and ``s = saturation`` (800 in CIANNA; ``None`` disables
    the upper knee).
    """

    def __init__(self, negative_slope=0.05, saturation=800.0, **kwargs):
        super().__init__(**kwargs)
        if negative_slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope}.")
        if saturation is not None and saturation <= 0:
            raise ValueError(f"saturation must be > 0 or None, got {saturation}.")
        self.negative_slope = float(negative_slope)
        self.saturation = None if saturation is None else float(saturation)

    def call(self, x):
        k = 1.0 - self.negative_slope
        # Piecewise-linear written as a sum so that the gradient is exact at the knees.
        y = x - k * ops.minimum(x, 0.0)
        if self.saturation is not None:
            y = y - k * ops.maximum(x - self.saturation, 0.0)
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(negative_slope=self.negative_slope, saturation=self.saturation)
        return config


@keras.saving.register_keras_serializable(package="astrozoo")
class CiannaGroupNorm(keras.layers.Layer):
    """CIANNA's group normalisation (channels last, any number of spatial axes).

    Channels are split into groups of ``group_size`` consecutive channels; each
    group is normalised with its mean and biased variance over its channels and
    all spatial positions, then scaled by one ``gamma`` and shifted by one
    ``beta`` *per group*. The last ``set_off`` groups are passed through
    unchanged, as CIANNA does.
    """

    def __init__(self, group_size, epsilon=1e-3, set_off=0, **kwargs):
        super().__init__(**kwargs)
        if int(group_size) < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}.")
        self.group_size = int(group_size)
        self.epsilon = float(epsilon)
        self.set_off = int(set_off)
        self.supports_masking = True

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.group_size:
            raise ValueError(
                f"CiannaGroupNorm: the channel count ({channels}) must be a multiple "
                f"of group_size={self.group_size}."
            )
        self.groups = channels // self.group_size
        if not 0 <= self.set_off <= self.groups:
            raise ValueError(
                f"set_off={self.set_off} must lie in [0, {self.groups}] (the number of groups)."
            )
        self.gamma = self.add_weight(
            shape=(self.groups,), initializer="ones", name="gamma"
        )
        self.beta = self.add_weight(shape=(self.groups,), initializer="zeros", name="beta")

    def call(self, x):
        shape = ops.shape(x)
        rank = len(x.shape)
        grouped = ops.reshape(
            x, (*[shape[i] for i in range(rank - 1)], self.groups, self.group_size)
        )
        axes = tuple(range(1, rank - 1)) + (rank,)
        # Statistics in float32 even under a mixed policy: variances of float16
        # activations overflow easily.
        g32 = ops.cast(grouped, "float32")
        mean, var = ops.moments(g32, axes=axes, keepdims=True)
        normed = (g32 - mean) * ops.rsqrt(var + self.epsilon)
        gamma = ops.cast(self.gamma, "float32")[:, None]
        beta = ops.cast(self.beta, "float32")[:, None]
        out = normed * gamma + beta
        if self.set_off:
            keep = ops.arange(self.groups) < (self.groups - self.set_off)
            out = ops.where(keep[:, None], out, g32)
        return ops.cast(ops.reshape(out, shape), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size, epsilon=self.epsilon, set_off=self.set_off)
        return config


@keras.saving.register_keras_serializable(package="astrozoo")
class CiannaLogistic(keras.layers.Layer):
    """CIANNA's "LOGI" activation: a logistic whose negative side saturates.

    ``y = 1 / (1 + exp(min(-beta * x, saturation)))``: the usual sigmoid of
    ``beta * x``, floored at ``sigmoid(-saturation)`` (CIANNA V-1.0 writes it
    as ``LOGI_S6.00_B1.00`` by default). ``saturation=None`` gives a plain
    sigmoid of ``beta * x``.
    """

    def __init__(self, beta=1.0, saturation=6.0, **kwargs):
        super().__init__(**kwargs)
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}.")
        if saturation is not None and saturation <= 0:
            raise ValueError(f"saturation must be > 0 or None, got {saturation}.")
        self.beta = float(beta)
        self.saturation = None if saturation is None else float(saturation)

    def call(self, x):
        z = self.beta * x
        if self.saturation is not None:
            z = ops.maximum(z, -self.saturation)
        return ops.sigmoid(z)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(beta=self.beta, saturation=self.saturation)
        return config
