"""Benchmark of the generative models: compiled DDPM sampler vs a per-step predict loop,
and the training-step time of every generative model.

``run(quick=False) -> dict``; ``python benchmarks/bench_generative.py [--quick] [--out FILE]``
prints a table and writes JSON. Timings are medians over repeats, on whatever
machine runs them (contended CPUs make ratios more reliable than absolutes).
"""

import argparse
import json
import pathlib
import statistics
import time

import keras
import numpy as np


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def predict_loop_sample(model, n, steps, method="ancestral", eta=0.0, seed=0, use_ema=True):
    """The keras-io way: one ``predict`` call per step and the update in numpy (reference only)."""
    from astrozoo.applications.ddpm import _sampling_plan

    net = model.ema_network if (use_ema and model.ema_network is not None) else model.network
    plan = _sampling_plan(model.alpha_bar, steps, method, eta)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *model.image_shape)).astype("float32")
    for i in range(len(plan["t"])):
        t = np.full((n,), plan["t"][i], "float32")
        eps = net.predict([x, t], verbose=0, batch_size=n)
        x0 = (x - plan["sqrt_1mab"][i] * eps) / plan["sqrt_ab"][i]
        if model.clip_range is not None:
            x0 = np.clip(x0, *model.clip_range)
            eps = (x - plan["sqrt_ab"][i] * x0) / plan["sqrt_1mab"][i]
        z = rng.standard_normal(x.shape).astype("float32")
        x = plan["c_x0"][i] * x0 + plan["c_xt"][i] * x + plan["c_eps"][i] * eps + plan["sigma"][i] * z
    return x


def bench_sampler(quick):
    from astrozoo.applications import ddpm

    T, n, steps = (100, 8, 20) if quick else (1000, 64, 100)
    model = ddpm(timesteps=T, seed=0)
    t0 = time.perf_counter()
    model.sample(n, steps=steps, seed=0)  # trace + compile
    compile_s = time.perf_counter() - t0
    repeats = 2 if quick else 3
    compiled = _median_time(lambda: model.sample(n, steps=steps, seed=0), repeats)
    loop = _median_time(lambda: predict_loop_sample(model, n, steps), repeats)
    a = model.sample(n, steps=steps, method="ddim", eta=0.0, seed=0)
    return {
        "backend": keras.backend.backend(),
        "timesteps": T,
        "images": n,
        "steps": steps,
        "compiled_first_call_s": round(compile_s, 3),
        "compiled_s": round(compiled, 4),
        "predict_loop_s": round(loop, 4),
        "speedup": round(loop / compiled, 2),
        "compiled_ms_per_step": round(1000 * compiled / steps, 2),
        "predict_loop_ms_per_step": round(1000 * loop / steps, 2),
        "ddim_output_finite": bool(np.isfinite(a).all()),
    }


class _BatchTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._t)

    def on_train_begin(self, logs=None):
        self.times = []


def bench_train_steps(quick):
    from astrozoo.applications import autoencoder, ddpm, gan, unet, vae

    batch, steps = (16, 6) if quick else (64, 25)
    rng = np.random.default_rng(0)
    x01 = rng.uniform(size=(batch * steps, 28, 28, 1)).astype("float32")
    xpm = x01 * 2 - 1

    def ae():
        m = autoencoder()
        m.compile(keras.optimizers.Adam(1e-3), loss="mse")
        return m, (x01, x01)

    def un():
        m = unet(depth=2, filters=16)
        m.compile(keras.optimizers.Adam(1e-3), loss="mse")
        return m, (x01, x01)

    def va():
        m = vae(seed=0)
        m.compile(keras.optimizers.Adam(1e-3))
        return m, (x01,)

    def dc():
        m = gan("dcgan", filters=32, seed=0)
        m.compile()
        return m, (xpm,)

    def wg():
        m = gan("wgan_gp", filters=32, seed=0)
        m.compile()
        return m, (xpm,)

    def dd():
        m = ddpm(seed=0)
        m.compile(keras.optimizers.Adam(1e-3))
        return m, (xpm,)

    out = {}
    for name, make in [("unet_denoise", un), ("autoencoder", ae), ("vae", va), ("dcgan", dc), ("wgan_gp(5 critic)", wg), ("ddpm(ema)", dd)]:
        model, data = make()
        timer = _BatchTimer()
        model.fit(*data, batch_size=batch, epochs=1, verbose=0, callbacks=[timer])
        warm = timer.times[1:] or timer.times  # the first batch traces and compiles
        out[name] = {
            "batch": batch,
            "median_step_ms": round(1000 * statistics.median(warm), 2),
            "first_step_s": round(timer.times[0], 2),
            "params": int(model.count_params()),
        }
        keras.backend.clear_session()
    return out


def run(quick=False):
    """All generative benchmarks; a JSON-serialisable dict."""
    return {"quick": quick, "backend": keras.backend.backend(), "ddpm_sampler": bench_sampler(quick),
            "train_step": bench_train_steps(quick)}


def _table(res):
    s = res["ddpm_sampler"]
    lines = [
        f"DDPM sampler ({s['backend']}, T={s['timesteps']}, {s['images']} images, {s['steps']} steps):",
        f"  compiled graph   {s['compiled_s']:.3f} s  ({s['compiled_ms_per_step']} ms/step; first call {s['compiled_first_call_s']} s)",
        f"  predict per step {s['predict_loop_s']:.3f} s  ({s['predict_loop_ms_per_step']} ms/step)",
        f"  speed-up         x{s['speedup']}",
        "",
        f"{'model':<20}{'batch':>6}{'median step ms':>16}{'params':>12}",
    ]
    for name, r in res["train_step"].items():
        lines.append(f"{name:<20}{r['batch']:>6}{r['median_step_ms']:>16}{r['params']:>12,}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="outputs/bench_generative.json")
    args, _ = parser.parse_known_args()
    res = run(quick=args.quick)
    print(_table(res))
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")
