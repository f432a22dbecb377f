# %% [markdown]
# # From CIANNA to Keras and back: import, evaluate, fine-tune, export
#
# Networks trained with CIANNA (the course's framework) are saved in its own
# binary `.dat` format. `astrozoo.io.cianna` reads such a file completely,
# builds the equivalent Keras model (same outputs as CIANNA, to float32
# round-off), and writes Keras models back as `.dat` files.
#
# This notebook takes one of the three real CIANNA networks of Deyht's
# `green_ai` project, trained on ASIRRA (cats vs dogs photos at 128 or 192
# pixels), and:
#
# 1. inspects the file record by record;
# 2. checks the Keras model against CIANNA's own outputs (reference file);
# 3. evaluates it on real photos it has never seen: the cats and dogs of the
#    CIFAR-10 test set, upscaled from 32 pixels to the network's input;
# 4. fine-tunes it briefly with Keras on CIFAR-10 *training* cats and dogs;
# 5. exports the fine-tuned network back to a CIANNA `.dat` file and checks
#    that the file reloads to the same predictions.
#
# Data: `../shared/data/cianna` (networks and references) and
# `../shared/data/cifar10` (CIFAR-10 as JPEG), or `--data-dir` pointing at a
# folder that holds `cianna/` and `cifar10/` the same way.
#
# Run as a script: `python applications/cianna_import.py [--quick] [--out DIR]`.
# In a notebook, set `ASTROZOO_QUICK=1` in the environment for the quick mode.

# %%
import argparse
import io
import json
import os
import pathlib
import time
import zipfile

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from astrozoo.datasets import pipeline_options  # noqa: E402
from astrozoo.io import cianna  # noqa: E402
from astrozoo.utils import require_shared_data  # noqa: E402

NETWORKS = {
    "arch1_res128": "arch1_res128_err1.81_ms79.dat",
    "arch1_res192": "arch1_res192_err1.2_ms174.dat",
    "arch2_res128": "arch2_res128_err1.76_ms89.dat",
}
parser = argparse.ArgumentParser(description="Import a CIANNA network, evaluate, fine-tune, export.")
parser.add_argument("--quick", action="store_true", help="a one-minute run (also ASTROZOO_QUICK=1)")
parser.add_argument("--out", default=None, help="output folder (default outputs/cianna_import)")
parser.add_argument(
    "--data-dir", default=None, help="folder holding cianna/ and cifar10/ (default: shared data)"
)
parser.add_argument(
    "--network", default="arch2_res128", choices=sorted(NETWORKS), help="network to fine-tune"
)
parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args()  # parse_known_args: Jupyter adds its own arguments
QUICK = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
OUT = pathlib.Path(args.out or "outputs/cianna_import")
OUT.mkdir(parents=True, exist_ok=True)
DATA = pathlib.Path(args.data_dir) if args.data_dir else require_shared_data()
TEST_PER_CLASS = 100 if QUICK else 1000
TRAIN_PER_CLASS = 100 if QUICK else 1000
EPOCHS = args.epochs or (1 if QUICK else 3)
keras.utils.set_random_seed(args.seed)
print(f"quick={QUICK} network={args.network} epochs={EPOCHS} out={OUT} backend={keras.backend.backend()}")
metrics = {"quick": QUICK, "network": args.network, "epochs": EPOCHS}

# %% [markdown]
# ## 1. The file, record by record
#
# A CIANNA binary file is a header `(W, H, D, C)` then one record per layer:
# `C` convolution, `P` pooling, `N` group normalisation, `D` dense. Each record
# has its byte offset; the whole file is accounted for.

# %%
dat_path = DATA / "cianna" / NETWORKS[args.network]
dat = cianna.read_dat(dat_path)
print(cianna.describe(dat))
metrics["file"] = {"name": dat_path.name, "bytes": dat.size, "layers": len(dat), "parameters": dat.nb_params}

# %% [markdown]
# ## 2. The Keras model reproduces CIANNA
#
# `load_model` maps each record onto Keras layers: CIANNA's "RELU" (a leaky
# ReLU of slope 0.05 that saturates above 800) is `CiannaLeakyReLU`, its group
# normalisation (one gamma/beta per group) is `CiannaGroupNorm`, the global
# average pool with a softmax is the classifier. Inputs are the 8-bit pixels
# normalised as CIANNA's course does, `(x - 100) / 155` (`cianna.preprocess`).
# The reference files hold CIANNA's own outputs for 33 images.

# %%
model = cianna.load_model(dat_path)
model.summary(line_length=100)
ref_key = args.network if args.network != "arch1_res192" else None
if ref_key and (DATA / "cianna" / f"reference_{ref_key}.npz").exists():
    ref = np.load(DATA / "cianna" / f"reference_{ref_key}.npz")
    y_ref = model.predict(cianna.preprocess(ref["x_uint8"]), verbose=0)
    err = float(np.abs(y_ref - ref["y"]).max())
    print(f"max |Keras - CIANNA| over {len(y_ref)} reference images: {err:.2e}")
    print(f"'chelsea' cat photo: P(cat) = {y_ref[-1, 0]:.6f}")
    metrics["reference_max_abs_error"] = err
    metrics["chelsea_p_cat"] = float(y_ref[-1, 0])

# %% [markdown]
# ## 3. Real photos it has never seen: CIFAR-10 cats and dogs
#
# The networks were trained on 128-pixel ASIRRA photos; CIFAR-10 images are
# 32-pixel thumbnails, upscaled bilinearly (PIL) to the network input, so a
# drop from the 98% of ASIRRA is expected.

