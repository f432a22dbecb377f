"""Benchmark of yolo_cianna: where the training step goes, and the cost of decode + NMS + mAP.

1. Training step at the BCCD configuration (darknet_tiny, 256x192, batch 8,
   6 priors, real BCCD boxes padded to 48): the full step (network + YoloLoss +
   update), the network alone (same step with a trivial loss) and the loss
   alone (YoloLoss + its gradient w.r.t. the head output). The three are timed
   interleaved, repeat by repeat, so that machine contention hits them alike;
   medians are reported.
2. Inference over the 72 BCCD test images: network forward, decoding + NMS
   (:class:`astrozoo.layers.YoloDecoder`, CIANNA settings) and
   :func:`astrozoo.evaluation.voc_map`. The detector is the one trained by
   ``applications/yolo_bccd.py`` when ``outputs/yolo_bccd/yolo_bccd.keras``
   exists, else a random one (many more NMS candidates: the slow case).

``python benchmarks/bench_yolo.py [--quick] [--json out.json]``
"""

import argparse
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

TRAINED = pathlib.Path("outputs/yolo_bccd/yolo_bccd.keras")


def _bccd_index(split):
    from astrozoo.datasets.voc import read_voc_index
    from astrozoo.utils import require_shared_data

    return read_voc_index(require_shared_data("bccd", "BCCD"), split, class_names=("RBC", "WBC", "Platelets"),
                          check_images=False)


def _targets(index, n, scale, max_obj=48):
    boxes = -np.ones((n, max_obj, 4), "float32")
    classes = -np.ones((n, max_obj), "int32")
    for i in range(n):
        b, c = index.boxes[i % len(index)], index.classes[i % len(index)]
        k = min(len(b), max_obj)
        boxes[i, :k] = b[:k] * scale
        classes[i, :k] = c[:k]
    return {"boxes": boxes, "classes": classes}


def bench_train_step(quick=False, batch=8, width=256, repeats=None):
    import keras
    import tensorflow as tf

    from astrozoo.applications import kmeans_priors, yolo_cianna
    from astrozoo.losses import YoloLoss

    height = width * 3 // 4
    index = _bccd_index("train")
    scale = width / 640.0
    priors = kmeans_priors(np.concatenate(index.boxes) * scale, k=6).tolist()
    model = yolo_cianna("darknet_tiny", num_classes=3, priors=priors, input_shape=(height, width, 3),
                        class_softmax=True)
    loss_fn = YoloLoss.from_head(model.yolo_head, preset="cianna_voc")
    opt = keras.optimizers.Adam(1e-4)
    x = tf.random.uniform((batch, height, width, 3))
    y = {k: tf.constant(v) for k, v in _targets(index, batch, scale).items()}
    variables = model.trainable_variables

    @tf.function
    def full_step(x, y):
        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=True))
        opt.apply(tape.gradient(value, variables), variables)
        return value

    @tf.function
    def net_step(x):
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(tf.square(model(x, training=True)))
        opt.apply(tape.gradient(value, variables), variables)
        return value

    y_pred = tf.Variable(model(x))

    @tf.function
    def loss_step(y):
        with tf.GradientTape() as tape:
            value = loss_fn(y, y_pred)
        return tape.gradient(value, y_pred)

    for _ in range(2):  # trace + warm up
        full_step(x, y), net_step(x), loss_step(y)
    repeats = repeats or (3 if quick else 15)
    times = {"full": [], "network": [], "loss": []}
    for _ in range(repeats):
        for key, fn in (("full", lambda: full_step(x, y)), ("network", lambda: net_step(x)),
                        ("loss", lambda: loss_step(y))):
            t0 = time.perf_counter()
            np.asarray(fn())
            times[key].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "batch": batch,
        "input": [width, height],
        "grid": list(model.output_shape[1:3]),
        "priors": len(priors),
        "targets_per_image_mean": float(np.mean([np.sum(np.asarray(c) >= 0) for c in y["classes"].numpy()])),
        "full_step_s": med["full"],
        "network_step_s": med["network"],
        "loss_step_s": med["loss"],
        "loss_fraction_of_step": med["loss"] / med["full"],
        "repeats": repeats,
    }


