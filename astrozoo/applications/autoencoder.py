"""Convolutional autoencoder and variational autoencoder (the course's AE).

The course's MNIST autoencoder (AAIF ``mnist_autoencoder_CIANNA``): encoder
conv3x3-16, [conv4x4/2-32, conv3x3-32], [conv4x4/2-64, conv3x3-64], dense 512,
dense 256, dense 2 (linear); decoder dense 256, 512, 7x7x64, conv64,
transposed 4x4/2, conv32, transposed 4x4/2, conv16, conv1x1 logistic; leaky
ReLU 0.1. Both models expose ``model.encoder`` and ``model.decoder`` as
standalone functional models (project a data set, decode a latent grid).

The VAE (Kingma & Welling 2014) draws ``z = mu + exp(logvar/2) * eps`` with a
``keras.random.SeedGenerator`` and puts the KL term in ``compute_loss``, so
``fit`` works unchanged on TensorFlow, JAX and torch.
"""

import keras
from keras import ops

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model

RECONSTRUCTION_LOSSES = ("bce", "mse")


def _check_common(input_shape, latent_dim, filters, dense_units):
    input_shape = _utils.obtain_input_shape(
        input_shape, (28, 28, 1), min_size=1, include_top=True, model_name="autoencoder"
    )
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"`latent_dim` must be a positive integer. Received: latent_dim={latent_dim!r}")
    filters = tuple(filters)
    if not filters or any(not isinstance(f, int) or f < 1 for f in filters):
        raise ValueError(f"`filters` must be a non-empty list of positive ints. Received: filters={filters}")
    dense_units = tuple(dense_units)
    if any(not isinstance(u, int) or u < 1 for u in dense_units):
        raise ValueError(f"`dense_units` must be positive ints. Received: dense_units={dense_units}")
    mult = 2 ** len(filters)
    if input_shape[0] % mult or input_shape[1] % mult:
        raise ValueError(
            f"The image size must be a multiple of 2**len(filters)={mult} (one stride-2 conv per "
            f"entry of `filters`). Received: input_shape={input_shape}, filters={filters}"
        )
    return input_shape, filters, dense_units


