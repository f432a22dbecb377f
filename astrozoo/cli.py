"""The ``astrozoo`` command: list, info, train, evaluate, demo."""

import argparse
import json
import os
import pathlib
import sys
import time


def _quiet_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ----------------------------------------------------------------------------- data


def load_arrays(spec, data_dir=None, seed=0):
    """``(x_train, y_train), (x_test, y_test), class_names`` for a ``--data`` value.

    ``digits``: scikit-learn's bundled digits at 28x28 (offline); ``mnist``: the
    MNIST IDX files in ``data_dir`` (default: the shared data folder) with the
    first 8,000 test images for training and the last 2,000 for testing when only
    the test set is there; ``PATH.npz``: arrays ``x``, ``y`` (and optionally
    ``x_test``, ``y_test``; else the last 20% are held out).
    """
    import numpy as np

    if spec == "digits":
        from astrozoo.datasets import load_digits_28

        (xt, yt), (xv, yv) = load_digits_28(seed=seed)
        return (xt, yt), (xv, yv), [str(i) for i in range(10)]
    if spec == "mnist":
        from astrozoo.datasets import read_idx
        from astrozoo.utils import require_shared_data

        root = pathlib.Path(data_dir) if data_dir else require_shared_data("mnist")
        train_img = _first_existing(root, "train-images-idx3-ubyte")
        test_x = read_idx(_first_existing(root, "t10k-images-idx3-ubyte", required=True))
        test_y = read_idx(_first_existing(root, "t10k-labels-idx1-ubyte", required=True))
        if train_img is not None:
            xt = read_idx(train_img)
            yt = read_idx(_first_existing(root, "train-labels-idx1-ubyte", required=True))
            xv, yv = test_x, test_y
        else:
            xt, yt, xv, yv = test_x[:8000], test_y[:8000], test_x[8000:], test_y[8000:]
        f = lambda a: (a.astype("float32") / 255.0)[..., None]  # noqa: E731
        return (f(xt), yt.astype("int32")), (f(xv), yv.astype("int32")), [str(i) for i in range(10)]
    path = pathlib.Path(spec)
    if path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"--data {spec!r}: file not found.")
        d = np.load(path)
        for key in ("x", "y"):
            if key not in d:
                raise ValueError(f"--data {spec!r}: the npz file has no array {key!r} (keys: {list(d)}).")
        x, y = d["x"].astype("float32"), d["y"].astype("int32")
        if len(x) != len(y):
            raise ValueError(f"--data {spec!r}: {len(x)} images but {len(y)} labels.")
        if "x_test" in d:
            xv, yv = d["x_test"].astype("float32"), d["y_test"].astype("int32")
        else:
            n = int(len(x) * 0.8)
            x, xv, y, yv = x[:n], x[n:], y[:n], y[n:]
        if x.ndim == 3:
            x, xv = x[..., None], xv[..., None]
        names = [str(c) for c in d["class_names"]] if "class_names" in d else [str(i) for i in range(int(y.max()) + 1)]
        return (x, y), (xv, yv), names
    raise ValueError(f"Unknown --data {spec!r}: expected 'digits', 'mnist' or a path to a .npz file.")


def _first_existing(root, stem, required=False):
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    if required:
        raise FileNotFoundError(
            f"{stem}[.gz] not found in {root}. Download MNIST's IDX files (e.g. from "
            "https://storage.googleapis.com/cvdf-datasets/mnist/) into that folder."
        )
    return None


# ----------------------------------------------------------------------------- commands


def cmd_list(args):
    from astrozoo.applications import list_models

    rows = [(m.name, m.task, str(m.default_input_shape), f"{m.param_count:,}") for m in list_models(args.pattern)]
    header = ("name", "task", "default input", "parameters")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return 0


