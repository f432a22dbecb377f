# %% [markdown]
# # Sliding-window detection of blood cells (BCCD) with a cutout classifier
#
# Before YOLO, the course detects objects with a plain CNN classifier: it is
# trained on fixed-size **cutouts** of the objects plus a **background** class
# (crops that overlap no object, 20% of the samples), then slid over the image
# at a few window sizes; non-maximum suppression removes the duplicates.
#
# This script trains that baseline on the BCCD blood-cell images (a real,
# small stand-in for source detection: many small roundish objects) and scores
# it with the same PASCAL VOC mAP@50 as the YOLO detector, on the same test list.
#
# Run: `python applications/sliding_window_bccd.py [--quick] [--out DIR] [--data-dir BCCD]`.

# %%
import argparse
import json
import os
import pathlib
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--quick", action="store_true", help="about a minute on 2 CPU cores")
parser.add_argument("--out", default="outputs/sliding_window_bccd", help="folder for figures and metrics.json")
parser.add_argument("--data-dir", default=None, help="a VOCdevkit-style BCCD folder (default: ../shared/data/bccd/BCCD)")
parser.add_argument("--epochs", type=int, default=None)
parser.add_argument("--cutout-size", type=int, default=32)
parser.add_argument("--context", type=float, default=0.25, help="margin around the cutouts, fraction of the object size")
parser.add_argument("--windows", type=int, nargs="+", default=[50, 130, 240], help="window sides in pixels")
parser.add_argument("--stride", type=float, default=0.25, help="step as a fraction of the window side")
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
epochs = args.epochs or (3 if quick else 20)
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

import keras  # noqa: E402

from astrozoo.applications import lenet5  # noqa: E402
from astrozoo.datasets import read_voc_index, voc  # noqa: E402
from astrozoo.datasets import voc_cutouts  # noqa: E402
from astrozoo.evaluation import coco_map, voc_map  # noqa: E402
from astrozoo.evaluation import sliding_window_detect  # noqa: E402
from astrozoo.utils import require_shared_data  # noqa: E402

data_dir = pathlib.Path(args.data_dir) if args.data_dir else require_shared_data("bccd", "BCCD")
keras.utils.set_random_seed(args.seed)

# %% [markdown]
# ## Cutouts and background crops
# Each object of the training images gives one cutout per epoch, with a 25%
# margin of context around it (so the classifier learns a whole cell on its
# surroundings, not a patch of cell), jittered by 10% of its size and flipped at
# random, resized to 32x32; background crops,
# with sizes drawn from the objects' sizes, are placed where they touch no object.
# BCCD images are crowded with red cells, so the images that have room give more
# background crops, keeping the share at 20% overall.

# %%
size = (args.cutout_size, args.cutout_size)
train_ds, info = voc_cutouts(
    "train", data_dir=data_dir, cutout_size=size, context=args.context, seed=args.seed, batch_size=64, with_info=True
)
kw = dict(data_dir=data_dir, cutout_size=size, context=args.context, batch_size=256, shuffle=False)
val_ds = voc_cutouts("val", seed=args.seed + 1, **kw)
test_cut = voc_cutouts("test", seed=args.seed + 2, **kw)
class_names = info["class_names"]
print("classes:", class_names, "| expected background share:", round(info["expected_background_fraction"], 3))

x, y = next(iter(train_ds))
fig, axes = plt.subplots(4, 8, figsize=(10, 5.5))
for ax, img, lab in zip(axes.flat, x.numpy(), y.numpy()):
    ax.imshow(np.clip(img * 155 + 100, 0, 255).astype(np.uint8))
    ax.set_title(class_names[lab], fontsize=8)
    ax.axis("off")
