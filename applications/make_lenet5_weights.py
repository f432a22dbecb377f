"""Train the packaged ``lenet5(weights="mnist8k")`` weights and record them in the registry.

Only the MNIST *test* set (10,000 images) is available offline here, so the
weights are trained on its first 8,000 images and measured on its last 2,000;
evaluate them only on images 8,000-9,999 (or on other data), never on the rest
of the MNIST test set. Run from the repository root:

    python applications/make_lenet5_weights.py [--epochs 15]
"""

import argparse
import json
import pathlib

import keras
import numpy as np

from astrozoo.applications import lenet5
from astrozoo.cli import load_arrays
from astrozoo.weights import _HERE, _TABLE, sha256sum


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    args, _ = p.parse_known_args()
    keras.utils.set_random_seed(args.seed)
    (xt, yt), (xv, yv), _ = load_arrays("mnist")
    model = lenet5()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xt, yt, batch_size=32, epochs=args.epochs, verbose=2)
    acc = float(np.mean(model.predict(xv, verbose=0).argmax(-1) == yv))
    print(f"held-out accuracy on MNIST test images 8000-9999: {acc * 100:.2f}%")
    fname = "lenet5_mnist8k.weights.h5"
    # An uncompiled copy: save_weights of a compiled model also stores the optimizer state.
    clean = lenet5()
    clean.set_weights(model.get_weights())
    clean.save_weights(_HERE / fname)
    table = json.loads(_TABLE.read_text()) if _TABLE.exists() else {}
    table.setdefault("lenet5", {})["mnist8k"] = {
        "file": fname,
        "sha256": sha256sum(_HERE / fname),
        "classes": 10,
        "input_shape": [28, 28, 1],
        "preprocessing": "pixels / 255 in [0, 1], white digit on black, 28x28x1",
        "metrics": {"accuracy_mnist_test_8000_9999": round(acc, 4)},
        "training": f"MNIST test images 0-7999, Adam 1e-3, batch 32, {args.epochs} epochs, seed {args.seed}",
        "script": "applications/make_lenet5_weights.py",
    }
    _TABLE.write_text(json.dumps(table, indent=2) + "\n")
    print(f"wrote {_HERE / fname} and {pathlib.Path(_TABLE).name}")


if __name__ == "__main__":
    main()
