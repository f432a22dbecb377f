"""Denoising diffusion probabilistic model (Ho et al. 2020) with compiled samplers.

Forward process ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``; a U-Net
with a sinusoidal time embedding (:func:`astrozoo.applications.unet` with
``time_embedding_dim``) predicts ``eps`` and is trained with the MSE. Two
noise schedules:

* ``"cosine"``: the course's (AAIF ``MNIST_diffusion``): ``abar(t) =
  cos^2(((t/T) + s)/(1 + s) * pi/2)`` with ``s = 0.0008`` on
  ``t = linspace(0, T, T)``, min-max rescaled over its first ``T - 1``
  values to ``signal_range = (0.05**2, 0.95**2)``. ``signal_range=None``
  gives Nichol & Dhariwal's (2021) ``abar(t) = f(t)/f(0)``, ``t = 1..T``.
* ``"linear"``: ``beta`` from ``beta_start`` to ``beta_end`` (1e-4 to 0.02).

An exponential moving average of the denoiser's *trainable* weights is kept
in ``model.ema_network`` (updated inside ``train_step`` on every backend).
``sample()`` runs the whole reverse chain, ancestral (DDPM posterior) or
DDIM with ``eta``, as one compiled graph (``tf.function`` while-loop on
TensorFlow, ``jax.jit`` + ``fori_loop`` on JAX): no per-step ``predict``.
Images are expected in [-1, 1].
"""

import keras
import numpy as np
from keras import ops

from astrozoo.applications import _utils
from astrozoo.applications.registry import register_model
from astrozoo.applications.unet import unet

SCHEDULES = ("cosine", "linear")
METHODS = ("ancestral", "ddim")


def noise_schedule(
    timesteps=1000,
    schedule="cosine",
    beta_start=1e-4,
    beta_end=0.02,
    cosine_s=0.0008,
    signal_range=(0.05**2, 0.95**2),
):
    """The diffusion schedule as float64 numpy arrays.

    Returns a dict with ``betas``, ``alphas`` (``1 - betas``) and
    ``alpha_bar`` (``prod alphas`` up to ``t``), each of length ``timesteps``;
    index ``t`` is the noise level of training step ``t`` (``0`` least noisy).

    Args:
        timesteps: ``T``, number of diffusion steps.
        schedule: ``"cosine"`` or ``"linear"``.
        beta_start, beta_end: end points of the linear schedule.
        cosine_s: offset ``s`` of the cosine schedule (0.0008 in the course,
            0.008 in Nichol & Dhariwal).
        signal_range: ``(min, max)`` of ``alpha_bar`` for the course's
            rescaled cosine schedule; ``None`` for the unrescaled one.
    """
    if not isinstance(timesteps, int) or timesteps < 2:
        raise ValueError(f"`timesteps` must be an integer >= 2. Received: timesteps={timesteps!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}. Received: schedule={schedule!r}")
    T = timesteps
    if schedule == "linear":
        if not 0.0 < beta_start < beta_end < 1.0:
            raise ValueError(
                f"The linear schedule needs 0 < beta_start < beta_end < 1. "
                f"Received: beta_start={beta_start}, beta_end={beta_end}"
            )
        betas = np.linspace(beta_start, beta_end, T, dtype=np.float64)
        alpha_bar = np.cumprod(1.0 - betas)
    else:

        def f(t):
            return np.cos((t / T + cosine_s) / (1.0 + cosine_s) * (np.pi / 2)) ** 2

        if signal_range is None:
            alpha_bar = f(np.arange(1, T + 1, dtype=np.float64)) / f(0.0)
            alpha_bar = np.clip(alpha_bar, 1e-12, 1.0)
        else:
            lo, hi = (float(v) for v in signal_range)
            if not 0.0 < lo < hi < 1.0:
                raise ValueError(f"`signal_range` must satisfy 0 < min < max < 1. Received: {signal_range}")
            alpha_bar = f(np.linspace(0.0, T, T, dtype=np.float64))
            alpha_bar = alpha_bar - alpha_bar[:-1].min()
            alpha_bar = alpha_bar / alpha_bar[:-1].max()
            alpha_bar = alpha_bar * (hi - lo) + lo
        prev = np.concatenate([[1.0], alpha_bar[:-1]])
        betas = np.clip(1.0 - alpha_bar / prev, 0.0, 0.999)
        alpha_bar = np.cumprod(1.0 - betas)
    return {"betas": betas, "alphas": 1.0 - betas, "alpha_bar": alpha_bar}