# %%
CLASSES = ("cat", "dog")


def cifar_cats_dogs(split, per_class, size):
    """uint8 images (N, size, size, 3) and labels (0 cat, 1 dog) from the CIFAR-10 JPEG zip."""
    name = {"test": "cifar10_test_jpg.zip", "train": "cifar10_train_first1000perclass_jpg.zip"}[split]
    zf = zipfile.ZipFile(DATA / "cifar10" / name)
    images, labels = [], []
    for label, cls in enumerate(CLASSES):
        members = sorted(n for n in zf.namelist() if n.startswith(f"{split}/{cls}/"))[:per_class]
        for m in members:
            im = Image.open(io.BytesIO(zf.read(m))).convert("RGB").resize((size, size), Image.BILINEAR)
            images.append(np.asarray(im))
            labels.append(label)
    return np.stack(images), np.array(labels)


def accuracy(net, x, y, batch_size=64):
    p = net.predict(cianna.preprocess(x), batch_size=batch_size, verbose=0)
    return float((p.argmax(1) == y).mean()), p


before = {}
for key, fname in NETWORKS.items():
    if QUICK and key != args.network:
        continue
    d = cianna.read_dat(DATA / "cianna" / fname)
    size = d.header[0]
    x_test, y_test = cifar_cats_dogs("test", TEST_PER_CLASS, size)
    t0 = time.perf_counter()
    acc, _ = accuracy(model if key == args.network else cianna.load_model(d), x_test, y_test)
    before[key] = acc
    print(
        f"{key}: accuracy on {len(y_test)} CIFAR-10 test cats/dogs = {acc:.3f} ({time.perf_counter() - t0:.1f} s)"
    )
metrics["cifar_test_accuracy_before"] = before
metrics["cifar_test_images"] = 2 * TEST_PER_CLASS

size = dat.header[0]
x_test, y_test = cifar_cats_dogs("test", TEST_PER_CLASS, size)
acc0, p0 = accuracy(model, x_test, y_test)

# %% [markdown]
# ## 4. Fine-tuning with Keras
#
# The converted model is a plain functional Keras model: compile and fit it as
# any other. Here: Adam at a small learning rate, sparse categorical
# cross-entropy on the softmax output, horizontal flips, on CIFAR-10 training
# cats and dogs (a different set of images from the test above).

# %%
x_train, y_train = cifar_cats_dogs("train", TRAIN_PER_CLASS, size)
perm = np.random.default_rng(args.seed).permutation(len(y_train))
x_train, y_train = cianna.preprocess(x_train[perm]), y_train[perm]
flip = keras.layers.RandomFlip("horizontal", seed=args.seed)


def batches(x, y, batch_size=32):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=args.seed)
    ds = ds.batch(batch_size).map(lambda a, b: (flip(a, training=True), b)).prefetch(2)
    return ds.with_options(pipeline_options())


model.compile(
    optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
t0 = time.perf_counter()
history = model.fit(batches(x_train, y_train), epochs=EPOCHS, verbose=2)
metrics["fine_tune_seconds"] = time.perf_counter() - t0
metrics["fine_tune_train_images"] = int(len(y_train))
acc1, p1 = accuracy(model, x_test, y_test)
print(f"{args.network}: test accuracy {acc0:.3f} -> {acc1:.3f} after {EPOCHS} epoch(s) of fine-tuning")
metrics["cifar_test_accuracy_after"] = acc1

# %% [markdown]
# ## 5. Export back to CIANNA
#
# `save_model` writes the fine-tuned network as a CIANNA binary file (same
# layout as the original; CIANNA can load it with `cnn.load`). The fields Keras
# does not hold (bias input values, string buffers) come from the original file,
# so an unchanged model is written back byte for byte.

# %%
exported = OUT / f"{args.network}_finetuned.dat"
cianna.save_model(model, exported, overwrite=True)
again = cianna.load_model(exported)
p2 = again.predict(cianna.preprocess(x_test), batch_size=64, verbose=0)
diff = float(np.abs(p2 - p1).max())
print(f"wrote {exported} ({exported.stat().st_size:,} bytes); reloaded max |diff| = {diff:.2e}")
metrics["export"] = {"path": str(exported), "bytes": exported.stat().st_size, "reload_max_abs_diff": diff}

# %% [markdown]
# ## Figures

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(before) + [f"{args.network}\nfine-tuned"]
values = list(before.values()) + [acc1]
ax.bar(names, values, color=["tab:blue"] * len(before) + ["tab:orange"])
ax.axhline(0.5, color="gray", ls="--", lw=1, label="chance")
ax.set_ylim(0, 1)
ax.set_ylabel("accuracy")
ax.set_title(f"CIFAR-10 test cats vs dogs ({2 * TEST_PER_CLASS} images)")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "accuracy.png", dpi=120)

fig, axes = plt.subplots(2, 6, figsize=(12, 5.2))
rng = np.random.default_rng(1)
for ax, i in zip(axes.ravel(), rng.choice(len(y_test), 12, replace=False)):
    ax.imshow(x_test[i])
    ok = p1[i].argmax() == y_test[i]
    ax.set_title(
        f"{CLASSES[p0[i].argmax()]} {p0[i].max():.2f} -> {CLASSES[p1[i].argmax()]} {p1[i].max():.2f}",
        fontsize=8,
        color="green" if ok else "red",
    )
    ax.axis("off")
fig.suptitle("prediction before -> after fine-tuning (green: right after)")
fig.tight_layout()
fig.savefig(OUT / "examples.png", dpi=100)

(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(json.dumps(metrics, indent=2))
