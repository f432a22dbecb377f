"""One benchmark measurement in a fresh process (Keras fixes its backend at import).

``python -m benchmarks._worker '{"impl": "jax", "model": "lenet5", ...}'`` builds
the model, warms it up, prints ``RESULT {json}`` and then answers commands on
stdin (see :func:`serve`). ``impl`` is a Keras backend name or ``"pytorch"``
(the plain PyTorch peer from ``benchmarks/torch_peers.py``).
"""

import json
import os
import resource
import statistics
import sys
import time

# Per-model workload: input shape (channels last), classes, batch sizes, steps.
MODELS = {
    "lenet5": dict(shape=(28, 28, 1), classes=10, batch=128, steps=469, quick_steps=60, infer_batch=512),
    "spectra1d": dict(shape=(3776, 1), classes=7, batch=64, steps=120, quick_steps=30, infer_batch=256),
    "resnet18": dict(shape=(32, 32, 3), classes=10, batch=128, steps=12, quick_steps=3, infer_batch=256),
    "darknet19": dict(shape=(224, 224, 3), classes=1000, batch=16, steps=4, quick_steps=2, infer_batch=16),
}


def model_spec(cfg):
    """The model's entry of MODELS, with ``batch``/``infer_batch`` taken from ``cfg`` where given (GPU runs)."""
    return {**MODELS[cfg["model"]], **{k: int(cfg[k]) for k in ("batch", "infer_batch") if k in cfg}}


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _data(spec, n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *spec["shape"]), dtype=np.float32)
    y = rng.integers(0, spec["classes"], size=n).astype("int32")
    return x, y


def build_keras_model(name, spec):
    import astrozoo.applications as apps

    kwargs = dict(input_shape=spec["shape"], classes=spec["classes"], classifier_activation=None)
    if name == "resnet18":
        kwargs["small_inputs"] = True
    return getattr(apps, name)(**kwargs)


class KerasSession:
    """A built and compiled astrozoo model; ``train()``/``infer()`` time one pass each."""

    def __init__(self, cfg):
        import numpy as np

        from astrozoo import backend as azb

        azb.configure_threads(cfg.get("threads"))  # before the frameworks load

        import keras

        if cfg.get("precision"):
            import astrozoo

            astrozoo.set_precision(cfg["precision"])
        self.keras = keras
        self.spec = spec = model_spec(cfg)
        self.batch, self.steps = spec["batch"], cfg["steps"]
        self.model = model = build_keras_model(cfg["model"], spec)
        from astrozoo.applications.flops import count_flops

        compile_kw = azb.fit_defaults(
            jit_compile=cfg.get("jit_compile", "auto"), steps_per_execution=cfg.get("steps_per_execution")
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            **compile_kw,
        )
        self.meta = dict(
            flops_per_image=count_flops(model),
            params=model.count_params(),
            trainable_params=sum(int(np.prod(w.shape)) for w in model.trainable_weights),
            compile=_jsonable(compile_kw),
            backend=keras.backend.backend(),
        )
        self.x, self.y = _data(spec, self.steps * self.batch)
        # "dataset" (default): astrozoo.datasets.from_arrays, the recommended feed;
        # "numpy": fit(x, y) / predict(x), whose tf.data autotuner stalls at epoch ends.
        self.feed = cfg.get("feed", "dataset")
        if self.feed not in ("dataset", "numpy"):
            raise ValueError(f"feed must be 'dataset' or 'numpy', got {self.feed!r}")
        self.meta["feed"] = self.feed
        self.ib = spec["infer_batch"]
        self.xi, _ = _data(spec, self.ib * max(1, cfg.get("infer_batches", 4)), seed=1)
        if self.feed == "dataset":
            from astrozoo.datasets import from_arrays

            self.ds = from_arrays(self.x, self.y, batch_size=self.batch, shuffle=False)
            self.dsi = from_arrays(self.xi, batch_size=self.ib, shuffle=False)

    def train(self):
        t0 = time.perf_counter()
        if self.feed == "dataset":
            self.model.fit(self.ds, epochs=1, verbose=0)
        else:
            self.model.fit(self.x, self.y, batch_size=self.batch, epochs=1, verbose=0, shuffle=False)
        return self.steps * self.batch / (time.perf_counter() - t0)

    def infer(self):
        t0 = time.perf_counter()
        if self.feed == "dataset":
            self.model.predict(self.dsi, verbose=0)
        else:
            self.model.predict(self.xi, batch_size=self.ib, verbose=0)
        return len(self.xi) / (time.perf_counter() - t0)


