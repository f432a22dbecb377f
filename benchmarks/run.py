"""astrozoo benchmark suite: ``python -m benchmarks.run [--quick] [--only ...] [--json out.json]``.

For each model (lenet5, spectra1d, resnet18 at 32x32, darknet19 at 224x224) it
times training and inference of astrozoo on every installed Keras backend, side
by side with the same network written in plain PyTorch
(``benchmarks/torch_peers.py``), in interleaved rounds so that the load of a
shared machine drifts over all of them alike. Each implementation lives in its
own process (Keras fixes its backend at import). It reports medians, the ratio
astrozoo/PyTorch per round (median of ratios: the figure of merit on a noisy
machine), achieved GFLOP/s against a measured matrix-multiply peak, peak memory
(max RSS of each process) and CIANNA's published GPU figures where they exist.

Plug-ins: every ``benchmarks/bench_*.py`` exposing ``run(quick=False) -> dict``
is called too and its result stored under ``"plugins"``.

Implementation specs (``--impls``) are ``pytorch`` or a Keras backend name with
optional compile settings, e.g. ``tensorflow:jit_compile=false`` or
``jax:steps_per_execution=8,threads=1``; without settings a backend runs with
``astrozoo.backend.fit_defaults()`` (astrozoo's recommended configuration), fed by
``astrozoo.datasets.from_arrays``; ``tensorflow:feed=numpy`` feeds ``fit`` NumPy arrays instead.
"""

import argparse
import importlib
import json
import os
import pathlib
import platform
import random
import statistics
import subprocess
import sys
import time

from benchmarks._worker import MODELS

REPO = pathlib.Path(__file__).resolve().parents[1]
ALL_MODELS = tuple(MODELS)
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
# CIANNA README (RTX 4090, FP16 compute / FP32 accumulate, inference at maximum
# batch): published for reference only, not measured here.
CIANNA_PUBLISHED = {
    "lenet5": {"infer_img_s": 630_000, "note": "CIANNA README, MNIST, RTX 4090 FP16C_FP32A"},
    "darknet19": {"infer_img_s": 740, "note": "CIANNA README, ImageNet at 448 px, RTX 4090 FP16C_FP32A"},
}


def installed_backends():
    """Keras backends whose framework can be imported here."""
    found = []
    for name, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
        if importlib.util.find_spec(module) is not None:
            found.append(name)
    return found


def parse_impl(spec):
    """``"jax:steps_per_execution=8"`` -> ``("jax", {"steps_per_execution": 8})``."""
    name, _, opts = spec.partition(":")
    if name != "pytorch" and name not in KERAS_BACKENDS:
        raise ValueError(f"Unknown implementation {name!r} in {spec!r}; expected pytorch or one of {KERAS_BACKENDS}.")
    cfg = {}
    for item in filter(None, opts.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"Bad setting {item!r} in {spec!r}; expected key=value.")
        low = value.lower()
        cfg[key] = True if low == "true" else False if low == "false" else int(value) if value.isdigit() else value
    return name, cfg