def cmd_info(args):
    from astrozoo.applications import get_model

    info = get_model(args.name)
    model = info.build()
    model.summary(print_fn=lambda s, **kw: print(s))
    print(f"name: {info.name}\ntask: {info.task}\ndefault input shape: {info.default_input_shape}")
    print(f"parameters: {model.count_params():,}")
    flops = _flops(model)
    if flops is not None:
        print(f"FLOPs per image: {flops:,} ({flops / 1e9:.3f} GFLOPs)")
    for ref in info.references:
        print(f"reference: {ref}")
    return 0


def _flops(model):
    try:
        from astrozoo.applications.flops import count_flops
    except ImportError:
        return None
    try:
        return int(count_flops(model))
    except (TypeError, ValueError):  # subclassed models have no layer graph to count
        return None


def _prepare_out(out, resume_ok=True):
    out = pathlib.Path(out)
    if (out / "model.keras").exists() and not (out / "backup").exists():
        raise FileExistsError(
            f"{out} already holds a finished run (model.keras); choose another --out so that it is not overwritten."
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def cmd_train(args):
    import keras

    from astrozoo.applications import get_model
    from astrozoo.callbacks import AtomicModelCheckpoint, TrainingCurves
    from astrozoo.datasets import from_arrays

    info = get_model(args.name)
    if info.task not in ("image_classification", "spectrum_classification"):
        raise SystemExit(f"astrozoo train supports classification models; {args.name!r} is a {info.task!r} model.")
    if args.epochs < 1:
        raise SystemExit(f"--epochs must be >= 1, got {args.epochs}.")
    from astrozoo import distribute

    try:
        strategy = distribute.get_strategy(args.distribute)
    except RuntimeError as e:  # wrong backend for the strategy
        raise SystemExit(f"astrozoo train: {e}") from None
    out = _prepare_out(args.out)
    (xt, yt), (xv, yv), names = load_arrays(args.data, args.data_dir, seed=args.seed)
    keras.utils.set_random_seed(args.seed)
    # Variables are created, and (for JAX DataParallel) fit runs, under the strategy.
    with distribute.scope(strategy):
        model = info.build(input_shape=xt.shape[1:], classes=len(names))
        model.compile(
            optimizer=keras.optimizers.Adam(args.lr),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        distribute.prepare_model(model, strategy)
        if strategy is not None:
            print(f"Distributing with {args.distribute} over {distribute.num_replicas(strategy)} replicas "
                  f"(global batch {args.batch_size})")
        resumed = (out / "backup").exists()
        print(f"{'Resuming' if resumed else 'Training'} {args.name} on {args.data}: "
              f"{len(xt)} train / {len(xv)} validation images; run folder {out}")
        callbacks = [
            keras.callbacks.BackupAndRestore(str(out / "backup")),
            keras.callbacks.CSVLogger(str(out / "log.csv"), append=True),
            AtomicModelCheckpoint(out / "model.keras"),
            TrainingCurves(out / "curves.png", csv_path=out / "log.csv"),
        ]
        train = from_arrays(xt, yt, batch_size=args.batch_size, seed=args.seed)
        val = from_arrays(xv, yv, batch_size=args.batch_size, shuffle=False)
        model.fit(train, validation_data=val, epochs=args.epochs, callbacks=callbacks, verbose=args.verbose)
    return _report(model, xv, yv, names, out, title=f"{args.name} on {args.data}")


def _report(model, xv, yv, names, out, title):
    from astrozoo.evaluation import confusion_matrix

    prob = model.predict(xv, batch_size=256, verbose=0)
    cm = confusion_matrix(yv, prob, class_names=names)
    print(cm.table())
    cm.plot(out / "confusion_matrix.png", title=f"{title}: {cm.accuracy * 100:.2f}%")
    with open(out / "metrics.json", "w") as f:
        json.dump({"accuracy": cm.accuracy, "recall": cm.recall.tolist(), "precision": cm.precision.tolist()}, f, indent=1)
    print(f"Figures and metrics written to {out.resolve()}")
    return cm


def cmd_evaluate(args):
    import keras

    path = pathlib.Path(args.model)
    if not path.is_file():
        raise SystemExit(f"Model file not found: {path}")
    model = keras.saving.load_model(path)
    _, (xv, yv), names = load_arrays(args.data, args.data_dir, seed=args.seed)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _report(model, xv, yv, names, out, title=path.stem)
    return 0


def cmd_cianna_info(args):
    from astrozoo.io.cianna import describe

    path = pathlib.Path(args.path)
    if not path.is_file():
        raise FileNotFoundError(f"CIANNA network file not found: {path}")
    print(describe(path))
    return 0


def _fresh_dir(base):
    base = pathlib.Path(base)
    if not base.exists() or not any(base.iterdir()):
        return base
    i = 2
    while pathlib.Path(f"{base}_{i}").exists():
        i += 1
    return pathlib.Path(f"{base}_{i}")


def cmd_demo(args):
    import keras

    from astrozoo.applications import lenet5
    from astrozoo.callbacks import plot_history
    from astrozoo.datasets import from_arrays, load_digits_28

    t0 = time.perf_counter()
    out = _fresh_dir(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    (xt, yt), (xv, yv) = load_digits_28(test_size=0.25, seed=args.seed)
    print(
        f"astrozoo demo: LeNet-5 on scikit-learn's {len(xt) + len(xv)} real handwritten digits "
        f"(8x8 upscaled to 28x28), stratified split {len(xt)} train / {len(xv)} test (seed {args.seed})."
    )
    model = lenet5(input_shape=(28, 28, 1), classes=10)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(from_arrays(xt, yt, batch_size=32, seed=args.seed), epochs=args.epochs,
                     verbose=2 if args.verbose else 0)
    plot_history(hist.history, out / "training_curves.png")
    cm = _report(model, xv, yv, [str(i) for i in range(10)], out, title="LeNet-5 on sklearn digits")
    model.save(out / "lenet5_digits.keras")
    print(f"Test accuracy: {cm.accuracy * 100:.2f}%  ({len(xv)} test images)  wall time {time.perf_counter() - t0:.1f} s")
    return 0


# ----------------------------------------------------------------------------- entry point


def build_parser():
    p = argparse.ArgumentParser(prog="astrozoo", description="astrozoo: a Keras 3 model zoo for astrophysics.")
    from astrozoo._version import __version__

    p.add_argument("--version", action="version", version=f"astrozoo {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list the models of the zoo")
    s.add_argument("pattern", nargs="?", default=None, help="glob on model names, e.g. 'resnet*'")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("info", help="summary, parameter count and FLOPs of a model")
    s.add_argument("name")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("train", help="train a classifier with checkpoints, CSV log, curves and resume")
    s.add_argument("name", help="registered model name (astrozoo list)")
    s.add_argument("--data", required=True, help="'digits', 'mnist' or a .npz file with x, y")
    s.add_argument("--data-dir", default=None, help="folder of the dataset files (mnist)")
    s.add_argument("--epochs", type=int, default=10)
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="runs/train", help="run folder (resumes if it holds an interrupted run)")
    s.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    s.add_argument(
        "--distribute", default=None, choices=("none", "mirrored", "multiworker", "data_parallel"),
        help="data-parallel training: mirrored (TF, local devices), multiworker (TF, TF_CONFIG), "
        "data_parallel (JAX devices); --batch-size is then the global batch",
    )
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="evaluate a saved .keras classifier: accuracy and confusion matrix")
    s.add_argument("model", help="path to a .keras model")
    s.add_argument("--data", required=True)
    s.add_argument("--data-dir", default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="runs/evaluate")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("cianna-info", help="describe a CIANNA .dat network file, record by record")
    s.add_argument("path")
    s.set_defaults(func=cmd_cianna_info)

    s = sub.add_parser("demo", help="train LeNet-5 on scikit-learn's digits, offline, in about a minute")
    s.add_argument("--out", default="astrozoo_demo", help="output folder (a new numbered one if it is not empty)")
    s.add_argument("--epochs", type=int, default=15)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--verbose", action="store_true")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv=None):
    _quiet_tf()
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"astrozoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