fig.tight_layout()
fig.savefig(out / "cutouts.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## The cutout classifier
# The course's LeNet-style CNN (two 5x5 convolutions, two dense layers) with
# CIANNA's leaky ReLU, 4 outputs: Platelets, RBC, WBC and background.

# %%
model = lenet5(input_shape=(*size, 3), classes=len(class_names), activation="cianna", name="bccd_cutout_classifier")
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
t0 = time.time()
history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=2)
train_time = time.time() - t0
test_loss, test_acc = model.evaluate(test_cut, verbose=0)
print(f"cutout test accuracy {test_acc:.4f} (train {train_time:.0f} s)")

fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
for k, key in enumerate(["loss", "accuracy"]):
    ax[k].plot(history.history[key], label="train")
    ax[k].plot(history.history["val_" + key], label="val")
    ax[k].set_xlabel("epoch")
    ax[k].set_ylabel(key)
    ax[k].legend()
fig.tight_layout()
fig.savefig(out / "training.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## Sliding window on the test images
# Windows of 50, 130 and 240 px (the median sizes of platelets, red and white
# cells in the 640x480 images, 40, 103 and 191 px, plus the 25% context), a
# stride of a quarter window, and per-class NMS at IoU 0.3; each kept window is
# shrunk by the context to give the object box. All windows of 4 images are classified in one batch.

# %%
test_index = read_voc_index(data_dir, "test")
n_test = 16 if quick else len(test_index)
images = voc("test", data_dir=data_dir, batch_size=4, image_size=(480, 640), shuffle=False, cache=False)
images = images.take((n_test + 3) // 4)
t0 = time.time()
detections = sliding_window_detect(
    model,
    images,
    window_sizes=args.windows,
    stride=args.stride,
    context=args.context,
    score_threshold=0.3,
    iou_threshold=0.3,
)[:n_test]
detect_time = time.time() - t0
ground_truths = [
    {"boxes": test_index.boxes[i], "classes": test_index.classes[i], "difficult": test_index.difficult[i]}
    for i in range(n_test)
]
obj_names = class_names[:-1]
voc_res = voc_map(detections, ground_truths, iou_threshold=0.5, class_names=obj_names)
coco_res = coco_map(detections, ground_truths, class_names=obj_names)
print(f"mAP@50 (VOC) {voc_res['map']:.3f}  " + "  ".join(f"{k} {v:.3f}" for k, v in voc_res["ap"].items()))
print(f"COCO mAP@[.5:.95] {coco_res['map']:.3f}, AP50 {coco_res['map_50']:.3f}; {detect_time:.1f} s for {n_test} images")

# %%
colors = {0: "yellow", 1: "red", 2: "cyan"}
fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
for ax, i in zip(axes, [0, 1]):
    img = np.asarray(keras.utils.load_img(test_index.image_paths[i]))
    ax.imshow(img)
    for b, c in zip(ground_truths[i]["boxes"], ground_truths[i]["classes"]):
        ax.add_patch(plt.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec="white", lw=1, ls="--"))
    for b, c, s in zip(detections[i]["boxes"], detections[i]["classes"], detections[i]["scores"]):
        ax.add_patch(plt.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec=colors[int(c)], lw=1.5))
    ax.set_title(f"{test_index.ids[i]}: ground truth dashed, detections coloured", fontsize=9)
    ax.axis("off")
fig.tight_layout()
fig.savefig(out / "detections.png", dpi=100)
plt.close(fig)

metrics = {
    "quick": quick,
    "epochs": epochs,
    "cutout_size": list(size),
    "window_sizes": args.windows,
    "context": args.context,
    "stride": args.stride,
    "test_images": n_test,
    "cutout_test_accuracy": float(test_acc),
    "voc_map50": voc_res["map"],
    "voc_ap50": {k: float(v) for k, v in voc_res["ap"].items()},
    "coco_map": coco_res["map"],
    "coco_map50": coco_res["map_50"],
    "train_seconds": train_time,
    "detect_seconds": detect_time,
    "expected_background_fraction": info["expected_background_fraction"],
    "figures": ["cutouts.png", "training.png", "detections.png"],
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(json.dumps(metrics, indent=2))
