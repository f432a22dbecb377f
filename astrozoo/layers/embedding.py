"""Sinusoidal embedding of a scalar (the diffusion timestep or noise level)."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="astrozoo")
class SinusoidalEmbedding(keras.layers.Layer):
    """Transformer-style sinusoidal features of a scalar per sample.

    ``t`` (shape ``(batch,)`` or ``(batch, 1)``, integer or float) is mapped to
    ``[sin(t * f_k), cos(t * f_k)]`` with ``dim // 2`` frequencies
    ``f_k = max_period ** (-k / (dim // 2))``, ``k = 0 .. dim//2 - 1``
    (Vaswani et al. 2017; Ho et al. 2020 use it for the DDPM timestep).

    Args:
        dim: output width, an even integer >= 2.
        max_period: longest period of the features (10,000 for timesteps in
            [0, 1000); use ~1 for a noise level in [0, 1]).
        scale: multiplier applied to ``t`` before the features.
    """

    def __init__(self, dim, max_period=10000.0, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(dim, int) or dim < 2 or dim % 2:
            raise ValueError(f"`dim` must be an even integer >= 2. Received: dim={dim!r}")
        if max_period <= 0:
            raise ValueError(f"`max_period` must be > 0. Received: max_period={max_period!r}")
        self.dim = dim
        self.max_period = float(max_period)
        self.scale = float(scale)

    def call(self, t):
        t = ops.cast(ops.reshape(t, (-1, 1)), "float32") * self.scale
        half = self.dim // 2
        # Frequencies are built in float32 even under mixed precision: a bf16
        # product t*f loses all resolution for t in the hundreds.
        freqs = ops.exp(
            -math.log(self.max_period) * ops.arange(half, dtype="float32") / float(half)
        )
        args = t * ops.expand_dims(freqs, 0)
        emb = ops.concatenate([ops.sin(args), ops.cos(args)], axis=-1)
        return ops.cast(emb, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, max_period=self.max_period, scale=self.scale)
        return config
