# %% [markdown]
# # Denoising diffusion (DDPM) on MNIST
#
# The course's diffusion practical: T = 1000 steps with the course's cosine
# schedule (s = 0.0008, alpha_bar rescaled to [0.05^2, 0.95^2]), a U-Net
# noise predictor (f = 16, three downsamplings, here with a sinusoidal time
# embedding and GroupNorm), noise-prediction MSE and an EMA of the weights.
# Sampling runs the whole reverse chain as one compiled graph, ancestral
# (DDPM posterior) or DDIM. Samples are judged by a LeNet-5 (confidence,
# class-histogram entropy, Frechet distance in LeNet-5 features) next to real
# held-out digits and noise.
#
# Run: `python applications/ddpm_mnist.py [--quick] [--out DIR] [--epochs N]`.

# %%
import argparse
import json
import os
import pathlib
import time

import keras
import numpy as np

from astrozoo.applications import ddpm
from astrozoo.datasets import read_idx
from astrozoo.evaluation import quality_table, sample_grid, train_reference_classifier
from astrozoo.utils import require_shared_data
from astrozoo.callbacks import TimeBudget

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--quick", action="store_true", help="about a minute on 2 CPU cores")
parser.add_argument("--out", default="outputs/ddpm_mnist", help="folder for figures and metrics.json")
parser.add_argument("--data-dir", default=None, help="folder holding t10k-images-idx3-ubyte.gz and labels")
parser.add_argument("--epochs", type=int, default=None)
parser.add_argument("--schedule", default="cosine", choices=["cosine", "linear"])
parser.add_argument("--depth", type=int, default=3)
parser.add_argument("--n-eval", type=int, default=None, help="samples per quality row")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--ancestral-steps", type=int, default=1000, help="steps of the ancestral chain")
parser.add_argument("--max-minutes", type=float, default=None, help="stop training after this wall time")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
epochs = args.epochs or (2 if quick else 30)
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)


# %% [markdown]
# ## Data (images in [-1, 1]) and the noise schedule

# %%
data_dir = pathlib.Path(args.data_dir) if args.data_dir else require_shared_data("mnist")
x = read_idx(data_dir / "t10k-images-idx3-ubyte.gz").astype("float32")[..., None] / 255.0
y = read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").astype("int64")
x_train, y_train, x_held = x[:-2000], y[:-2000], x[-2000:]
if quick:
    x_train, y_train = x_train[:1500], y_train[:1500]

model = ddpm(timesteps=1000, schedule=args.schedule, depth=args.depth, ema_decay=0.995, seed=args.seed)
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(model.alpha_bar, label="alpha_bar")
ax.plot(model.betas, label="beta")
ax.set_xlabel("t")
ax.set_yscale("log")
ax.legend()
ax.set_title(f"{args.schedule} schedule, T = {model.timesteps}")
fig.savefig(out / "ddpm_schedule.png", dpi=100, bbox_inches="tight")
plt.close(fig)

# %% [markdown]
# ## Train: noise-prediction MSE, EMA of the trainable weights

# %%
model.compile(optimizer=keras.optimizers.Adam(1e-3 if quick else 5e-4))
budget = TimeBudget(args.max_minutes)
t0 = time.time()
hist = model.fit(x_train * 2.0 - 1.0, epochs=epochs, batch_size=64, callbacks=[budget], verbose=2)
train_time = time.time() - t0

# %% [markdown]
# ## Sample (compiled reverse chains) and judge with LeNet-5

# %%
n_eval = args.n_eval or (100 if quick else 500)
sets, timings = {}, {}
for name, kw in {
    "ddim50": dict(method="ddim", steps=50, eta=0.0),
    "ancestral": dict(method="ancestral", steps=100 if quick else args.ancestral_steps),
}.items():
    t0 = time.time()
    s = model.sample(n_eval, seed=args.seed + 1, **kw)
    timings[name] = round(time.time() - t0, 1)
    sets[name] = np.clip((s + 1.0) / 2.0, 0.0, 1.0)
    plt.close(sample_grid(sets[name][:64], out / f"ddpm_samples_{name}.png", title=f"DDPM {name}", overwrite=True))

clf = train_reference_classifier(x_train, y_train, epochs=3 if quick else 8, seed=args.seed)
clf_acc = float(clf.evaluate(x_held, y[-2000:], verbose=0)[1])
table = quality_table(clf, x_held[:1000], x_held[1000 : 1000 + n_eval], sets, noise_seed=args.seed)
for name, row in table.items():
    print(f"{name:>14}: confidence {row['confidence']:.3f}  entropy {row['class_entropy']:.3f}  "
          f"FD {row['frechet_distance']:.2f}")
metrics = {
    "quick": quick,
    "schedule": args.schedule,
    "epochs": epochs,
    "epochs_run": len(hist.history["loss"]),
    "train_images": int(len(x_train)),
    "train_seconds": round(train_time, 1),
    "optimizer_steps": int(model.optimizer.iterations),
    "loss_history": [float(v) for v in hist.history["loss"]],
    "sampling_seconds": timings,
    "classifier_heldout_accuracy": clf_acc,
    "quality": table,
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(json.dumps({k: v for k, v in metrics.items() if k != "quality"}, indent=2))