class Worker:
    """A ``benchmarks._worker`` process that answers train/infer commands."""

    def __init__(self, label, cfg, env_extra=None):
        self.label = label
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if cfg["impl"] != "pytorch":
            env["KERAS_BACKEND"] = cfg["impl"]
        env.update(env_extra or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._worker", json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        self.meta = self._read()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        err = self.proc.stderr.read()[-3000:]
        raise RuntimeError(f"benchmark worker {self.label} died:\n{err}")

    def ask(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        try:
            return self.ask("exit")
        finally:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def measure_matmul_peak(n=2048, repeats=5):
    """Median float32 matrix-multiply GFLOP/s of numpy and torch (the best is the peak)."""
    code = f"""
import json, statistics, time
import numpy as np
out = {{}}
a = np.random.default_rng(0).standard_normal(({n}, {n}), dtype=np.float32)
def timeit(f):
    f(); ts = []
    for _ in range({repeats}):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return 2 * {n}**3 / statistics.median(ts) / 1e9
out["numpy"] = timeit(lambda: a @ a)
try:
    import torch
    t = torch.from_numpy(a)
    out["torch"] = timeit(lambda: t @ t)
except ImportError:
    pass
print("RESULT " + json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = [l for l in res.stdout.splitlines() if l.startswith("RESULT ")][-1]
    per_lib = json.loads(line[7:])
    return {"gflops": max(per_lib.values()), "per_library": per_lib, "n": n}


def bench_model(model, impls, quick, repeats, log, sizes=None):
    """Interleaved rounds of all implementations of one model.

    ``sizes`` overrides the model's ``batch``, ``infer_batch`` and ``steps`` (GPU runs).
    """
    sizes = sizes or {}
    spec = {**MODELS[model], **sizes}
    steps = spec["quick_steps"] if quick and "steps" not in sizes else spec["steps"]
    batches = {k: spec[k] for k in ("batch", "infer_batch")}
    workers = {}
    result = {"model": model, "input_shape": spec["shape"], "batch": spec["batch"], "steps_per_round": steps}
    try:
        for label, (impl, extra) in impls.items():
            cfg = {"impl": impl, "model": model, "steps": steps, **batches, **{k: v for k, v in extra.items() if k != "env"}}
            t0 = time.perf_counter()
            workers[label] = Worker(label, cfg, extra.get("env"))
            log(f"  {model}: {label} ready in {time.perf_counter() - t0:.0f}s")
        order = list(workers)
        train = {k: [] for k in workers}
        infer = {k: [] for k in workers}
        rng = random.Random(0)
        for r in range(repeats):
            rng.shuffle(order)
            for k in order:
                train[k].append(workers[k].ask("train")["train_img_s"])
            rng.shuffle(order)
            for k in order:
                infer[k].append(workers[k].ask("infer")["infer_img_s"])
            log(f"  {model} round {r + 1}/{repeats}: train " + ", ".join(f"{k} {train[k][-1]:.0f}" for k in workers)
                + " img/s; infer " + ", ".join(f"{k} {infer[k][-1]:.0f}" for k in workers) + " img/s")
        closing = {k: w.close() for k, w in workers.items()}
    finally:
        for w in workers.values():
            if w.proc.poll() is None:
                w.proc.kill()
    metas = {k: w.meta for k, w in workers.items()}
    flops = next((m["flops_per_image"] for m in metas.values() if "flops_per_image" in m), None)
    # The reference: the first plain-PyTorch implementation (e.g. "pytorch" or "pytorch:threads=1").
    ref = next((k for k in workers if metas[k]["impl"] == "pytorch"), None)
    rows = {}
    for k in workers:
        row = dict(metas[k])
        row["peak_rss_mb"] = closing[k]["peak_rss_mb"]
        row["train_img_s"] = statistics.median(train[k])
        row["infer_img_s"] = statistics.median(infer[k])
        row["train_img_s_rounds"] = train[k]
        row["infer_img_s_rounds"] = infer[k]
        if flops:
            # A training step is ~3x the forward FLOPs.
            row["train_gflops"] = 3 * flops * row["train_img_s"] / 1e9
            row["infer_gflops"] = flops * row["infer_img_s"] / 1e9
        if ref is not None and k != ref:
            row["train_ratio_vs_pytorch"] = statistics.median(a / b for a, b in zip(train[k], train[ref]))
            row["infer_ratio_vs_pytorch"] = statistics.median(a / b for a, b in zip(infer[k], infer[ref]))
        rows[k] = row
    if ref is not None:
        check_param_counts(model, rows, ref)
    result.update(flops_per_image=flops, results=rows)
    if model in CIANNA_PUBLISHED:
        result["cianna_published"] = CIANNA_PUBLISHED[model]
    return result


def check_param_counts(model, rows, ref_label="pytorch"):
    """The peer must be the same network: equal trainable and total parameter counts."""
    ref = rows[ref_label]
    for k, row in rows.items():
        if row.get("impl") == "pytorch":
            continue
        if (row["trainable_params"], row["params"]) != (ref["trainable_params"], ref["params"]):
            raise AssertionError(
                f"{model}: astrozoo ({k}) has {row['trainable_params']} trainable / {row['params']} total "
                f"parameters but the PyTorch peer has {ref['trainable_params']} / {ref['params']}."
            )


def run_plugins(quick, only, log):
    out = {}
    for path in sorted(pathlib.Path(__file__).parent.glob("bench_*.py")):
        name = path.stem
        if only and name not in only and name[len("bench_") :] not in only:
            continue
        try:
            mod = importlib.import_module(f"benchmarks.{name}")
        except Exception as exc:  # a broken plug-in must not take the suite down
            out[name] = {"error": f"import failed: {exc!r}"}
            continue
        if not callable(getattr(mod, "run", None)):
            continue
        log(f"plug-in {name}")
        try:
            out[name] = mod.run(quick=quick)
        except Exception as exc:
            out[name] = {"error": repr(exc)}
    return out


# Batches sized for a data-centre GPU, so that a step is not all launch overhead.
GPU_SIZES = {
    "resnet18": dict(batch=256, infer_batch=1024, steps=40),
    "darknet19": dict(batch=64, infer_batch=128, steps=20),
}
_GPU_PROBES = {
    "tensorflow": "import tensorflow as tf; n = len(tf.config.list_physical_devices('GPU'))",
    "jax": "import jax; n = sum(d.platform == 'gpu' for d in jax.devices())",
    "torch": "import torch; n = torch.cuda.device_count()",
}


def gpus_seen(backend):
    """How many GPUs ``backend`` sees, asked in a child process (0 if it is not installed)."""
    if importlib.util.find_spec(backend) is None:
        return 0
    code = _GPU_PROBES[backend] + "; import json; print('RESULT ' + json.dumps(n))"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    n = [json.loads(line[7:]) for line in res.stdout.splitlines() if line.startswith("RESULT ")]
    return n[0] if n else 0


def gpu_precision(quick, log, backends=KERAS_BACKENDS, repeats=3, models=tuple(GPU_SIZES)):
    """float32 vs mixed precision training and inference on a GPU, for each Keras backend that sees one.

    The peer is plain PyTorch on the same GPU, in float32 and with float16
    autocast (AMP). Skipped when no backend sees a GPU.
    """
    seen = {b: gpus_seen(b) for b in backends}
    log(f"gpu-precision: GPUs seen per backend {seen}")
    use = [b for b in backends if seen[b]]
    if not use:
        msg = f"skipped: no GPU visible to {', '.join(backends)} on this machine"
        log(f"gpu-precision: {msg}")
        return {"skipped": msg}
    impls = {}
    if seen["torch"] if "torch" in seen else gpus_seen("torch"):
        impls["pytorch"] = ("pytorch", {"device": "cuda"})
        impls["pytorch:amp"] = ("pytorch", {"device": "cuda", "amp": True})
    for b in use:
        # feed=dataset needs tf.data; without TensorFlow Keras gets the NumPy arrays.
        feed = {} if importlib.util.find_spec("tensorflow") else {"feed": "numpy"}
        for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
            impls[f"{b}:{policy}"] = (b, {"precision": policy, **feed})
    out = {"backends": use}
    for model in models:
        sizes = GPU_SIZES[model]
        if quick:
            sizes = dict(sizes, steps=max(sizes["steps"] // 2, 5))
        out[model] = res = bench_model(model, impls, quick, repeats, log, sizes=sizes)
        r = res["results"]
        for b in use:
            for policy in ("mixed_float16", "mixed_bfloat16"):
                for what in ("train", "infer"):
                    res[f"{b}:{policy}_over_float32_{what}"] = (
                        r[f"{b}:{policy}"][f"{what}_img_s"] / r[f"{b}:float32"][f"{what}_img_s"]
                    )
    return out


def format_table(results, peak):
    lines = []
    head = f"{'model':10} {'impl':34} {'train img/s':>11} {'x torch':>7} {'infer img/s':>11} {'x torch':>7} {'GFLOP/s tr/inf':>15} {'%peak inf':>9} {'RSS MB':>7}"
    lines += [head, "-" * len(head)]
    for res in results:
        for k, row in res["results"].items():
            tr = row.get("train_ratio_vs_pytorch")
            ir = row.get("infer_ratio_vs_pytorch")
            gf = f"{row.get('train_gflops', 0):6.1f}/{row.get('infer_gflops', 0):6.1f}"
            pk = f"{100 * row.get('infer_gflops', 0) / peak:8.0f}%" if peak else ""
            lines.append(
                f"{res['model']:10} {k:34} {row['train_img_s']:11.1f} {'' if tr is None else f'{tr:.2f}':>7} "
                f"{row['infer_img_s']:11.1f} {'' if ir is None else f'{ir:.2f}':>7} {gf:>15} {pk:>9} {row['peak_rss_mb']:7.0f}"
            )
        if "cianna_published" in res:
            c = res["cianna_published"]
            lines.append(f"{res['model']:10} {'CIANNA (published, GPU)':34} {'':11} {'':7} {c['infer_img_s']:11.0f}   ({c['note']})")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps per round (about a minute per model)")
    parser.add_argument("--only", nargs="+", default=None, help=f"models {ALL_MODELS} and/or plug-ins (e.g. bench_yolo)")
    parser.add_argument("--impls", nargs="+", default=None, help="implementations, e.g. pytorch jax tensorflow:jit_compile=false")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 5, 3 with --quick)")
    parser.add_argument("--json", default=None, help="write the results there (never overwrites: add --force)")
    parser.add_argument("--force", action="store_true", help="overwrite --json if it exists (or was written by this run)")
    parser.add_argument("--gpu-precision", action="store_true", help="only the float32 vs mixed precision GPU benchmark (resnet18, darknet19; --only picks one)")
    parser.add_argument("--no-plugins", action="store_true", help="skip benchmarks/bench_*.py")
    args, _ = parser.parse_known_args(argv)

    if args.json and os.path.exists(args.json) and not args.force:
        parser.error(f"{args.json} exists; pass --force to overwrite it.")
    only = set(args.only or [])
    unknown = {o for o in only if o not in ALL_MODELS and not o.startswith("bench_")}
    if unknown:
        parser.error(f"unknown --only entries {sorted(unknown)}; models are {ALL_MODELS}, plug-ins bench_*.")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    report = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_avg_start": os.getloadavg(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.gpu_precision:
        models = [m for m in GPU_SIZES if not only or m in only]
        if not models:
            parser.error(f"--gpu-precision benchmarks {tuple(GPU_SIZES)}; --only {sorted(only)} names none of them.")
        report["gpu_precision"] = gp = gpu_precision(args.quick, log, repeats=args.repeats or 3, models=models)
        if "skipped" not in gp:
            print(format_table([gp[m] for m in models], None))
        _finish(report, args)
        return report

    repeats = args.repeats or (3 if args.quick else 5)
    impl_specs = args.impls or ["pytorch", *installed_backends()]
    impls = {}
    for s in impl_specs:
        name, cfg = parse_impl(s)
        if name == "pytorch" and importlib.util.find_spec("torch") is None:
            continue
        impls[s] = (name, cfg)
    models = [m for m in ALL_MODELS if not only or m in only]
    peak = measure_matmul_peak()
    log(f"matrix-multiply peak: {peak['gflops']:.1f} GFLOP/s {peak['per_library']}")
    report["matmul_peak"] = peak
    results = []
    for m in models:
        log(f"benchmarking {m} ({', '.join(impls)})")
        results.append(bench_model(m, impls, args.quick, repeats, log))
        report["models"] = results
        _finish(report, args)  # partial results survive an interrupted run
    if not args.no_plugins:
        report["plugins"] = run_plugins(args.quick, {o for o in only if o.startswith("bench_")} if only else None, log)
    report["load_avg_end"] = os.getloadavg()
    print(format_table(results, peak["gflops"]))
    _finish(report, args)
    return report


def _finish(report, args):
    if args.json:
        pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
