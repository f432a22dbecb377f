# %% [markdown]
# # Galaxy Zoo rings: transfer learning from CIFAR-10, vote-fraction regression, occlusion maps
#
# 470 real Galaxy Zoo DECaLS galaxies (96x96 colour cut-outs, 235 rings and 235
# non-rings, from Zoobot's example set) are far too few to train a CNN from
# scratch. The usual answer is transfer learning: pretrain a backbone on a
# larger labelled set, then fine-tune it on the small one. Here the larger set
# is the CIFAR-10 JPEG subset in `../shared/data/cifar10` (everyday objects,
# not galaxies), which shows how much even a generic pretraining helps.
#
# Steps:
# 1. pretrain ResNet-18 (astrozoo zoo, standard stem) on CIFAR-10 at 32x32;
# 2. fine-tune it on the rings with `astrozoo.transfer.two_stage_finetune`
#    (train the head on the frozen backbone, then unfreeze all blocks with a
#    layer-wise decaying learning rate), and train the same network from
#    scratch with the same number of epochs, over a fixed split and several seeds;
#    the same comparison with a real CIANNA course network pretrained on the
#    ASIRRA photographs at 128x128 (`arch2_res128`, imported from its `.dat`);
# 3. regress the volunteers' vote fractions with a [0, 1]-bounded head;
# 4. look at occlusion maps: which pixels does the ring classifier use?
#
# Run as a script: `python applications/galaxy_zoo_rings.py [--quick] [--out DIR]`;
# `ASTROZOO_QUICK=1` selects the quick mode in a notebook.

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
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from astrozoo import applications, transfer  # noqa: E402
from astrozoo.datasets import from_arrays, pipeline_options  # noqa: E402
from astrozoo.evaluation import occlusion_map, plot_occlusion  # noqa: E402
from astrozoo.utils import require_shared_data  # noqa: E402

parser = argparse.ArgumentParser(description="Galaxy Zoo rings: CIFAR-10 pretraining and fine-tuning")
parser.add_argument("--quick", action="store_true", help="a one-minute run (also ASTROZOO_QUICK=1)")
parser.add_argument("--out", default=None, help="output folder (default outputs/galaxy_zoo_rings)")
parser.add_argument("--data-dir", default=None,
                    help="folder holding galaxy_zoo/, cifar10/ and cianna/ (default: shared data)")
parser.add_argument("--seeds", type=int, default=None, help="number of seeds of the comparison (0, 1, ...)")
parser.add_argument("--seed-list", default=None, help="comma-separated seeds, e.g. 2 (to split the runs over processes)")
parser.add_argument("--pretrain-epochs", type=int, default=None)
parser.add_argument("--pretrained", default=None, help="reuse a pretrained backbone .weights.h5 instead of pretraining")
parser.add_argument("--size", type=int, default=32, help="network input size for the galaxies")
parser.add_argument("--crop", type=int, default=64, help="central crop of the 96 px cut-outs before resizing")
parser.add_argument("--head-epochs", type=int, default=None, help="stage 1 epochs (default 5)")
parser.add_argument("--finetune-epochs", type=int, default=None, help="stage 2 epochs (default 15)")
parser.add_argument("--finetune-lr", type=float, default=1e-4, help="stage 2 learning rate of the top block")
parser.add_argument("--asirra-crop", type=int, default=64, help="central crop fed (at 128 px) to the CIANNA network")
parser.add_argument("--asirra-lr", type=float, default=3e-4, help="stage 2 learning rate of the CIANNA network")
parser.add_argument("--asirra-epochs", type=int, default=None, help="stage 2 epochs of the CIANNA network (default 30)")
parser.add_argument("--skip", default="",
                    help="comma-separated parts to skip: finetuned,scratch,asirra,asirra_scratch,baselines,regression,occlusion")
args, _ = parser.parse_known_args()  # Jupyter adds its own arguments
QUICK = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
for flag, value in (("--crop", args.crop), ("--asirra-crop", args.asirra_crop)):
    if not 1 <= value <= 96:
        parser.error(f"{flag} must lie in [1, 96] (the cut-outs are 96x96 pixels). Received: {value}")
