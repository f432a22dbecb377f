"""Input-pipeline benchmark: is the tf.data + Albumentations pipeline ever the bottleneck?

Measures, on the same real images (CIFAR-10 cats and dogs from the shared data,
padded and resized to 128x128 RGB), the ASIRRA augmentation preset at batch 64:

- ``bridge_1``: astrozoo's tf.data bridge with one augmentation call at a time
  (cached uint8 images -> shuffle -> batch 64 -> Albumentations -> [0, 1] float32);
- ``bridge_auto``: the same with ``num_parallel_calls=AUTOTUNE`` (what the loaders use);
- ``plain_loop``: the same Albumentations transform in a plain Python loop over
  the same numpy images, stacked into float32 batches of 64;
- ``asirra_loader``: the complete ``astrozoo.datasets.asirra`` pipeline from JPEG
  files (decode, square pad, resize, cache; measured on its second, cached epoch);
- ``resnet18_train``: images/s consumed by ``resnet18`` training at 128x128, batch 64.

Rounds are interleaved so that the load of a shared machine drifts over all
variants alike; medians are reported, and the per-core efficiency compares
images per CPU-second (process CPU time), which does not depend on how many
cores a variant happens to get.

``python benchmarks/bench_pipeline.py [--quick] [--json PATH]``; the
performance runner calls :func:`run`.
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BATCH = 64
SIZE = 128


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - w0, time.process_time() - c0


def _make_petimages(root, per_class):
    from astrozoo.utils import require_shared_data

    zpath = require_shared_data("cifar10", "cifar10_test_jpg.zip")
    with zipfile.ZipFile(zpath) as zf:
        for cifar, folder in (("cat", "Cat"), ("dog", "Dog")):
            d = root / "PetImages" / folder
            d.mkdir(parents=True)
            for i in range(per_class):
                (d / f"{i}.jpg").write_bytes(zf.read(f"test/{cifar}/{i:04d}.jpg"))
    return root / "PetImages"


def run(quick=False, rounds=None, train_steps=None):
    """Run the benchmark; returns a JSON-serialisable dict (numbers in images/s)."""
    import numpy as np
    import tensorflow as tf

    import astrozoo.datasets as D
    from astrozoo.datasets import augment as AUG
    from astrozoo.datasets._common import prefetch

    per_class = 128 if quick else 1000
    rounds = rounds or (2 if quick else 5)
    train_steps = train_steps or (2 if quick else 6)
    results = {"config": dict(image_size=SIZE, batch_size=BATCH, preset="asirra", images=2 * per_class,
                              rounds=rounds, quick=quick, cpu_count=os.cpu_count(),
                              tensorflow=tf.__version__)}
    with tempfile.TemporaryDirectory() as tmp:
        pet = _make_petimages(pathlib.Path(tmp), per_class)
        loader = D.asirra("train", batch_size=BATCH, image_size=SIZE, data_dir=pet, test_per_class=1,
                          augment=True, seed=0)
        # The decoded, padded, resized uint8 images: the common input of every variant.
        raw = D.asirra("train", batch_size=None, image_size=SIZE, data_dir=pet, test_per_class=1, shuffle=False,
                       rescale="raw", cache=False)
        images = np.stack([x.numpy().astype(np.uint8) for x, _ in raw])
        labels = np.arange(len(images)) % 2
        n = len(images)
        transform = AUG.asirra_preset((SIZE, SIZE))

        def bridge(parallel):
            ds = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
            ds = ds.shuffle(n, seed=0).batch(BATCH)
            ds = AUG.augment_images(ds, transform, seed=0, num_parallel_calls=parallel)
            ds = prefetch(ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)))  # the loaders' options
            for _ in ds.take(1):  # fill the cache, start the threads
                pass
            return ds

        pipelines = {"bridge_1": bridge(1), "bridge_auto": bridge(tf.data.AUTOTUNE)}
        for _ in loader:  # first epoch: decode + fill the cache
            pass

        def consume(ds):
            def go():
                k = 0
                for x, _ in ds:
                    k += int(x.shape[0])
                return k

            return go

        fn = AUG.AlbumentationsImageFn(transform)
        rng = np.random.default_rng(0)

        def plain():
            order = rng.permutation(n)
            k = 0
            for s in range(0, n, BATCH):
                idx = order[s:s + BATCH]
                batch = np.stack([transform(image=images[i])["image"] for i in idx]).astype(np.float32) / 255.0
                k += len(batch)
            return k

        del fn
        variants = {"plain_loop": plain, "bridge_1": consume(pipelines["bridge_1"]),
                    "bridge_auto": consume(pipelines["bridge_auto"]), "asirra_loader": consume(loader)}
        samples = {k: [] for k in variants}
        for _ in range(rounds):
            for name, go in variants.items():
                k, wall, cpu = _timed(go)
                samples[name].append((k / wall, k / max(cpu, 1e-9)))
        for name, vals in samples.items():
            results[name] = {
                "images_per_s": statistics.median(v[0] for v in vals),
                "images_per_cpu_s": statistics.median(v[1] for v in vals),
                "rounds_images_per_s": [round(v[0], 1) for v in vals],
            }
        ratios_cpu = [b[1] / p[1] for b, p in zip(samples["bridge_1"], samples["plain_loop"])]
        ratios_wall = [b[0] / p[0] for b, p in zip(samples["bridge_1"], samples["plain_loop"])]
        results["bridge_vs_plain_per_core"] = statistics.median(ratios_cpu)
        results["bridge_vs_plain_wall_1call"] = statistics.median(ratios_wall)

    results["resnet18_train"] = _train_rate(images, labels, train_steps)
    train_rate = results["resnet18_train"]["images_per_s"]
    results["pipeline_over_training"] = results["asirra_loader"]["images_per_s"] / train_rate
    results["goals"] = {
        "pipeline_not_bottleneck": results["pipeline_over_training"] > 1.0,
        "bridge_keeps_80pct_per_core": results["bridge_vs_plain_per_core"] >= 0.8,
    }
    return results


def _train_rate(images, labels, steps):
    import keras
    import numpy as np

    from astrozoo.applications import resnet18

    model = resnet18(input_shape=(SIZE, SIZE, 3), classes=2)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    x = images[:BATCH].astype(np.float32) / 255.0
    y = labels[:BATCH]
    model.train_on_batch(x, y)  # trace / compile
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t)
    step = statistics.median(times)
    keras.backend.clear_session()
    return {"images_per_s": BATCH / step, "step_s": step, "steps": steps}


def _table(res):
    rows = [("variant", "images/s", "images/CPU-s")]
    for k in ("plain_loop", "bridge_1", "bridge_auto", "asirra_loader", "resnet18_train"):
        v = res[k]
        rows.append((k, f"{v['images_per_s']:.0f}", f"{v['images_per_cpu_s']:.0f}" if "images_per_cpu_s" in v else "-"))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in rows]
    lines.append(f"bridge / plain loop, per CPU-second (median of rounds): {res['bridge_vs_plain_per_core']:.2f}")
    lines.append(f"asirra pipeline / resnet18 training rate: {res['pipeline_over_training']:.1f}x")
    lines.append(f"goals: {res['goals']}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and rounds (about a minute)")
    parser.add_argument("--json", default="outputs/benchmarks/bench_pipeline.json", help="where to write JSON")
    args, _ = parser.parse_known_args(argv)
    quick = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
    res = run(quick=quick)
    print(_table(res))
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
