# %% [markdown]
# # DCGAN / WGAN-GP on MNIST
#
# A DCGAN (or, with `--kind wgan_gp`, a WGAN-GP with uniform interpolation
# and 5 critic steps) trained on the MNIST test set minus its last 2,000
# images. `SampleGridCallback` saves a grid of samples from fixed latent
# vectors after every few epochs; the final samples are judged by a LeNet-5
# trained on the same images (confidence, class-histogram entropy, Frechet
# distance in LeNet-5 features), next to real held-out digits and noise.
#
# Run: `python applications/gan_mnist.py [--kind dcgan|wgan_gp] [--quick] [--out DIR]`.

# %%
import argparse
import json
import os
import pathlib
import time

import keras
import numpy as np

from astrozoo.applications import gan
from astrozoo.datasets import read_idx
from astrozoo.evaluation import SampleGridCallback, quality_table, sample_grid, train_reference_classifier
from astrozoo.utils import require_shared_data
from astrozoo.callbacks import TimeBudget

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--quick", action="store_true", help="about a minute on 2 CPU cores")
parser.add_argument("--kind", default="dcgan", choices=["dcgan", "wgan_gp"])
parser.add_argument("--out", default=None, help="folder for figures and metrics.json (default outputs/gan_mnist/<kind>)")
parser.add_argument("--data-dir", default=None, help="folder holding t10k-images-idx3-ubyte.gz and labels")
parser.add_argument("--epochs", type=int, default=None)
parser.add_argument("--filters", type=int, default=32)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--max-minutes", type=float, default=None, help="stop training after this wall time")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
epochs = args.epochs or (2 if quick else 20)
out = pathlib.Path(args.out or f"outputs/gan_mnist/{args.kind}")
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)


# %% [markdown]
# ## Data: images in [-1, 1] for the tanh generator

# %%
data_dir = pathlib.Path(args.data_dir) if args.data_dir else require_shared_data("mnist")
x = read_idx(data_dir / "t10k-images-idx3-ubyte.gz").astype("float32")[..., None] / 255.0
y = read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").astype("int64")
x_train, y_train, x_held = x[:-2000], y[:-2000], x[-2000:]
if quick:
    x_train, y_train = x_train[:1500], y_train[:1500]

# %% [markdown]
# ## Train (two optimizers, the model's own `train_step`)

# %%
model = gan(args.kind, latent_dim=64, filters=args.filters, seed=args.seed)
model.compile()  # Adam(2e-4, beta_1=0.5[, beta_2=0.9 for WGAN-GP]) for both networks
monitor = SampleGridCallback(out, n=36, seed=123, every=1 if quick else 5, prefix=f"{args.kind}_progress")
budget = TimeBudget(args.max_minutes)
t0 = time.time()
hist = model.fit(x_train * 2.0 - 1.0, epochs=epochs, batch_size=64, callbacks=[monitor, budget], verbose=2)
train_time = time.time() - t0

# %% [markdown]
# ## Sample quality judged by LeNet-5

# %%
import matplotlib.pyplot as plt  # noqa: E402

clf = train_reference_classifier(x_train, y_train, epochs=3 if quick else 8, seed=args.seed)
clf_acc = float(clf.evaluate(x_held, y[-2000:], verbose=0)[1])
n_eval = 300 if quick else 1000
samples = (model.sample(n_eval, seed=args.seed + 1) + 1.0) / 2.0
plt.close(sample_grid(samples[:64], out / f"{args.kind}_samples.png", title=f"{args.kind} samples", overwrite=True))
table = quality_table(clf, x_held[:1000], x_held[1000 : 1000 + n_eval], {args.kind: samples}, noise_seed=args.seed)
for name, row in table.items():
    print(f"{name:>14}: confidence {row['confidence']:.3f}  entropy {row['class_entropy']:.3f}  "
          f"FD {row['frechet_distance']:.2f}")
metrics = {
    "quick": quick,
    "kind": args.kind,
    "backend": keras.backend.backend(),
    "epochs": epochs,
    "epochs_run": len(hist.history["d_loss"]),
    "train_images": int(len(x_train)),
    "train_seconds": round(train_time, 1),
    "optimizer_steps": int(model.optimizer.iterations),
    "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
    "classifier_heldout_accuracy": clf_acc,
    "progress_grids": [os.path.basename(p) for p in monitor.paths],
    "quality": table,
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(json.dumps({k: v for k, v in metrics.items() if k not in ("quality", "history")}, indent=2))