def _sampling_plan(alpha_bar, steps, method, eta):
    """Per-step constants of the reverse chain, in sampling order (float32 numpy)."""
    T = len(alpha_bar)
    ts = np.unique(np.round(np.linspace(0, T - 1, steps)).astype(np.int64))[::-1]
    ab = alpha_bar[ts]
    ab_prev = np.concatenate([alpha_bar[ts[1:]], [1.0]])
    if method == "ancestral":
        beta = 1.0 - ab / ab_prev
        sigma = np.sqrt(beta * (1.0 - ab_prev) / (1.0 - ab))
        c_x0 = np.sqrt(ab_prev) * beta / (1.0 - ab)
        c_xt = np.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab)
        c_eps = np.zeros_like(ab)
    else:
        sigma = eta * np.sqrt((1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev))
        c_x0 = np.sqrt(ab_prev)
        c_xt = np.zeros_like(ab)
        c_eps = np.sqrt(np.clip(1.0 - ab_prev - sigma**2, 0.0, None))
    plan = dict(t=ts, sqrt_ab=np.sqrt(ab), sqrt_1mab=np.sqrt(1.0 - ab), c_x0=c_x0, c_xt=c_xt, c_eps=c_eps, sigma=sigma)
    # t is fed to the network as float32, like the training timesteps.
    return {k: v.astype(np.float32) for k, v in plan.items()}


