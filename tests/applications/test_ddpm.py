import keras
import numpy as np
import pytest
from keras import ops

from astrozoo.applications import DDPM, ddpm, get_model, noise_schedule, unet
from astrozoo.applications.ddpm import _sampling_plan

TINY = dict(filters=4, depth=1, time_embedding_dim=8, normalization=None)


def _course_cosine_reference(t_index, T, s=0.0008, lo=0.05**2, hi=0.95**2):
    """Scalar re-derivation of the course's rescaled cosine alpha_bar."""
    grid = lambda i: i * T / (T - 1)  # np.linspace(0, T, T)[i]  # noqa: E731
    f = lambda i: np.cos((grid(i) / T + s) / (1 + s) * np.pi / 2) ** 2  # noqa: E731
    fmax, fmin = f(0), f(T - 2)  # f decreases: extremes of the first T-1 values
    return (f(t_index) - fmin) / (fmax - fmin) * (hi - lo) + lo


def test_course_cosine_schedule_closed_form():
    T = 1000
    sch = noise_schedule(T, "cosine")
    ab = sch["alpha_bar"]
    assert ab.shape == (T,) and ab.dtype == np.float64
    assert ab[0] == pytest.approx(0.95**2, abs=1e-12)
    assert ab[:-1].min() == pytest.approx(0.05**2, abs=1e-12) and np.argmin(ab[:-1]) == T - 2
    for t in (1, 250, 500, 999 - 1):
        assert ab[t] == pytest.approx(_course_cosine_reference(t, T), rel=1e-9)
    assert (np.diff(ab) < 0).all()
    np.testing.assert_allclose(np.cumprod(sch["alphas"]), ab, rtol=1e-12)
    np.testing.assert_allclose(sch["alphas"], 1 - sch["betas"])
    assert sch["betas"][0] == pytest.approx(1 - 0.95**2)


