# %% [markdown]
# # The course's CNN on CIFAR-10, with and without augmentation
#
# CIFAR-10 holds 32x32 colour images of 10 classes. The course trains a small
# CNN of conv / max-pool / group-norm blocks (`astrozoo.applications.cifar10_cnn`,
# 180,986 parameters) with CIANNA, on images augmented on the fly with
# Albumentations (horizontal flip, affine scale 0.3-1.3 / translation 30% /
# rotation 10 degrees, 2% grey, colour jitter), SGD with momentum 0.9, weight
# decay 5e-4 and an exponentially decaying learning rate (0.002 -> 3e-5). Its
# CIANNA reference model reaches 88.7% on the 10,000 test images after 4,000
# iterations of 4,096 images on a GPU.
#
# Here the same network and recipe run in Keras on the real CIFAR-10 JPEGs of
# `../shared/data/cifar10` (the first 1,000 training images of each class,
# and the full 10,000-image test set), once with and once without the
# augmentation, so that its effect can be read off. `--data-dir` points at the
# full dataset (the official python batches, or class folders / zips).
#
# Run as a script: `python applications/cifar10_cnn.py [--quick] [--out DIR]`;
# in a notebook, set `ASTROZOO_QUICK=1` for the quick mode.

# %%
import argparse
import json
import math
import os
import pathlib
import time

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import astrozoo  # noqa: E402
from astrozoo import applications, evaluation  # noqa: E402
from astrozoo.datasets.cifar10 import CLASS_NAMES, cifar10  # noqa: E402
from astrozoo.utils import require_shared_data  # noqa: E402

parser = argparse.ArgumentParser(description="The course's CNN on CIFAR-10.")
parser.add_argument("--quick", action="store_true", help="a one-minute run (also ASTROZOO_QUICK=1)")
parser.add_argument("--out", default=None, help="output folder (default outputs/cifar10_cnn)")
parser.add_argument("--data-dir", default=None, help="CIFAR-10 python batches, class folders or zips (full set)")
parser.add_argument("--epochs", type=int, default=None)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args()  # parse_known_args: Jupyter adds its own arguments
QUICK = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
OUT = pathlib.Path(args.out or "outputs/cifar10_cnn")
OUT.mkdir(parents=True, exist_ok=True)
EPOCHS = args.epochs or (1 if QUICK else 15)
DATA = pathlib.Path(args.data_dir) if args.data_dir else require_shared_data("cifar10")
# Quick mode: a few hundred steps per epoch and part of the test set.
STEPS = 60 if QUICK else None
N_TRAIN = 10_000 if args.data_dir is None else 50_000
TEST_BATCHES = 20 if QUICK else None
print(f"quick={QUICK} epochs={EPOCHS} data={DATA} out={OUT}")

# %% [markdown]
# ## Data and the course's augmentation
#
# `astrozoo.datasets.cifar10` decodes the JPEGs once, caches the uint8
# images, shuffles, applies the Albumentations recipe (`augment=True`), scales
# the pixels as CIANNA does, `(x - 100) / 155`, and batches.

# %%
def cifar(split, augment, shuffle=None):
    return cifar10(
        split,
        data_dir=DATA,
        batch_size=args.batch_size,
        augment=augment,
        rescale="cianna",
        shuffle=shuffle,
        seed=args.seed,
    )


class_names = CLASS_NAMES
# The test set is shuffled (with a fixed seed) only so that the quick mode's
# partial evaluation covers every class.
test_ds = cifar("test", augment=None, shuffle=QUICK)
if TEST_BATCHES:
    test_ds = test_ds.take(TEST_BATCHES)

# %%
x_show, y_show = next(iter(cifar("train", augment=True).unbatch().batch(24)))
fig, axes = plt.subplots(3, 8, figsize=(12, 4.8))
for ax, img, lab in zip(axes.ravel(), x_show.numpy(), y_show.numpy()):
    ax.imshow(np.clip(img * 155 + 100, 0, 255).astype("uint8"))
    ax.set_title(class_names[lab], fontsize=8)
    ax.axis("off")
fig.suptitle("augmented training images")
fig.tight_layout()
fig.savefig(OUT / "augmented_examples.png", dpi=100)

# %% [markdown]
# ## Training
#
# Adam (learning rate 1e-3), as in the course's TensorFlow version of the
# notebook, with CIANNA's exponential learning-rate decay compressed into the
# run: the rate falls by a factor 40 (1e-3 -> 2.5e-5) from the first to the
# last step. The course's CIANNA run (SGD, momentum 0.9, 0.002 -> 3e-5) sees
# about 100 times more augmented images than this one, which SGD at that rate
# needs.

# %%
def optimizer():
    total_steps = max(1, (STEPS or math.ceil(N_TRAIN / args.batch_size)) * EPOCHS)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=total_steps, decay_rate=0.025)
    return keras.optimizers.Adam(schedule)


def train(augment):
    keras.utils.set_random_seed(args.seed)
    model = applications.cifar10_cnn()
    model.compile(
        optimizer=optimizer(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    t0 = time.perf_counter()
    history = model.fit(
        cifar("train", augment=augment),
        epochs=EPOCHS,
        steps_per_epoch=STEPS,
        validation_data=test_ds,
        verbose=2,
    )
    seconds = time.perf_counter() - t0
    return model, history.history, seconds


runs = {}
for label, augment in (("course augmentation", True), ("no augmentation", None)):
    model, hist, seconds = train(augment)
    runs[label] = {"model": model, "history": hist, "seconds": seconds}
    print(f"{label}: test accuracy {hist['val_accuracy'][-1]:.4f} ({seconds:.0f} s)")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for label, run in runs.items():
    ax.plot(run["history"]["accuracy"], "--", label=f"{label} (train)")
    ax.plot(run["history"]["val_accuracy"], label=f"{label} (test)")
ax.set_xlabel("epoch")
ax.set_ylabel("accuracy")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "learning_curves.png", dpi=100)

# %% [markdown]
# ## Confusion matrix of the augmented model

# %%
best = runs["course augmentation"]["model"]
y_true, y_pred = [], []
for xb, yb in test_ds:
    y_true.append(yb.numpy())
    y_pred.append(best.predict_on_batch(xb).argmax(-1))
y_true, y_pred = np.concatenate(y_true), np.concatenate(y_pred)
cm = evaluation.confusion_matrix(y_true, y_pred, class_names=class_names)
cm.plot(OUT / "confusion_matrix.png")
print(cm.table())

# %%
metrics = {
    "quick": QUICK,
    "backend": keras.backend.backend(),
    "data": str(DATA),
    "epochs": EPOCHS,
    "batch_size": args.batch_size,
    "steps_per_epoch": STEPS,
    "test_images": int(len(y_true)),
    "runs": {
        label: {
            "test_accuracy": round(float(run["history"]["val_accuracy"][-1]), 4),
            "train_accuracy": round(float(run["history"]["accuracy"][-1]), 4),
            "train_seconds": round(run["seconds"], 1),
        }
        for label, run in runs.items()
    },
    "per_class_recall": {c: round(float(r), 4) for c, r in zip(class_names, cm.recall)},
    "astrozoo_version": astrozoo.__version__,
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(json.dumps(metrics, indent=2))