def build_encoder(input_shape, outputs, filters, dense_units, activation, name):
    """Conv encoder; ``outputs`` maps head names to widths (float32 linear heads)."""
    inp = keras.Input(shape=input_shape, name="images")
    x = keras.layers.Conv2D(max(filters[0] // 2, 1), 3, padding="same", name="conv0")(inp)
    x = _utils.activation_layer(activation, "conv0_act")(x)
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(f, 4, strides=2, padding="same", name=f"down{i}")(x)
        x = _utils.activation_layer(activation, f"down{i}_act")(x)
        x = keras.layers.Conv2D(f, 3, padding="same", name=f"conv{i}")(x)
        x = _utils.activation_layer(activation, f"conv{i}_act")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, u in enumerate(dense_units, start=1):
        x = keras.layers.Dense(u, name=f"fc{i}")(x)
        x = _utils.activation_layer(activation, f"fc{i}_act")(x)
    outs = [keras.layers.Dense(w, dtype="float32", name=n)(x) for n, w in outputs.items()]
    return keras.Model(inp, outs if len(outs) > 1 else outs[0], name=name)


def build_decoder(latent_dim, output_shape, filters, dense_units, activation, out_activation, name):
    """Mirror of :func:`build_encoder`: dense layers, reshape, transposed convs."""
    h, w, c = output_shape
    mult = 2 ** len(filters)
    inp = keras.Input(shape=(latent_dim,), name="latent")
    x = inp
    for i, u in enumerate(reversed(dense_units), start=1):
        x = keras.layers.Dense(u, name=f"fc{i}")(x)
        x = _utils.activation_layer(activation, f"fc{i}_act")(x)
    x = keras.layers.Dense((h // mult) * (w // mult) * filters[-1], name="fc_map")(x)
    x = _utils.activation_layer(activation, "fc_map_act")(x)
    x = keras.layers.Reshape((h // mult, w // mult, filters[-1]), name="reshape")(x)
    for i, f in enumerate(reversed(filters), start=1):
        x = keras.layers.Conv2D(f, 3, padding="same", name=f"conv{i}")(x)
        x = _utils.activation_layer(activation, f"conv{i}_act")(x)
        x = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", name=f"up{i}")(x)
        x = _utils.activation_layer(activation, f"up{i}_act")(x)
    x = keras.layers.Conv2D(max(filters[0] // 2, 1), 3, padding="same", name="conv_out")(x)
    x = _utils.activation_layer(activation, "conv_out_act")(x)
    x = keras.layers.Conv2D(c, 1, dtype="float32", name="head")(x)
    x = keras.layers.Activation(out_activation or "linear", dtype="float32", name="reconstruction")(x)
    return keras.Model(inp, x, name=name)


@keras.saving.register_keras_serializable(package="astrozoo")
class Autoencoder(keras.Model):
    """``decoder(encoder(x))`` with both parts usable on their own.

    Train with ``compile(optimizer, loss="mse" or "binary_crossentropy")`` and
    ``fit(x, x)``.

    Args:
        encoder: functional model, images -> latent vectors.
        decoder: functional model, latent vectors -> images.
    """

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def call(self, inputs, training=None):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            decoder=keras.saving.serialize_keras_object(self.decoder),
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**_utils.deserialize_members(config, "encoder", "decoder"))


def kl_divergence(z_mean, z_log_var):
    """Per-sample ``KL(N(mu, exp(logvar)) || N(0, I))`` summed over the latent axis."""
    z_mean = ops.cast(z_mean, "float32")
    z_log_var = ops.cast(z_log_var, "float32")
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


@keras.saving.register_keras_serializable(package="astrozoo")
class VAE(keras.Model):
    """Variational autoencoder with a Gaussian latent and a unit-Gaussian prior.

    ``vae(x)`` returns ``{"reconstruction", "z_mean", "z_log_var", "z"}`` with a
    reparameterised ``z``; ``predict`` returns the reconstruction decoded from
    ``z_mean`` (deterministic). The loss (``compute_loss``) is the per-image
    reconstruction term (pixel-summed binary cross-entropy or squared error)
    plus ``beta`` times the KL divergence, averaged over the batch; both parts
    are logged as ``reconstruction_loss`` and ``kl_loss``.

    Args:
        encoder: functional model, images -> ``[z_mean, z_log_var]``.
        decoder: functional model, latent vectors -> images.
        beta: weight of the KL term (1 is the ELBO).
        reconstruction_loss: ``"bce"`` (images in [0, 1], sigmoid decoder) or ``"mse"``.
        seed: seed of the ``SeedGenerator`` used for ``eps``.
    """

    def __init__(self, encoder, decoder, beta=1.0, reconstruction_loss="bce", seed=None, **kwargs):
        super().__init__(**kwargs)
        if reconstruction_loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"`reconstruction_loss` must be one of {RECONSTRUCTION_LOSSES}. "
                f"Received: reconstruction_loss={reconstruction_loss!r}"
            )
        if beta < 0:
            raise ValueError(f"`beta` must be >= 0. Received: beta={beta!r}")
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.reconstruction_loss = reconstruction_loss
        self.seed = seed
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def encode(self, inputs, training=None):
        """``(z_mean, z_log_var)`` of a batch of images."""
        return self.encoder(inputs, training=training)

    def reparameterize(self, z_mean, z_log_var, seed=None):
        """``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``."""
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=seed or self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def call(self, inputs, training=None):
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.reparameterize(z_mean, z_log_var)
        reconstruction = self.decoder(z, training=training)
        return {"reconstruction": reconstruction, "z_mean": z_mean, "z_log_var": z_log_var, "z": z}

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        z_mean, _ = self.encoder(x, training=False)
        return self.decoder(z_mean, training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = ops.cast(x if y is None else y, "float32")
        recon = ops.cast(y_pred["reconstruction"], "float32")
        axes = tuple(range(1, len(recon.shape)))
        if self.reconstruction_loss == "bce":
            eps = keras.config.epsilon()
            recon = ops.clip(recon, eps, 1.0 - eps)
            per_pixel = -(target * ops.log(recon) + (1.0 - target) * ops.log(1.0 - recon))
        else:
            per_pixel = ops.square(target - recon)
        rec = ops.sum(per_pixel, axis=axes)
        kl = kl_divergence(y_pred["z_mean"], y_pred["z_log_var"])
        loss = rec + self.beta * kl
        if sample_weight is not None:
            sw = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
            loss = loss * sw
        self.reconstruction_tracker.update_state(rec)
        self.kl_tracker.update_state(kl)
        loss = ops.mean(loss)
        # Regularisation losses of the sublayers, if any.
        for extra in self.losses:
            loss = loss + ops.cast(extra, "float32")
        return loss

    def sample(self, n, seed=None, z=None):
        """Decode ``n`` latent vectors drawn from the prior (or the given ``z``).

        Args:
            n: number of images.
            seed: int for reproducible samples (same seed, same images).
            z: optional ``(n, latent_dim)`` latent vectors to decode instead.
        """
        if z is None:
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"`n` must be a positive integer. Received: n={n!r}")
            z = keras.random.normal((n, self.latent_dim), seed=seed)
        return ops.convert_to_numpy(self.decoder(z, training=False))

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            decoder=keras.saving.serialize_keras_object(self.decoder),
            beta=self.beta,
            reconstruction_loss=self.reconstruction_loss,
            seed=self.seed,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**_utils.deserialize_members(config, "encoder", "decoder"))


@register_model(
    "autoencoder",
    task="generation",
    family="autoencoder",
    default_input_shape=(28, 28, 1),
    description="The course's convolutional autoencoder (2-D latent space by default).",
    references=("Cornu, AI_astro_ED_AAIF course: mnist_autoencoder_CIANNA.ipynb",),
)
def autoencoder(
    input_shape=None,
    latent_dim=2,
    filters=(32, 64),
    dense_units=(512, 256),
    activation="leaky_relu",
    out_activation="sigmoid",
    name="autoencoder",
):
    """Build the course's convolutional autoencoder.

    Args:
        input_shape: ``(height, width, channels)``, default ``(28, 28, 1)``;
            height and width must be multiples of ``2**len(filters)``.
        latent_dim: size of the bottleneck (2 in the course, for plotting).
        filters: filters of the stride-2 stages (each halves the image).
        dense_units: widths of the dense layers before the latent layer
            (mirrored in the decoder).
        activation: hidden activation (``"leaky_relu"`` is slope 0.1 as in the course).
        out_activation: decoder output activation (``"sigmoid"`` for [0, 1]
            images, ``None`` for unbounded data).
        name: model name.
    """
    input_shape, filters, dense_units = _check_common(input_shape, latent_dim, filters, dense_units)
    encoder = build_encoder(input_shape, {"latent": latent_dim}, filters, dense_units, activation, f"{name}_encoder")
    decoder = build_decoder(
        latent_dim, input_shape, filters, dense_units, activation, out_activation, f"{name}_decoder"
    )
    model = Autoencoder(encoder, decoder, name=name)
    model.build((None, *input_shape))
    return model


@register_model(
    "vae",
    task="generation",
    family="autoencoder",
    default_input_shape=(28, 28, 1),
    description="Variational autoencoder on the course's AE layout, KL term in compute_loss.",
    references=(
        "Kingma & Welling 2014, Auto-Encoding Variational Bayes",
        "Cornu, AI_astro_ED_AAIF course: mnist_autoencoder_CIANNA.ipynb",
    ),
)
def vae(
    input_shape=None,
    latent_dim=2,
    filters=(32, 64),
    dense_units=(512, 256),
    activation="leaky_relu",
    out_activation="sigmoid",
    beta=1.0,
    reconstruction_loss="bce",
    seed=None,
    name="vae",
):
    """Build a convolutional VAE with the autoencoder's layout.

    Args:
        input_shape: ``(height, width, channels)``, default ``(28, 28, 1)``.
        latent_dim: size of the latent space.
        filters: filters of the stride-2 stages.
        dense_units: dense widths before the latent heads (mirrored in the decoder).
        activation: hidden activation.
        out_activation: decoder output activation (``"sigmoid"`` with the
            ``"bce"`` loss).
        beta: KL weight (beta-VAE; 1 is the ELBO).
        reconstruction_loss: ``"bce"`` or ``"mse"``.
        seed: seed of the reparameterisation noise.
        name: model name.
    """
    input_shape, filters, dense_units = _check_common(input_shape, latent_dim, filters, dense_units)
    if reconstruction_loss == "bce" and out_activation != "sigmoid":
        raise ValueError(
            "The 'bce' reconstruction loss needs outputs in (0, 1): use out_activation='sigmoid' "
            f"or reconstruction_loss='mse'. Received: out_activation={out_activation!r}"
        )
    encoder = build_encoder(
        input_shape, {"z_mean": latent_dim, "z_log_var": latent_dim}, filters, dense_units, activation,
        f"{name}_encoder",
    )
    decoder = build_decoder(
        latent_dim, input_shape, filters, dense_units, activation, out_activation, f"{name}_decoder"
    )
    model = VAE(encoder, decoder, beta=beta, reconstruction_loss=reconstruction_loss, seed=seed, name=name)
    model.build((None, *input_shape))
    return model