def bench_inference(quick=False, batch=8, width=256):
    import keras
    import tensorflow as tf

    from astrozoo.applications import yolo_cianna
    from astrozoo.evaluation import voc_map
    from astrozoo.utils import require_shared_data

    height = width * 3 // 4
    index = _bccd_index("test")
    n = 16 if quick else len(index)
    root = require_shared_data("bccd", "BCCD")
    images = np.stack([
        np.asarray(keras.utils.load_img(root / "JPEGImages" / f"{index.ids[i]}.jpg", target_size=(height, width)),
                   "float32") / 255.0
        for i in range(n)
    ])
    model = keras.saving.load_model(TRAINED) if TRAINED.exists() else None
    trained = model is not None and tuple(model.input_shape[1:3]) == (height, width)
    if not trained:
        model = yolo_cianna("darknet_tiny", num_classes=3, priors=[(10, 10), (25, 25), (50, 50), (100, 100)],
                            input_shape=(height, width, 3), class_softmax=True)
    decoder = model.prediction_decoder
    forward = tf.function(lambda t: model(t, training=False))
    decode = tf.function(decoder)
    forward(images[:batch]), decode(forward(images[:batch]))  # trace

    t0 = time.perf_counter()
    raw = [forward(images[i:i + batch]) for i in range(0, n, batch)]
    raw = [np.asarray(r) for r in raw]
    t_forward = time.perf_counter() - t0
    t0 = time.perf_counter()
    dets = [{k: np.asarray(v) for k, v in decode(r).items()} for r in raw]
    t_decode = time.perf_counter() - t0

    sx, sy = 640.0 / width, 480.0 / height
    detections = []
    for d in dets:
        for i in range(len(d["num_detections"])):
            k = int(d["num_detections"][i])
            detections.append({"boxes": d["boxes"][i, :k] * [sx, sy, sx, sy], "scores": d["scores"][i, :k],
                               "classes": d["classes"][i, :k]})
    truths = [{"boxes": index.boxes[i], "classes": index.classes[i]} for i in range(n)]
    t0 = time.perf_counter()
    result = voc_map(detections, truths, class_names=("RBC", "WBC", "Platelets"))
    t_map = time.perf_counter() - t0
    return {
        "images": n,
        "model": "trained (outputs/yolo_bccd)" if trained else "random init",
        "detections_per_image": float(np.mean([len(d["scores"]) for d in detections])),
        "forward_s": t_forward,
        "decode_nms_s": t_decode,
        "voc_map_s": t_map,
        "decode_nms_ms_per_image": 1000 * t_decode / n,
        "map50": result["map"],
    }


def run(quick=False):
    """Run both benchmarks; returns a JSON-able dict."""
    import tensorflow as tf

    return {
        "quick": quick,
        "tf_threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                       tf.config.threading.get_inter_op_parallelism_threads()],
        "load_average_before": os.getloadavg()[0],
        "train_step": bench_train_step(quick),
        "inference": bench_inference(quick),
        "load_average_after": os.getloadavg()[0],
    }


def _table(res):
    t, inf = res["train_step"], res["inference"]
    rows = [
        ("train step, full (network + loss + update)", f"{t['full_step_s'] * 1000:.0f} ms"),
        ("train step, network only", f"{t['network_step_s'] * 1000:.0f} ms"),
        ("YoloLoss + association + gradient", f"{t['loss_step_s'] * 1000:.0f} ms"),
        ("loss share of the full step", f"{100 * t['loss_fraction_of_step']:.1f} %"),
        (f"forward, {inf['images']} test images", f"{inf['forward_s']:.2f} s"),
        ("decode + NMS", f"{inf['decode_nms_s']:.3f} s ({inf['decode_nms_ms_per_image']:.1f} ms/image)"),
        ("voc_map", f"{inf['voc_map_s']:.3f} s"),
    ]
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{w}}  {b}" for a, b in rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args, _ = parser.parse_known_args()
    res = run(quick=args.quick)
    print(_table(res))
    print(f"(batch {res['train_step']['batch']} at {res['train_step']['input']}, "
          f"{res['inference']['model']}, load average {res['load_average_before']:.1f} -> "
          f"{res['load_average_after']:.1f} on this machine)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(res, indent=2))