OUT = pathlib.Path(args.out or "outputs/galaxy_zoo_rings")
OUT.mkdir(parents=True, exist_ok=True)
SKIP = set(filter(None, args.skip.split(",")))
SEEDS = [int(v) for v in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds or (1 if QUICK else 3)))
PRETRAIN_EPOCHS = args.pretrain_epochs or (1 if QUICK else 4)
HEAD_EPOCHS = args.head_epochs or (1 if QUICK else 5)
FT_EPOCHS = args.finetune_epochs or (2 if QUICK else 15)
SIZE, CROP, BATCH = args.size, args.crop, 32
print(f"quick={QUICK} seeds={SEEDS} pretrain_epochs={PRETRAIN_EPOCHS} out={OUT}")


def data_path(*parts):
    if args.data_dir:
        p = pathlib.Path(args.data_dir).joinpath(*parts)
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist (--data-dir {args.data_dir}).")
        return p
    return require_shared_data(*parts)


# %% [markdown]
# ## Data
#
# The galaxy sits in the middle of each cut-out: we keep the central 64x64
# pixels and resize them to 32x32, the size the backbone is pretrained at.
# Channels are standardised with the training split's mean and standard
# deviation (CIFAR-10 uses its own), so that the backbone's BatchNorm statistics
# see inputs of the same scale. The split is fixed (75/25, stratified, seed 0);
# the seeds below only change initialisation, augmentation and batch order.

# %%
gz = np.load(data_path("galaxy_zoo", "gz_decals_rings_zoobot_96px.npz"))
x_gz, y_gz = gz["x"], gz["y"].astype("int32")
fractions = np.stack(
    [gz["featured_or_disk_fraction"], gz["edge_on_no_fraction"], gz["spiral_arms_no_fraction"]], -1
).astype("float32")
FRACTION_NAMES = ["featured_or_disk", "edge_on_no", "spiral_arms_no"]

rng = np.random.default_rng(0)
test_idx = np.sort(
    np.concatenate([rng.permutation(np.flatnonzero(y_gz == c))[: int(round(0.25 * (y_gz == c).sum()))] for c in (0, 1)])
)
train_idx = np.setdiff1d(np.arange(len(y_gz)), test_idx)
if QUICK:
    train_idx, test_idx = train_idx[::4], test_idx[::2]


def center_crop(x, crop):
    """The central ``crop`` x ``crop`` pixels of a batch of square images, as float32."""
    off = (x.shape[1] - crop) // 2
    return x[:, off : off + crop, off : off + crop].astype("float32")


def crop_resize(x):
    return tf.image.resize(center_crop(x, CROP) / 255.0, (SIZE, SIZE), antialias=True).numpy()


gx = crop_resize(x_gz)
g_mean, g_std = gx[train_idx].mean((0, 1, 2)), gx[train_idx].std((0, 1, 2))
gx = (gx - g_mean) / g_std
print("galaxies", gx.shape, "train", len(train_idx), "test", len(test_idx))

fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for row, cls in enumerate((1, 0)):
    for a, i in zip(axes[row], np.flatnonzero(y_gz == cls)[:6]):
        a.imshow(x_gz[i])
        a.set_title(str(gz["class_names"][cls]), fontsize=8)
        a.axis("off")
fig.tight_layout()
fig.savefig(OUT / "galaxies.png", dpi=90)

# %% [markdown]
# ## Augmentation
#
# A galaxy has no preferred orientation: random flips and 90 degree rotations
# (the 8 symmetries of the square) plus a small shift. At test time the class
# probabilities are averaged over the 8 symmetries (test-time augmentation).

# %%
def augment(x):
    size = x.shape[0]  # static: 32 for the CIFAR-10 backbone, 128 for the CIANNA network below
    x = tf.image.random_flip_left_right(x)
    x = tf.image.random_flip_up_down(x)
    x = tf.image.rot90(x, tf.random.uniform((), 0, 4, dtype=tf.int32))
    pad = max(size // 16, 1)
    x = tf.image.resize_with_crop_or_pad(x, size + 2 * pad, size + 2 * pad)
    return tf.image.random_crop(x, (size, size, 3))


def train_dataset(x, y, seed):
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda a, b: (augment(a), b), num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH).prefetch(2)
    return ds.with_options(pipeline_options())  # no autotuner: it stalls every epoch end (docs/performance.md)


def dihedral_views(x):
    """The 8 flips/rotations of a batch of square images."""
    return [np.ascontiguousarray(np.rot90(np.flip(x, 2) if f else x, k, axes=(1, 2))) for f in (0, 1) for k in range(4)]


def predict_tta(model, x):
    """The model's outputs averaged over the 8 symmetries."""
    return np.mean([model.predict(from_arrays(v, batch_size=256, shuffle=False), verbose=0) for v in dihedral_views(x)],
                   axis=0)