class TorchSession:
    """The plain PyTorch peer, trained with the textbook loop."""

    def __init__(self, cfg):
        import torch

        from benchmarks import torch_peers

        if cfg.get("threads"):
            torch.set_num_threads(int(cfg["threads"]))
        self.torch = torch
        self.spec = spec = model_spec(cfg)
        self.batch, self.steps = spec["batch"], cfg["steps"]
        self.device = torch.device(cfg.get("device", "cpu"))
        # amp=True: float16 autocast with a gradient scaler, PyTorch's mixed precision on a GPU.
        self.amp = bool(cfg.get("amp", False))
        if self.amp and self.device.type != "cuda":
            raise ValueError("amp=True needs device=cuda")
        torch.manual_seed(0)
        self.model = torch_peers.build(cfg["model"], spec["shape"], spec["classes"]).to(self.device)
        trainable, params = torch_peers.count_params(self.model)
        self.meta = dict(params=params, trainable_params=trainable, threads=torch.get_num_threads(),
                         device=str(self.device), amp=self.amp)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

        def to_torch(x):
            # Channels-last arrays to PyTorch's channels-first layout, once, before timing.
            return torch.from_numpy(x).movedim(-1, 1).contiguous().to(self.device)

        x, y = _data(spec, self.steps * self.batch)
        self.x, self.y = to_torch(x), torch.from_numpy(y).long().to(self.device)
        self.ib = spec["infer_batch"]
        xi, _ = _data(spec, self.ib * max(1, cfg.get("infer_batches", 4)), seed=1)
        self.xi = to_torch(xi)

    def _autocast(self):
        return self.torch.autocast("cuda", dtype=self.torch.float16, enabled=self.amp)

    def train(self):
        F = self.torch.nn.functional
        b = self.batch
        self.model.train()
        t0 = time.perf_counter()
        for i in range(self.steps):
            xb, yb = self.x[i * b : (i + 1) * b], self.y[i * b : (i + 1) * b]
            self.opt.zero_grad(set_to_none=True)
            with self._autocast():
                loss = F.cross_entropy(self.model(xb), yb)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        float(loss)  # waits for the GPU
        return self.steps * b / (time.perf_counter() - t0)

    def infer(self):
        self.model.eval()
        t0 = time.perf_counter()
        with self.torch.inference_mode(), self._autocast():
            for i in range(0, len(self.xi), self.ib):
                self.model(self.xi[i : i + self.ib])
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()
        return len(self.xi) / (time.perf_counter() - t0)


def serve(cfg):
    """Answer one JSON command per stdin line: ``train``, ``infer`` or ``exit``.

    The runner interleaves the commands of all workers, so that the load of a
    shared machine drifts over every implementation alike.
    """
    t0 = time.perf_counter()
    session = TorchSession(cfg) if cfg["impl"] == "pytorch" else KerasSession(cfg)
    meta = dict(session.meta, impl=cfg["impl"], model=cfg["model"], setup_s=time.perf_counter() - t0)
    # Warm-up: tracing, compilation, allocator growth.
    if cfg.get("train", True):
        t1 = time.perf_counter()
        session.train()
        meta["train_warmup_s"] = time.perf_counter() - t1
    if cfg.get("infer", True):
        session.infer()
    _reply(meta)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "train":
            _reply(dict(train_img_s=session.train()))
        elif cmd == "infer":
            _reply(dict(infer_img_s=session.infer()))
        elif cmd == "exit":
            _reply(dict(peak_rss_mb=_peak_rss_mb()))
            return
        else:
            _reply(dict(error=f"unknown command {cmd!r}"))


def _reply(d):
    print("RESULT " + json.dumps(d), flush=True)


def _jsonable(d):
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for k, v in d.items()}


def main(argv=None):
    cfg = json.loads((argv or sys.argv[1:])[0])
    if cfg["impl"] != "pytorch" and os.environ.get("KERAS_BACKEND") != cfg["impl"]:
        raise SystemExit(f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r} but impl={cfg['impl']!r}")
    serve(cfg)


if __name__ == "__main__":
    main()