def test_nichol_cosine_and_linear_closed_form():
    T = 1000
    ab = noise_schedule(T, "cosine", cosine_s=0.008, signal_range=None)["alpha_bar"]
    f = lambda t: np.cos((t / T + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    for t in (0, 100, 500, 900):
        assert ab[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    lin = noise_schedule(T, "linear")
    betas = 1e-4 + np.arange(T) * (0.02 - 1e-4) / (T - 1)
    np.testing.assert_allclose(lin["betas"], betas, rtol=1e-12)
    assert lin["alpha_bar"][-1] == pytest.approx(np.exp(np.log1p(-betas).sum()), rel=1e-12)
    assert lin["alpha_bar"][-1] == pytest.approx(4.036e-5, rel=1e-3)  # the classic DDPM value


BAD_SCHEDULES = [
    ({"schedule": "sigmoid"}, "schedule"),
    ({"timesteps": 1}, "timesteps"),
    ({"schedule": "linear", "beta_start": 0.1, "beta_end": 0.01}, "beta_start"),
    ({"signal_range": (0.9, 0.1)}, "signal_range"),
]


def test_schedule_bad_arguments():
    for kwargs, match in BAD_SCHEDULES:
        with pytest.raises(ValueError, match=match):
            noise_schedule(**{"timesteps": 100, **kwargs})



def test_q_sample_closed_form():
    model = ddpm(timesteps=100, seed=0, **TINY)
    x0 = np.full((2, 28, 28, 1), 0.5, "float32")
    eps = np.ones_like(x0)
    t = np.array([0, 99])
    out = np.asarray(model.q_sample(x0, t, eps))
    ab = model.alpha_bar[t]
    np.testing.assert_allclose(out[:, 0, 0, 0], np.sqrt(ab) * 0.5 + np.sqrt(1 - ab), rtol=1e-5)


def test_sampling_plan_end_points():
    ab = noise_schedule(100, "cosine")["alpha_bar"]
    for method, eta in (("ancestral", 0.0), ("ddim", 0.0), ("ddim", 1.0)):
        plan = _sampling_plan(ab, 10, method, eta)
        assert plan["t"][0] == 99 and plan["t"][-1] == 0 and len(plan["t"]) == 10
        # Last step returns the predicted clean image, without noise.
        assert plan["sigma"][-1] == 0 and plan["c_x0"][-1] == pytest.approx(1.0)
    ddim1, anc = _sampling_plan(ab, 100, "ddim", 1.0), _sampling_plan(ab, 100, "ancestral", 0.0)
    np.testing.assert_allclose(ddim1["sigma"], anc["sigma"], rtol=1e-5)  # eta = 1 is the DDPM variance


class _GaussianOracle(keras.layers.Layer):
    """E[eps | x_t] for data x0 ~ N(mu, s^2) per pixel: the exact optimal denoiser."""

    def __init__(self, alpha_bar, mu, s, **kwargs):
        super().__init__(**kwargs)
        self.ab = np.asarray(alpha_bar, "float32")
        self.mu, self.s2 = mu, s * s

    def call(self, inputs):
        x, t = inputs
        ab = ops.reshape(ops.take(ops.convert_to_tensor(self.ab), ops.cast(t, "int32")), (-1, 1, 1, 1))
        return ops.sqrt(1.0 - ab) * (x - ops.sqrt(ab) * self.mu) / (ab * self.s2 + 1.0 - ab)


LINEAR = {"beta_start": 1e-3, "beta_end": 0.1}


@pytest.mark.parametrize(
    "schedule,kw,method,steps,eta",
    [
        ("cosine", {}, "ancestral", None, None),
        ("cosine", {}, "ddim", 25, 0.0),
        ("cosine", {}, "ddim", 50, 1.0),
        ("linear", LINEAR, "ancestral", None, None),
        ("linear", LINEAR, "ddim", 200, 0.0),
    ],
)
def test_samplers_recover_gaussian_data_with_exact_denoiser(schedule, kw, method, steps, eta):
    T, mu, s = 200, 0.5, 0.3
    ab = noise_schedule(T, schedule, **kw)["alpha_bar"]
    x_in, t_in = keras.Input((4, 4, 1)), keras.Input(())
    net = keras.Model([x_in, t_in], _GaussianOracle(ab, mu, s)([x_in, t_in]))
    model = DDPM(net, timesteps=T, schedule=schedule, ema_decay=None, clip_range=None, **kw)
    x = model.sample(400, steps=steps, method=method, eta=eta, seed=0)
    # The chain ends with E[x0 | x_0-level], shrunk towards mu: with the course's schedule
    # alpha_bar[0] = 0.9025, so the expected spread is well below s.
    a0 = ab[0]
    expected_std = s * np.sqrt(a0 * s * s / (a0 * s * s + 1 - a0))
    assert abs(x.mean() - mu) < 0.02, x.mean()
    assert abs(x.std() - expected_std) < 0.08 * expected_std, (x.std(), expected_std)


def test_training_lowers_noise_prediction_loss(shared_data):
    from astrozoo.datasets import read_idx

    keras.utils.set_random_seed(0)
    x = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")[:64, ..., None].astype("float32") / 127.5 - 1
    model = ddpm(timesteps=100, seed=0, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = np.mean([model.evaluate(x, verbose=0, batch_size=64) for _ in range(3)])
    model.fit(x, epochs=4, batch_size=16, verbose=0)
    after = np.mean([model.evaluate(x, verbose=0, batch_size=64) for _ in range(3)])
    assert after < 0.85 * before, (before, after)


def test_ema_of_trainable_weights_closed_form():
    model = ddpm(timesteps=20, seed=0, ema_decay=0.5, **TINY)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    w0 = [np.asarray(v).copy() for v in model.network.trainable_variables]
    model.fit(np.zeros((4, 28, 28, 1), "float32"), epochs=1, batch_size=4, verbose=0)
    w1 = [np.asarray(v) for v in model.network.trainable_variables]
    d = min(0.5, 2.0 / 11.0)  # warm-up after 1 step: (1 + n) / (10 + n)
    changed = 0
    for a, b, e in zip(w0, w1, [np.asarray(v) for v in model.ema_network.trainable_weights or model.ema_network.weights]):
        np.testing.assert_allclose(e, d * a + (1 - d) * b, rtol=1e-5, atol=1e-7)
        changed += np.abs(a - b).max() > 0
    assert changed > 0
    assert not model.ema_network.trainable and len(model.trainable_variables) == len(model.network.trainable_variables)


def test_sampling_reproducible_and_roundtrip(tmp_path):
    model = ddpm(timesteps=30, seed=0, **TINY)
    a = model.sample(3, seed=5)
    np.testing.assert_array_equal(a, model.sample(3, seed=5))
    assert np.abs(a - model.sample(3, seed=6)).max() > 0
    d = model.sample(3, steps=5, method="ddim", eta=0.0, seed=5)
    np.testing.assert_array_equal(d, model.sample(3, steps=5, method="ddim", eta=0.0, seed=5))
    assert a.shape == (3, 28, 28, 1) and a.min() >= -1 and a.max() <= 1
    path = tmp_path / "ddpm.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.sample(3, seed=5), a, atol=1e-5)
    assert reloaded.get_config()["schedule"] == "cosine" and reloaded.timesteps == 30


BAD_SAMPLE_ARGUMENTS = [
    ({"method": "euler"}, "method"),
    ({"method": "ancestral", "eta": 0.5}, "eta"),
    ({"steps": 31}, "steps"),
    ({"method": "ddim", "eta": -1.0}, "eta"),
]


def test_sample_bad_arguments():
    model = ddpm(timesteps=30, **TINY)
    for kwargs, match in BAD_SAMPLE_ARGUMENTS:
        with pytest.raises(ValueError, match=match):
            model.sample(2, **kwargs)



def test_network_must_take_timestep():
    with pytest.raises(ValueError, match="two inputs"):
        DDPM(unet(depth=1, filters=4))


def test_registered():
    info = get_model("ddpm")
    assert info.task == "generation" and info.family == "diffusion"