# %% [markdown]
# ## Pretraining on CIFAR-10
#
# ResNet-18 with the standard ImageNet stem (stride 4 before the first block):
# at 32x32 it is cheap enough for a 2-core CPU. 10,000 training JPEGs plus
# 8,000 of the test JPEGs train it; the other 2,000 measure its accuracy.

# %%
CIFAR_CLASSES = "airplane automobile bird cat deer dog frog horse ship truck".split()


def load_cifar_zip(path, limit=None):
    xs, ys = [], []
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
        for n in names[:limit]:
            xs.append(np.asarray(Image.open(io.BytesIO(zf.read(n))).convert("RGB")))
            ys.append(CIFAR_CLASSES.index(n.split("/")[1]))
    return np.stack(xs), np.array(ys, "int32")


def new_backbone():
    return applications.resnet18(include_top=False, input_shape=(SIZE, SIZE, 3))


pretrain_info = {}
pretrained_path = pathlib.Path(args.pretrained) if args.pretrained else OUT / "resnet18_cifar10_notop.weights.h5"
if args.pretrained:
    print("using pretrained backbone", pretrained_path)
else:
    t0 = time.perf_counter()
    xa, ya = load_cifar_zip(data_path("cifar10", "cifar10_train_first1000perclass_jpg.zip"))
    xb, yb = load_cifar_zip(data_path("cifar10", "cifar10_test_jpg.zip"))
    perm = np.random.default_rng(0).permutation(len(xb))
    x_c = np.concatenate([xa, xb[perm[:8000]]]).astype("float32") / 255.0
    y_c = np.concatenate([ya, yb[perm[:8000]]])
    xv_c, yv_c = xb[perm[8000:]].astype("float32") / 255.0, yb[perm[8000:]]
    if QUICK:
        x_c, y_c, xv_c, yv_c = x_c[:1500], y_c[:1500], xv_c[:500], yv_c[:500]
    c_mean, c_std = x_c.mean((0, 1, 2)), x_c.std((0, 1, 2))
    x_c, xv_c = (x_c - c_mean) / c_std, (xv_c - c_mean) / c_std

    def cifar_aug(x):
        x = tf.image.random_flip_left_right(x)
        x = tf.image.resize_with_crop_or_pad(x, 40, 40)
        return tf.image.random_crop(x, (32, 32, 3))

    keras.utils.set_random_seed(0)
    ds_c = (
        tf.data.Dataset.from_tensor_slices((x_c, y_c))
        .shuffle(len(x_c), seed=0)
        .map(lambda a, b: (cifar_aug(a), b), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(128)
        .prefetch(2)
        .with_options(pipeline_options())
    )
    backbone = applications.resnet18(include_top=False, input_shape=(32, 32, 3))
    cifar_model = transfer.build_finetune_model(backbone, "classifier", classes=10)
    steps = PRETRAIN_EPOCHS * int(np.ceil(len(x_c) / 128))
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=2e-3, warmup_steps=min(200, steps // 4))
    cifar_model.compile(
        keras.optimizers.AdamW(schedule, weight_decay=5e-4), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    val_c = from_arrays(xv_c, yv_c, batch_size=256, shuffle=False)
    hist_c = cifar_model.fit(ds_c, validation_data=val_c, epochs=PRETRAIN_EPOCHS, verbose=2)
    backbone.save_weights(pretrained_path, overwrite=True)
    pretrain_info = {
        "epochs": PRETRAIN_EPOCHS,
        "train_images": int(len(x_c)),
        "val_accuracy": float(hist_c.history["val_accuracy"][-1]),
        "seconds": time.perf_counter() - t0,
    }
    print("CIFAR-10 pretraining:", pretrain_info)

# %% [markdown]
# ## Fine-tuning versus training from scratch
#
# Same network (ResNet-18 + dropout + softmax head), same augmentation, same
# number of epochs (5 head-only + 15 fine-tuning; from scratch: 20). The
# fine-tuned model starts from the CIFAR-10 weights: stage 1 trains only the
# head (AdamW 1e-3), stage 2 unfreezes every block with a learning rate of
# 1e-4 for the top block, times 0.8 for each block below (layer-wise decay).

# %%
x_tr, y_tr = gx[train_idx], y_gz[train_idx]
x_te, y_te = gx[test_idx], y_gz[test_idx]


def finetune(backbone, x_train, x_test, seed, learning_rate, epochs):
    """The two-stage recipe on one backbone; returns the model and its per-epoch history."""
    model = transfer.build_finetune_model(backbone, "classifier", classes=2, dropout=0.3)
    hist = transfer.two_stage_finetune(
        model,
        train_dataset(x_train, y_tr, seed),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        validation_data=from_arrays(x_test, y_te, batch_size=256, shuffle=False),
        head_epochs=HEAD_EPOCHS,
        head_learning_rate=1e-3,
        finetune_epochs=epochs,
        finetune_learning_rate=learning_rate,
        n_blocks="all",
        lr_decay=0.8,
        weight_decay=0.05,
        verbose=0,
    )
    return model, hist.merged()


def from_scratch(backbone, x_train, x_test, seed, epochs):
    """The same network, randomly initialised, trained for the same number of epochs."""
    model = transfer.build_finetune_model(backbone, "classifier", classes=2, dropout=0.3)
    model.compile(keras.optimizers.AdamW(1e-3, weight_decay=0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(
        train_dataset(x_train, y_tr, seed), validation_data=from_arrays(x_test, y_te, batch_size=256, shuffle=False),
        epochs=epochs, verbose=0,
    )
    return model, hist.history


def finetuned_classifier(seed):
    keras.utils.set_random_seed(seed)
    backbone = new_backbone()
    backbone.load_weights(pretrained_path)
    return (*finetune(backbone, x_tr, x_te, seed, args.finetune_lr, FT_EPOCHS), x_te)


def scratch_classifier(seed):
    keras.utils.set_random_seed(seed)
    return (*from_scratch(new_backbone(), x_tr, x_te, seed, HEAD_EPOCHS + FT_EPOCHS), x_te)


# %% [markdown]
# ## A second pretraining: a CIANNA network of the course
#
# `arch2_res128` (in `../shared/data/cianna`) is a real CIANNA network trained
# on the ASIRRA cats-and-dogs photographs at 128x128 (1.76% test error): more
# resolution and larger images than CIFAR-10. `astrozoo.io.cianna.load_model`
# imports it into Keras; its convolutional part (up to `L19_act`, before its
# 2-class layer) gets the same head and two-stage recipe, on the central 64x64
# pixels of the cut-outs resized to 128x128 and normalised as CIANNA does,
# `(x - 100) / 155`. Stage 2 runs 30 epochs at 3e-4 (this network has 8 times
# fewer weights than the ResNet-18). The same network from scratch gets the
# same number of epochs.

# %%
from astrozoo.io import cianna  # noqa: E402

ASIRRA_EPOCHS = args.asirra_epochs or (2 if QUICK else 30)
if not {"asirra", "asirra_scratch"} <= SKIP:
    asirra_dat = cianna.read_dat(data_path("cianna", "arch2_res128_err1.76_ms89.dat"))
    x_asirra = cianna.preprocess(tf.image.resize(center_crop(x_gz, args.asirra_crop), (128, 128)).numpy())


def asirra_backbone():
    net = cianna.load_model(asirra_dat)
    return keras.Model(net.input, net.get_layer("L19_act").output, name="cianna_arch2_res128")


def asirra_classifier(seed):
    keras.utils.set_random_seed(seed)
    xa_tr, xa_te = x_asirra[train_idx], x_asirra[test_idx]
    return (*finetune(asirra_backbone(), xa_tr, xa_te, seed, args.asirra_lr, ASIRRA_EPOCHS), xa_te)


def asirra_scratch_classifier(seed):
    keras.utils.set_random_seed(seed)
    backbone = keras.models.clone_model(asirra_backbone())  # same layers, fresh random weights
    xa_tr, xa_te = x_asirra[train_idx], x_asirra[test_idx]
    return (*from_scratch(backbone, xa_tr, xa_te, seed, HEAD_EPOCHS + ASIRRA_EPOCHS), xa_te)


KINDS = {
    "finetuned": finetuned_classifier,
    "scratch": scratch_classifier,
    "asirra": asirra_classifier,
    "asirra_scratch": asirra_scratch_classifier,
}
results = {k: [] for k in KINDS}
curves = {}
ring_model = None
test_probs = {k: [] for k in KINDS}  # TTA probabilities per seed, for the seed ensemble
for seed in SEEDS:
    for kind, fn in KINDS.items():
        if kind in SKIP:
            continue
        t0 = time.perf_counter()
        model, hist, x_test = fn(seed)
        p = predict_tta(model, x_test)
        acc_tta = float((p.argmax(1) == y_te).mean())
        acc = float((model.predict(x_test, verbose=0).argmax(1) == y_te).mean())
        results[kind].append({"seed": seed, "accuracy": acc, "accuracy_tta": acc_tta, "seconds": time.perf_counter() - t0})
        test_probs[kind].append(p)
        curves[(kind, seed)] = hist["val_accuracy"]
        print(f"{kind:9s} seed {seed}: accuracy {acc:.3f}, with 8-fold TTA {acc_tta:.3f} ({results[kind][-1]['seconds']:.0f} s)")
        if kind == "finetuned" and ring_model is None:
            ring_model = model


def summary(rows, key):
    v = np.array([r[key] for r in rows])
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}


summaries = {k: {m: summary(v, m) for m in ("accuracy", "accuracy_tta")} for k, v in results.items() if v}
for k, probs in test_probs.items():
    if len(probs) > 1:  # averaging the seeds' probabilities: one model made of all seeds
        summaries[k]["ensemble_accuracy_tta"] = float((np.mean(probs, 0).argmax(1) == y_te).mean())
        print(f"{k:9s}: ensemble of the {len(probs)} seeds (TTA) {summaries[k]['ensemble_accuracy_tta']:.3f}")
for k, s in summaries.items():
    print(f"{k:9s}: {s['accuracy_tta']['mean']:.3f} +- {s['accuracy_tta']['std']:.3f} (TTA), "
          f"{s['accuracy']['mean']:.3f} +- {s['accuracy']['std']:.3f} (single view)")

fig, ax = plt.subplots(figsize=(5.5, 3.5))
for (kind, seed), c in curves.items():
    color = {"finetuned": "C0", "scratch": "C1", "asirra": "C2", "asirra_scratch": "C3"}[kind]
    ax.plot(c, color=color, alpha=0.7, label=kind if seed == SEEDS[0] else None)
ax.axvline(HEAD_EPOCHS - 0.5, color="gray", ls=":", label="unfreeze")
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy (single view)")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "rings_accuracy.png", dpi=100)

# %% [markdown]
# ## Baselines: frozen features and a radial profile
#
# How much do the CIFAR-10 features know about rings before any fine-tuning,
# and how much does a hand-made feature know? Two logistic regressions (the
# strength of their L2 penalty chosen by 5-fold cross-validation on the
# training split): on the backbone's pooled features averaged over the 8
# symmetries ("linear probe"), and on the azimuthally averaged brightness
# profile of each colour out to 40 px ("radial profile"). Besides the test
# accuracy, a 4-fold cross-validation on the 352 training galaxies shows how
# much the accuracy moves from one split to another.

# %%
from scipy.ndimage import map_coordinates  # noqa: E402
from sklearn.linear_model import LogisticRegressionCV  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def radial_profiles(images, rmax=40, n_r=32, n_theta=32):
    c = (images.shape[1] - 1) / 2
    r, t = np.meshgrid(np.linspace(0, rmax, n_r), np.linspace(0, 2 * np.pi, n_theta, endpoint=False), indexing="ij")
    coords = [c + r * np.sin(t), c + r * np.cos(t)]
    polar = np.stack([[map_coordinates(im[..., ch].astype("float32"), coords, order=1) for ch in range(3)] for im in images])
    return polar.mean(-1).reshape(len(images), -1) / 255.0  # (n, 3 * n_r)


def logistic_baseline(features):
    clf = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=np.logspace(-4, 1, 12), cv=5, max_iter=3000))
    folds = StratifiedKFold(4, shuffle=True, random_state=123)
    cv = cross_val_score(clf, features[train_idx], y_gz[train_idx], cv=folds)
    test = clf.fit(features[train_idx], y_gz[train_idx]).score(features[test_idx], y_gz[test_idx])
    return {"cv_mean": float(cv.mean()), "cv_folds": [float(v) for v in cv], "test": float(test)}


baselines = {}
if "baselines" not in SKIP:
    backbone = new_backbone()
    backbone.load_weights(pretrained_path)
    pooled = keras.Model(backbone.input, keras.layers.GlobalAveragePooling2D()(backbone.output))
    probe_features = predict_tta(pooled, gx)
    baselines["linear_probe"] = logistic_baseline(probe_features)
    baselines["radial_profile"] = logistic_baseline(radial_profiles(x_gz))
    for name, b in baselines.items():
        print(f"{name:15s}: test {b['test']:.3f}; 4-fold CV on the training split {b['cv_mean']:.3f} "
              f"(folds {', '.join(f'{v:.3f}' for v in b['cv_folds'])})")

# %% [markdown]
# ## Regressing the vote fractions
#
# Same recipe with a regression head bounded to [0, 1] (sigmoid) on three
# volunteer vote fractions, trained with the mean squared error. The baseline
# predicts the training mean of each fraction.

# %%
regression = {}
if "regression" not in SKIP:
    f_tr, f_te = fractions[train_idx], fractions[test_idx]
    rmse_runs = []
    for seed in SEEDS:
        keras.utils.set_random_seed(seed)
        backbone = new_backbone()
        backbone.load_weights(pretrained_path)
        reg = transfer.build_finetune_model(backbone, "regression", outputs=3, unit_interval=True, dropout=0.3)
        transfer.two_stage_finetune(
            reg,
            train_dataset(x_tr, f_tr, seed),
            loss="mse",
            head_epochs=HEAD_EPOCHS,
            head_learning_rate=1e-3,
            finetune_epochs=FT_EPOCHS,
            finetune_learning_rate=args.finetune_lr,
            lr_decay=0.8,
            verbose=0,
        )
        pred = predict_tta(reg, x_te)
        rmse_runs.append(np.sqrt(((pred - f_te) ** 2).mean(0)))
        print(f"regression seed {seed}: RMSE {np.round(rmse_runs[-1], 3)}")
    rmse_runs = np.array(rmse_runs)
    baseline = np.sqrt(((f_tr.mean(0) - f_te) ** 2).mean(0))
    regression = {
        name: {
            "rmse_mean": float(rmse_runs[:, i].mean()),
            "rmse_std": float(rmse_runs[:, i].std(ddof=1)) if len(SEEDS) > 1 else 0.0,
            "baseline_rmse": float(baseline[i]),
        }
        for i, name in enumerate(FRACTION_NAMES)
    }
    print(json.dumps(regression, indent=1))

# %% [markdown]
# ## Occlusion maps
#
# Hide an 8x8 window (noise with the image's statistics) at every position and
# record the drop of the predicted ring probability; red pixels are the ones
# the classifier relies on. For the rings it should be the galaxy (its disc and
# ring), not the sky.

# %%
occlusion = {}
if "occlusion" not in SKIP and ring_model is not None:
    rings_te = [i for i, j in enumerate(test_idx) if y_gz[j] == 1][:4]
    ratios = []
    for n, i in enumerate(rings_te):
        heat = occlusion_map(ring_model, x_te[i], class_index=1, window=max(SIZE // 4, 2), stride=max(SIZE // 16, 1))
        r = np.hypot(*np.meshgrid(np.arange(SIZE) - SIZE / 2 + 0.5, np.arange(SIZE) - SIZE / 2 + 0.5))
        centre, edge = float(heat[r < SIZE / 4].mean()), float(heat[r > SIZE * 0.4].mean())
        ratios.append({"centre": centre, "edge": edge})
        shown = crop_resize(x_gz[test_idx[i] : test_idx[i] + 1])[0]
        plot_occlusion(shown, heat, OUT / f"occlusion_ring_{n}.png", title=f"ring {gz['iauname'][test_idx[i]]}", overwrite=True)
    occlusion = {"maps": ratios, "centre_mean": float(np.mean([d["centre"] for d in ratios])),
                 "edge_mean": float(np.mean([d["edge"] for d in ratios]))}
    print("occlusion: mean probability drop, centre vs edge:", occlusion["centre_mean"], occlusion["edge_mean"])

# %%
metrics = {
    "quick": QUICK,
    "seeds": SEEDS,
    "input": {"crop": CROP, "size": SIZE},
    "epochs": {"head": HEAD_EPOCHS, "finetune": FT_EPOCHS, "scratch": HEAD_EPOCHS + FT_EPOCHS},
    "finetune_lr": args.finetune_lr,
    "asirra": {"crop": args.asirra_crop, "finetune_lr": args.asirra_lr, "finetune_epochs": ASIRRA_EPOCHS},
    "split": {"train": int(len(train_idx)), "test": int(len(test_idx))},
    "pretraining": pretrain_info,
    "classification": {"runs": results, "summary": summaries},
    "baselines": baselines,
    "regression": regression,
    "occlusion": occlusion,
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=1))
print("wrote", OUT / "metrics.json")