@keras.saving.register_keras_serializable(package="astrozoo")
class DDPM(keras.Model):
    """Gaussian diffusion around a noise-predicting network.

    ``ddpm(images)`` is the training forward pass: it draws ``t`` and ``eps``
    (from its ``SeedGenerator``), noises the images and returns
    ``{"noise": eps, "predicted_noise": eps_hat, "timestep": t}``;
    ``compute_loss`` is the MSE between the two, so ``fit(images)`` trains it
    on any backend.

    Args:
        network: model ``[x_t, t] -> eps_hat`` (``t`` of shape ``(batch,)``).
        timesteps, schedule, beta_start, beta_end, cosine_s, signal_range:
            the noise schedule (see :func:`noise_schedule`).
        ema_decay: decay of the EMA of the trainable weights (``None`` or 0
            disables the EMA copy). The effective decay warms up as
            ``min(ema_decay, (1 + n) / (10 + n))`` after ``n`` steps.
        clip_range: ``(low, high)`` clip of the predicted ``x_0`` while
            sampling (``None`` disables).
        seed: seed of the training noise.
    """

    def __init__(
        self,
        network,
        timesteps=1000,
        schedule="cosine",
        beta_start=1e-4,
        beta_end=0.02,
        cosine_s=0.0008,
        signal_range=(0.05**2, 0.95**2),
        ema_decay=0.999,
        clip_range=(-1.0, 1.0),
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        sched = noise_schedule(timesteps, schedule, beta_start, beta_end, cosine_s, signal_range)
        if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"`ema_decay` must be None or in [0, 1). Received: ema_decay={ema_decay!r}")
        if len(network.inputs) != 2:
            raise ValueError(
                "`network` must take two inputs [noisy_images, timestep] (e.g. unet(..., "
                f"time_embedding_dim=...)). Received a model with {len(network.inputs)} input(s)."
            )
        self.network = network
        self.timesteps = timesteps
        self.schedule = schedule
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.cosine_s = float(cosine_s)
        self.signal_range = None if signal_range is None else tuple(float(v) for v in signal_range)
        self.ema_decay = None if not ema_decay else float(ema_decay)
        self.clip_range = None if clip_range is None else tuple(float(v) for v in clip_range)
        self.seed = seed
        self.image_shape = tuple(network.inputs[0].shape[1:])
        self.alpha_bar = sched["alpha_bar"]
        self.betas = sched["betas"]
        self.seed_generator = keras.random.SeedGenerator(seed)
        if self.ema_decay:
            self.ema_network = keras.models.clone_model(network)
            self.ema_network.set_weights(network.get_weights())
            self.ema_network.trainable = False
        else:
            self.ema_network = None
        # Compiled samplers, keyed by (network, n, plan); kept out of Keras' attribute tracking.
        object.__setattr__(self, "_samplers", {})
        self.built = True

    # ------------------------------------------------------------ training
    def q_sample(self, x0, t, noise):
        """``x_t`` for clean images ``x0``, integer steps ``t`` and noise ``noise``."""
        ab = ops.take(ops.convert_to_tensor(self.alpha_bar.astype("float32")), ops.cast(t, "int32"))
        ab = ops.reshape(ab, (-1,) + (1,) * len(self.image_shape))
        return ops.sqrt(ab) * x0 + ops.sqrt(1.0 - ab) * noise

    def call(self, images, training=None):
        images = ops.cast(images, "float32")
        batch = ops.shape(images)[0]
        t = keras.random.randint((batch,), 0, self.timesteps, seed=self.seed_generator)
        noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        x_t = self.q_sample(images, t, noise)
        pred = self.network([x_t, ops.cast(t, "float32")], training=training)
        return {"noise": noise, "predicted_noise": pred, "timestep": t}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        err = ops.square(ops.cast(y_pred["predicted_noise"], "float32") - y_pred["noise"])
        loss = ops.mean(err)
        for extra in self.losses:
            loss = loss + ops.cast(extra, "float32")
        return loss

    def _ema_pairs(self):
        # Not cached on `self`: a list of variables set as a layer attribute would be
        # tracked as the model's own weights.
        return list(zip(self.network.weights, self.ema_network.weights))

    def _ema_decay_at(self, iterations):
        n = ops.cast(iterations, "float32")
        return ops.minimum(self.ema_decay, (1.0 + n) / (10.0 + n))

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            state, data = args
            logs, state = super().train_step(state, data)
            if not self.ema_decay:
                return logs, state
            tv, ntv, ov, mv = state
            tv_idx = {id(v): i for i, v in enumerate(self.trainable_variables)}
            ntv_idx = {id(v): i for i, v in enumerate(self.non_trainable_variables)}
            it_idx = [id(v) for v in self.optimizer.variables].index(id(self.optimizer.iterations))
            decay = self._ema_decay_at(ov[it_idx])
            ntv = list(ntv)
            for w, e in self._ema_pairs():
                j = ntv_idx[id(e)]
                if id(w) in tv_idx:
                    src = tv[tv_idx[id(w)]]
                    ntv[j] = ops.cast(decay * ops.cast(ntv[j], "float32") + (1.0 - decay) * ops.cast(src, "float32"), e.dtype)
                else:
                    ntv[j] = ntv[ntv_idx[id(w)]]
            return logs, (tv, ntv, ov, mv)
        logs = super().train_step(*args)
        if self.ema_decay:
            self._update_ema()
        return logs

    def _update_ema(self):
        decay = self._ema_decay_at(self.optimizer.iterations)
        for w, e in self._ema_pairs():
            if w.trainable:
                e.assign(ops.cast(decay * ops.cast(e, "float32") + (1.0 - decay) * ops.cast(w, "float32"), e.dtype))
            else:
                e.assign(w)

    # ------------------------------------------------------------ sampling
    def sample(self, n, steps=None, method="ancestral", eta=None, seed=None, use_ema=True):
        """Generate ``n`` images by running the reverse chain as one compiled graph.

        Args:
            n: number of images.
            steps: number of denoising steps (default: ``timesteps`` for
                ``"ancestral"``, 50 for ``"ddim"``); fewer steps use an evenly
                spaced subsequence of the training steps (respaced posterior).
            method: ``"ancestral"`` (DDPM posterior ``p(x_{t-1} | x_t)``) or
                ``"ddim"`` (Song et al. 2021).
            eta: DDIM stochasticity (0 deterministic, 1 ancestral-like);
                default 0. Only for ``"ddim"``.
            seed: int; the same seed gives the same images.
            use_ema: sample with the EMA weights (when the model keeps them).

        Returns:
            numpy array ``(n, *image_shape)``.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"`n` must be a positive integer. Received: n={n!r}")
        if method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")
        if eta is not None and method != "ddim":
            raise ValueError(f"`eta` only applies to method='ddim'. Received: method={method!r}, eta={eta}")
        eta = 0.0 if eta is None else float(eta)
        if eta < 0:
            raise ValueError(f"`eta` must be >= 0. Received: eta={eta}")
        if steps is None:
            steps = self.timesteps if method == "ancestral" else min(50, self.timesteps)
        if not isinstance(steps, int) or not 1 <= steps <= self.timesteps:
            raise ValueError(f"`steps` must be an integer in [1, {self.timesteps}]. Received: steps={steps!r}")
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        net = self.ema_network if (use_ema and self.ema_network is not None) else self.network
        plan = _sampling_plan(self.alpha_bar, steps, method, eta)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return self._sample_tf(net, plan, n, int(seed))
        if backend == "jax":
            return self._sample_jax(net, plan, n, int(seed))
        return self._sample_eager(net, plan, n, int(seed))

    def _step(self, net_out, x, i, plan_t, z):
        """One reverse step from ``x`` given the network output (backend-neutral ops)."""
        sqrt_ab, sqrt_1mab, c_x0, c_xt, c_eps, sigma = (ops.take(plan_t[k], i) for k in
                                                         ("sqrt_ab", "sqrt_1mab", "c_x0", "c_xt", "c_eps", "sigma"))
        eps = ops.cast(net_out, "float32")
        x0 = (x - sqrt_1mab * eps) / sqrt_ab
        if self.clip_range is not None:
            x0 = ops.clip(x0, self.clip_range[0], self.clip_range[1])
            eps = (x - sqrt_ab * x0) / sqrt_1mab
        return c_x0 * x0 + c_xt * x + c_eps * eps + sigma * z

    def _sample_tf(self, net, plan, n, seed):
        import tensorflow as tf

        key = (id(net), n, len(plan["t"]), tuple(plan["sigma"].tolist()[:3]), float(plan["c_xt"].sum()))
        fn = self._samplers.get(key)
        if fn is None:
            plan_t = {k: tf.constant(v) for k, v in plan.items()}
            shape = (n, *self.image_shape)
            S = len(plan["t"])

            @tf.function(reduce_retracing=True)
            def fn(seed):
                x = tf.random.stateless_normal(shape, seed=tf.stack([seed, tf.constant(-1)]))
                for i in tf.range(S):
                    t = tf.fill((n,), plan_t["t"][i])
                    out = net([x, t], training=False)
                    z = tf.random.stateless_normal(shape, seed=tf.stack([seed, i]))
                    x = self._step(out, x, i, plan_t, z)
                return x

            self._samplers[key] = fn
        return fn(tf.constant(seed, tf.int32)).numpy()

    def _sample_jax(self, net, plan, n, seed):
        import jax

        key = (id(net), n, len(plan["t"]), tuple(plan["sigma"].tolist()[:3]), float(plan["c_xt"].sum()))
        fn = self._samplers.get(key)
        if fn is None:
            plan_t = {k: jax.numpy.asarray(v) for k, v in plan.items()}
            shape = (n, *self.image_shape)
            S = len(plan["t"])

            @jax.jit
            def fn(tv, ntv, rng):
                x = jax.random.normal(jax.random.fold_in(rng, S + 1), shape)

                def body(i, x):
                    t = jax.numpy.full((n,), plan_t["t"][i])
                    out, _ = net.stateless_call(tv, ntv, [x, t], training=False)
                    z = jax.random.normal(jax.random.fold_in(rng, i), shape)
                    return self._step(out, x, i, plan_t, z)

                return jax.lax.fori_loop(0, S, body, x)

            self._samplers[key] = fn
        tv = [v.value for v in net.trainable_variables]
        ntv = [v.value for v in net.non_trainable_variables]
        return np.asarray(fn(tv, ntv, jax.random.PRNGKey(seed)))

    def _sample_eager(self, net, plan, n, seed):
        # torch: an eager loop of direct calls (no predict); noise from a seeded numpy stream.
        rng = np.random.default_rng(seed)
        shape = (n, *self.image_shape)
        plan_t = {k: ops.convert_to_tensor(v) for k, v in plan.items()}
        x = ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))
        for i in range(len(plan["t"])):
            t = ops.full((n,), float(plan["t"][i]))
            out = ops.stop_gradient(net([x, t], training=False))
            z = ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))
            x = self._step(out, x, i, plan_t, z)
        return ops.convert_to_numpy(x)

    # -------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            network=keras.saving.serialize_keras_object(self.network),
            timesteps=self.timesteps,
            schedule=self.schedule,
            beta_start=self.beta_start,
            beta_end=self.beta_end,
            cosine_s=self.cosine_s,
            signal_range=self.signal_range,
            ema_decay=self.ema_decay,
            clip_range=self.clip_range,
            seed=self.seed,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


@register_model(
    "ddpm",
    task="generation",
    family="diffusion",
    default_input_shape=(28, 28, 1),
    description="DDPM with the course's cosine schedule, time-embedded U-Net, EMA, compiled ancestral/DDIM samplers.",
    references=(
        "Ho, Jain & Abbeel 2020, Denoising Diffusion Probabilistic Models",
        "Song, Meng & Ermon 2021, Denoising Diffusion Implicit Models",
        "Nichol & Dhariwal 2021, Improved Denoising Diffusion Probabilistic Models",
        "Cornu, AI_astro_ED_AAIF course: MNIST_diffusion.ipynb",
    ),
)
def ddpm(
    image_shape=None,
    timesteps=1000,
    schedule="cosine",
    filters=16,
    depth=3,
    time_embedding_dim=32,
    normalization="group",
    ema_decay=0.999,
    beta_start=1e-4,
    beta_end=0.02,
    cosine_s=0.0008,
    signal_range=(0.05**2, 0.95**2),
    clip_range=(-1.0, 1.0),
    network=None,
    seed=None,
    name="ddpm",
):
    """Build a DDPM with the course's U-Net denoiser (f=16, 3 downsamplings) plus a time embedding.

    Args:
        image_shape: ``(height, width, channels)``, default ``(28, 28, 1)``.
        timesteps: number of diffusion steps ``T``.
        schedule: ``"cosine"`` (the course's, see :func:`noise_schedule`) or ``"linear"``.
        filters: first-level filters of the U-Net (doubled per level).
        depth: U-Net downsampling steps.
        time_embedding_dim: width of the sinusoidal timestep embedding.
        normalization: U-Net normalisation (``"group"``, ``"batch"`` or ``None``).
        ema_decay: EMA decay of the trainable weights (``None`` disables).
        beta_start, beta_end: linear schedule end points.
        cosine_s: cosine schedule offset.
        signal_range: ``alpha_bar`` range of the course's rescaled cosine schedule.
        clip_range: clip of the predicted clean image while sampling.
        network: a ready ``[x_t, t] -> eps`` model to use instead of the U-Net.
        seed: seed of the training noise.
        name: model name.
    """
    image_shape = _utils.obtain_input_shape(image_shape, (28, 28, 1), min_size=1, include_top=True, model_name="ddpm")
    if network is None:
        network = unet(
            input_shape=image_shape,
            out_channels=image_shape[-1],
            depth=depth,
            filters=filters,
            out_activation=None,
            normalization=normalization,
            activation="swish",
            time_embedding_dim=time_embedding_dim,
            name=f"{name}_unet",
        )
    return DDPM(
        network,
        timesteps=timesteps,
        schedule=schedule,
        beta_start=beta_start,
        beta_end=beta_end,
        cosine_s=cosine_s,
        signal_range=signal_range,
        ema_decay=ema_decay,
        clip_range=clip_range,
        seed=seed,
        name=name,
    )

