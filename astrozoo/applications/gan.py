"""Generative adversarial networks: DCGAN and WGAN-GP with one ``train_step`` per backend.

``gan(kind="dcgan")`` (Radford et al. 2016) trains with the non-saturating
logistic loss; ``gan(kind="wgan_gp")`` (Gulrajani et al. 2017) trains a
critic with ``d_steps`` (5) critic updates per generator update and a
gradient penalty at points ``x = a*real + (1-a)*fake`` with ``a ~ U[0, 1]``
per sample (the paper's choice; the keras-io example draws a normal).

The model holds ``generator`` and ``discriminator`` (functional models) and
two optimizers given to ``compile(d_optimizer=..., g_optimizer=...)``.
``train_step`` is written for TensorFlow (``GradientTape``), JAX
(``stateless_call`` + ``jax.grad``, jit-compiled by ``fit``) and torch
(autograd), so ``model.fit(images)`` works on all three. Images are expected
in [-1, 1] (tanh generator).
"""

import keras
from keras import ops

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model

KINDS = ("dcgan", "wgan_gp")


def build_generator(latent_dim, image_shape, filters=64, name="generator"):
    """DCGAN generator: dense to (H/4, W/4, 4f), two 4x4 stride-2 transposed convs, tanh."""
    h, w, c = image_shape
    inp = keras.Input(shape=(latent_dim,), name="latent")
    x = keras.layers.Dense((h // 4) * (w // 4) * 4 * filters, use_bias=False, name="fc")(inp)
    x = keras.layers.BatchNormalization(name="fc_bn")(x)
    x = keras.layers.LeakyReLU(0.2, name="fc_act")(x)
    x = keras.layers.Reshape((h // 4, w // 4, 4 * filters), name="reshape")(x)
    for i, f in enumerate((2 * filters, filters), start=1):
        x = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False, name=f"up{i}")(x)
        x = keras.layers.BatchNormalization(name=f"up{i}_bn")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"up{i}_act")(x)
    x = keras.layers.Conv2D(c, 3, padding="same", dtype="float32", name="head")(x)
    x = keras.layers.Activation("tanh", dtype="float32", name="images")(x)
    return keras.Model(inp, x, name=name)


def build_discriminator(image_shape, filters=64, dropout=0.3, name="discriminator"):
    """Two 4x4 stride-2 convs with leaky ReLU 0.2, then one float32 logit (no normalisation,
    as the gradient penalty requires per-sample critics)."""
    inp = keras.Input(shape=image_shape, name="images")
    x = inp
    for i, f in enumerate((filters, 2 * filters), start=1):
        x = keras.layers.Conv2D(f, 4, strides=2, padding="same", name=f"conv{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"conv{i}_act")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inp, x, name=name)


class _OptimizerPair:
    """What Keras' trainers need from ``model.optimizer`` (variables, build) for two optimizers.

    The JAX trainer threads ``model.optimizer.variables`` through its jitted
    step; exposing the concatenation of both optimizers' variables lets the
    GAN's own ``train_step`` split them again.
    """

    def __init__(self, d_optimizer, g_optimizer, gan):
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self._gan = gan

    @property
    def variables(self):
        return list(self.d_optimizer.variables) + list(self.g_optimizer.variables)

    @property
    def built(self):
        return self.d_optimizer.built and self.g_optimizer.built

    def build(self, variables=None):
        if not self.d_optimizer.built:
            self.d_optimizer.build(self._gan.discriminator.trainable_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self._gan.generator.trainable_variables)

    @property
    def iterations(self):
        return self.g_optimizer.iterations

    def scale_loss(self, loss):
        return loss


def _softplus(x):
    return ops.softplus(x)


@keras.saving.register_keras_serializable(package="astrozoo")
class GAN(keras.Model):
    """A generator and a discriminator (critic) trained adversarially.

    ``gan(z)`` / ``predict(z)`` generate images from latent vectors;
    ``sample(n, seed)`` draws the latent vectors too.

    Args:
        generator: functional model, ``(batch, latent_dim)`` -> images.
        discriminator: functional model, images -> ``(batch, 1)`` logits / critic values.
        kind: ``"dcgan"`` (logistic loss) or ``"wgan_gp"`` (Wasserstein loss
            with gradient penalty).
        d_steps: discriminator updates per generator update (default 1 for
            dcgan, 5 for wgan_gp). The same real batch is used, with fresh
            latent vectors at every step.
        gp_weight: weight of the gradient penalty (wgan_gp).
        label_smoothing: one-sided smoothing of the real labels (dcgan).
        seed: seed of the ``SeedGenerator`` that draws latents and interpolation weights.
    """

    def __init__(
        self,
        generator,
        discriminator,
        kind="dcgan",
        d_steps=None,
        gp_weight=10.0,
        label_smoothing=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
        if d_steps is None:
            d_steps = 5 if kind == "wgan_gp" else 1
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(f"`d_steps` must be a positive integer. Received: d_steps={d_steps!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: {label_smoothing!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.kind = kind
        self.d_steps = d_steps
        self.gp_weight = float(gp_weight)
        self.label_smoothing = float(label_smoothing)
        self.seed = seed
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.gp_tracker = keras.metrics.Mean(name="gp") if kind == "wgan_gp" else None
        self.d_optimizer = None
        self.g_optimizer = None
        self.built = True

    # ----------------------------------------------------------------- API
    def call(self, z, training=None):
        return self.generator(z, training=training)

    def sample(self, n, seed=None):
        """``n`` generated images (numpy); the same ``seed`` gives the same images."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"`n` must be a positive integer. Received: n={n!r}")
        z = keras.random.normal((n, self.latent_dim), seed=seed)
        return ops.convert_to_numpy(self.generator(z, training=False))

    @property
    def metrics(self):
        return [m for m in (self.d_loss_tracker, self.g_loss_tracker, self.gp_tracker) if m is not None]

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Set the two optimizers (default: Adam(2e-4, beta_1=0.5), and beta_2=0.9 for wgan_gp).

        Under the ``mixed_float16`` policy each optimizer is wrapped in a
        ``LossScaleOptimizer``. Extra keyword arguments go to ``Model.compile``
        (e.g. ``jit_compile``, ``steps_per_execution``).
        """
        beta_2 = 0.9 if self.kind == "wgan_gp" else 0.999
        d_optimizer = keras.optimizers.get(
            d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=beta_2)
        )
        g_optimizer = keras.optimizers.get(
            g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=beta_2)
        )
        if keras.config.dtype_policy().name == "mixed_float16":
            LSO = keras.optimizers.LossScaleOptimizer
            d_optimizer = d_optimizer if isinstance(d_optimizer, LSO) else LSO(d_optimizer)
            g_optimizer = g_optimizer if isinstance(g_optimizer, LSO) else LSO(g_optimizer)
        kwargs.pop("optimizer", None)
        kwargs.pop("loss", None)
        super().compile(optimizer="sgd", **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Keras' trainers read `model.optimizer`: give them both optimizers' state.
        object.__setattr__(self, "optimizer", _OptimizerPair(d_optimizer, g_optimizer, self))
        self.optimizer.build()

    def get_compile_config(self):
        if self.d_optimizer is None:
            return None
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
        }

    def compile_from_config(self, config):
        if not config:
            return
        self.compile(
            d_optimizer=keras.saving.deserialize_keras_object(config["d_optimizer"]),
            g_optimizer=keras.saving.deserialize_keras_object(config["g_optimizer"]),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            discriminator=keras.saving.serialize_keras_object(self.discriminator),
            kind=self.kind,
            d_steps=self.d_steps,
            gp_weight=self.gp_weight,
            label_smoothing=self.label_smoothing,
            seed=self.seed,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**_utils.deserialize_members(config, "generator", "discriminator"))

    # -------------------------------------------------------------- losses
    def _d_loss_from_logits(self, real_logits, fake_logits):
        real_logits = ops.cast(real_logits, "float32")
        fake_logits = ops.cast(fake_logits, "float32")
        if self.kind == "wgan_gp":
            return ops.mean(fake_logits) - ops.mean(real_logits)
        # BCE with logits: -log sigmoid(l) = softplus(-l); -log(1 - sigmoid(l)) = softplus(l).
        t = 1.0 - self.label_smoothing
        real = t * _softplus(-real_logits) + (1.0 - t) * _softplus(real_logits)
        return ops.mean(real) + ops.mean(_softplus(fake_logits))

    def _g_loss_from_logits(self, fake_logits):
        fake_logits = ops.cast(fake_logits, "float32")
        if self.kind == "wgan_gp":
            return -ops.mean(fake_logits)
        return ops.mean(_softplus(-fake_logits))  # non-saturating generator loss

    @staticmethod
    def _penalty(grads):
        grads = ops.cast(grads, "float32")
        norm = ops.sqrt(ops.sum(ops.square(grads), axis=tuple(range(1, len(grads.shape)))) + 1e-12)
        return ops.mean(ops.square(norm - 1.0))

    def _interpolate(self, real, fake, alpha):
        alpha = ops.cast(ops.reshape(alpha, (-1,) + (1,) * (len(real.shape) - 1)), real.dtype)
        return alpha * real + (1.0 - alpha) * ops.cast(fake, real.dtype)

    def _draw(self, batch, seed):
        z = [keras.random.normal((batch, self.latent_dim), seed=seed) for _ in range(self.d_steps + 1)]
        alphas = [keras.random.uniform((batch,), seed=seed) for _ in range(self.d_steps)]
        return z, alphas

    # --------------------------------------------------------- train steps
    def train_step(self, *args):
        backend = keras.backend.backend()
        if backend == "jax":
            return self._train_step_jax(*args)
        if self.d_optimizer is None:
            raise RuntimeError("Call `compile(d_optimizer=..., g_optimizer=...)` before `fit`.")
        if backend == "tensorflow":
            return self._train_step_tf(*args)
        if backend == "torch":
            return self._train_step_torch(*args)
        raise NotImplementedError(f"GAN training is not implemented for the {backend!r} backend.")

    def _log(self, d_loss, g_loss, gp):
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        if self.gp_tracker is not None:
            self.gp_tracker.update_state(gp)
        return {m.name: m.result() for m in self.metrics}

    def _train_step_tf(self, data):
        import tensorflow as tf

        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        batch = ops.shape(real)[0]
        zs, alphas = self._draw(batch, self.seed_generator)
        D, G = self.discriminator, self.generator
        gp = ops.zeros(())
        for k in range(self.d_steps):
            fake = ops.stop_gradient(G(zs[k], training=True))
            with tf.GradientTape() as tape:
                d_loss = self._d_loss_from_logits(D(real, training=True), D(fake, training=True))
                if self.kind == "wgan_gp":
                    x_hat = self._interpolate(real, fake, alphas[k])
                    with tf.GradientTape() as inner:
                        inner.watch(x_hat)
                        critic = D(x_hat, training=True)
                    gp = self._penalty(inner.gradient(critic, x_hat))
                    d_loss = d_loss + self.gp_weight * gp
                scaled = self.d_optimizer.scale_loss(d_loss)
            grads = tape.gradient(scaled, D.trainable_variables)
            self.d_optimizer.apply(grads, D.trainable_variables)
        with tf.GradientTape() as tape:
            g_loss = self._g_loss_from_logits(D(G(zs[-1], training=True), training=True))
            scaled = self.g_optimizer.scale_loss(g_loss)
        grads = tape.gradient(scaled, G.trainable_variables)
        self.g_optimizer.apply(grads, G.trainable_variables)
        return self._log(d_loss, g_loss, gp)

    def _train_step_torch(self, data):
        import torch

        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        batch = ops.shape(real)[0]
        zs, alphas = self._draw(batch, self.seed_generator)
        D, G = self.discriminator, self.generator
        gp = ops.zeros(())
        for k in range(self.d_steps):
            with torch.no_grad():
                fake = G(zs[k], training=True)
            self.zero_grad()
            d_loss = self._d_loss_from_logits(D(real, training=True), D(fake, training=True))
            if self.kind == "wgan_gp":
                x_hat = self._interpolate(real, fake, alphas[k]).detach().requires_grad_(True)
                critic = D(x_hat, training=True)
                (g,) = torch.autograd.grad(critic.sum(), x_hat, create_graph=True)
                gp = self._penalty(g)
                d_loss = d_loss + self.gp_weight * gp
            self.d_optimizer.scale_loss(d_loss).backward()
            grads = [v.value.grad for v in D.trainable_variables]
            with torch.no_grad():
                self.d_optimizer.apply(grads, D.trainable_variables)
        self.zero_grad()
        g_loss = self._g_loss_from_logits(D(G(zs[-1], training=True), training=True))
        self.g_optimizer.scale_loss(g_loss).backward()
        grads = [v.value.grad for v in G.trainable_variables]
        with torch.no_grad():
            self.g_optimizer.apply(grads, G.trainable_variables)
        return self._log(d_loss.detach(), g_loss.detach(), gp.detach() if hasattr(gp, "detach") else gp)

    def _jax_indices(self):
        if getattr(self, "_jax_index_cache", None) is None:
            tv = {id(v): i for i, v in enumerate(self.trainable_variables)}
            ntv = {id(v): i for i, v in enumerate(self.non_trainable_variables)}
            D, G = self.discriminator, self.generator
            cache = dict(
                g_tv=[tv[id(v)] for v in G.trainable_variables],
                d_tv=[tv[id(v)] for v in D.trainable_variables],
                g_ntv=[ntv[id(v)] for v in G.non_trainable_variables],
                d_ntv=[ntv[id(v)] for v in D.non_trainable_variables],
                seed=ntv[id(self.seed_generator.state)],
            )
            object.__setattr__(self, "_jax_index_cache", cache)
        return self._jax_index_cache

    def _train_step_jax(self, state, data):
        import jax

        from keras.src.backend.common.stateless_scope import StatelessScope

        tv, ntv, ov, mv = state
        tv, ntv = list(tv), list(ntv)
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        idx = self._jax_indices()
        D, G = self.discriminator, self.generator
        n_d = len(self.d_optimizer.variables)
        d_ov, g_ov = list(ov[:n_d]), list(ov[n_d:])
        g_tv = [tv[i] for i in idx["g_tv"]]
        d_tv = [tv[i] for i in idx["d_tv"]]
        g_ntv = [ntv[i] for i in idx["g_ntv"]]
        d_ntv = [ntv[i] for i in idx["d_ntv"]]

        with StatelessScope(state_mapping=[(self.seed_generator.state, ntv[idx["seed"]])]) as scope:
            zs, alphas = self._draw(real.shape[0], self.seed_generator)
        ntv[idx["seed"]] = scope.get_current_value(self.seed_generator.state)

        def scaled(opt, opt_vars, loss):
            if isinstance(opt, keras.optimizers.LossScaleOptimizer):
                with StatelessScope(state_mapping=list(zip(opt.variables, opt_vars))):
                    return opt.scale_loss(loss)
            return loss

        def d_loss_fn(d_tv, d_ntv, fake, alpha):
            real_logits, d_ntv = D.stateless_call(d_tv, d_ntv, real, training=True)
            fake_logits, d_ntv = D.stateless_call(d_tv, d_ntv, fake, training=True)
            loss = self._d_loss_from_logits(real_logits, fake_logits)
            gp = ops.zeros(())
            if self.kind == "wgan_gp":
                x_hat = self._interpolate(real, fake, alpha)

                def critic_sum(x):
                    return ops.sum(ops.cast(D.stateless_call(d_tv, d_ntv, x, training=True)[0], "float32"))

                gp = self._penalty(jax.grad(critic_sum)(x_hat))
                loss = loss + self.gp_weight * gp
            return scaled(self.d_optimizer, d_ov, loss), (loss, gp, d_ntv)

        gp = ops.zeros(())
        for k in range(self.d_steps):
            fake, g_ntv = G.stateless_call(g_tv, g_ntv, zs[k], training=True)
            fake = jax.lax.stop_gradient(fake)
            grads, (d_loss, gp, d_ntv) = jax.grad(d_loss_fn, has_aux=True)(d_tv, d_ntv, fake, alphas[k])
            d_tv, d_ov = self.d_optimizer.stateless_apply(d_ov, grads, d_tv)

        def g_loss_fn(g_tv, g_ntv, d_ntv):
            fake, g_ntv = G.stateless_call(g_tv, g_ntv, zs[-1], training=True)
            logits, d_ntv = D.stateless_call(d_tv, d_ntv, fake, training=True)
            loss = self._g_loss_from_logits(logits)
            return scaled(self.g_optimizer, g_ov, loss), (loss, g_ntv, d_ntv)

        grads, (g_loss, g_ntv, d_ntv) = jax.grad(g_loss_fn, has_aux=True)(g_tv, g_ntv, d_ntv)
        g_tv, g_ov = self.g_optimizer.stateless_apply(g_ov, grads, g_tv)

        for i, v in zip(idx["g_tv"], g_tv):
            tv[i] = v
        for i, v in zip(idx["d_tv"], d_tv):
            tv[i] = v
        for i, v in zip(idx["g_ntv"], g_ntv):
            ntv[i] = v
        for i, v in zip(idx["d_ntv"], d_ntv):
            ntv[i] = v
        with StatelessScope(state_mapping=list(zip(self.metrics_variables, mv))) as scope:
            logs = self._log(d_loss, g_loss, gp)
        mv = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, (tv, ntv, d_ov + g_ov, mv)


@register_model(
    "gan",
    task="generation",
    family="gan",
    default_input_shape=(28, 28, 1),
    description="DCGAN / WGAN-GP (uniform interpolation, 5 critic steps) with per-backend train steps.",
    references=(
        "Radford, Metz & Chintala 2016, Unsupervised Representation Learning with DCGANs",
        "Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
    ),
)
def gan(
    kind="dcgan",
    image_shape=None,
    latent_dim=64,
    filters=64,
    d_steps=None,
    gp_weight=10.0,
    label_smoothing=0.0,
    dropout=None,
    seed=None,
    name=None,
):
    """Build a DCGAN or WGAN-GP for small images (height and width multiples of 4).

    Args:
        kind: ``"dcgan"`` or ``"wgan_gp"``.
        image_shape: ``(height, width, channels)``, default ``(28, 28, 1)``.
        latent_dim: size of the latent vectors.
        filters: base filter count of both networks (generator 4f-2f-f,
            discriminator f-2f).
        d_steps: discriminator steps per generator step (1 for dcgan, 5 for wgan_gp).
        gp_weight: gradient-penalty weight (wgan_gp).
        label_smoothing: one-sided label smoothing (dcgan).
        dropout: discriminator dropout (default 0.3 for dcgan, 0 for wgan_gp).
        seed: seed of the latent / interpolation draws.
        name: model name (default: ``kind``).
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
    image_shape = _utils.obtain_input_shape(
        image_shape, (28, 28, 1), min_size=4, include_top=True, model_name="gan"
    )
    if image_shape[0] % 4 or image_shape[1] % 4:
        raise ValueError(f"`image_shape` height and width must be multiples of 4. Received: {image_shape}")
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"`latent_dim` must be a positive integer. Received: latent_dim={latent_dim!r}")
    if dropout is None:
        dropout = 0.0 if kind == "wgan_gp" else 0.3
    name = name or kind
    generator = build_generator(latent_dim, image_shape, filters, name=f"{name}_generator")
    discriminator = build_discriminator(image_shape, filters, dropout, name=f"{name}_discriminator")
    return GAN(
        generator,
        discriminator,
        kind=kind,
        d_steps=d_steps,
        gp_weight=gp_weight,
        label_smoothing=label_smoothing,
        seed=seed,
        name=name,
    )
