# %% [markdown]
# # Variational autoencoder on MNIST
#
# The course's convolutional autoencoder layout trained as a VAE with a
# 2-D latent space on the MNIST test set (the last 2,000 images held out).
# We plot the latent space coloured by digit, decode regular and polar grids
# of the latent plane (as in the course), and judge samples from the prior
# with a LeNet-5 trained on the training part: mean max-probability, entropy
# of the predicted-class histogram and a Frechet distance in LeNet-5
# features, next to the same numbers for real held-out digits and noise.
#
# Run: `python applications/vae_mnist.py [--quick] [--out DIR] [--epochs N]`.

# %%
import argparse
import json
import os
import pathlib
import time

import keras
import numpy as np

from astrozoo.applications import vae
from astrozoo.datasets import read_idx
from astrozoo.evaluation import (
    latent_generation_grid,
    latent_scatter,
    quality_table,
    sample_grid,
    train_reference_classifier,
)
from astrozoo.utils import require_shared_data
from astrozoo.callbacks import TimeBudget

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--quick", action="store_true", help="about a minute on 2 CPU cores")
parser.add_argument("--out", default="outputs/vae_mnist", help="folder for figures and metrics.json")
parser.add_argument("--data-dir", default=None, help="folder holding t10k-images-idx3-ubyte.gz and labels")
parser.add_argument("--epochs", type=int, default=None)
parser.add_argument("--latent-dim", type=int, default=2)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--max-minutes", type=float, default=None, help="stop training after this wall time")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
epochs = args.epochs or (3 if quick else 40)
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)


# %% [markdown]
# ## Data: MNIST test set, last 2,000 images held out

# %%
data_dir = pathlib.Path(args.data_dir) if args.data_dir else require_shared_data("mnist")
x = read_idx(data_dir / "t10k-images-idx3-ubyte.gz").astype("float32")[..., None] / 255.0
y = read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").astype("int64")
x_train, y_train, x_held, y_held = x[:-2000], y[:-2000], x[-2000:], y[-2000:]
if quick:
    x_train, y_train = x_train[:2000], y_train[:2000]
print(f"train {x_train.shape}, held out {x_held.shape}")

# %% [markdown]
# ## Train the VAE (KL term in `compute_loss`)

# %%
model = vae(latent_dim=args.latent_dim, seed=args.seed)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
budget = TimeBudget(args.max_minutes)
t0 = time.time()
hist = model.fit(x_train, epochs=epochs, batch_size=128, validation_data=(x_held,), callbacks=[budget], verbose=2)
train_time = time.time() - t0

# %% [markdown]
# ## Latent space and generation grids

# %%
z_mean, _ = model.encoder.predict(x_held, verbose=0)
import matplotlib.pyplot as plt  # noqa: E402

plt.close(latent_scatter(z_mean, y_held, path=out / "vae_latent_scatter.png", overwrite=True))
if args.latent_dim == 2:
    fig, _ = latent_generation_grid(model.decoder, out / "vae_grid_regular.png", mode="regular", n=15,
                                    limits=(-2.5, 2.5), overwrite=True)
    plt.close(fig)
    fig, _ = latent_generation_grid(model.decoder, out / "vae_grid_polar.png", mode="polar", n_r=8, n_theta=24,
                                    radii=(0.3, 2.5), overwrite=True)
    plt.close(fig)

# %% [markdown]
# ## Sample quality judged by LeNet-5

# %%
clf = train_reference_classifier(x_train, y_train, epochs=3 if quick else 8, seed=args.seed)
clf_acc = float(clf.evaluate(x_held, y_held, verbose=0)[1])
n_eval = 300 if quick else 1000
samples = model.sample(n_eval, seed=args.seed + 1)
plt.close(sample_grid(samples[:64], out / "vae_samples.png", title="VAE samples (prior)", overwrite=True))
table = quality_table(clf, x_held[:1000], x_held[1000 : 1000 + n_eval], {"vae": samples}, noise_seed=args.seed)
for name, row in table.items():
    print(f"{name:>14}: confidence {row['confidence']:.3f}  entropy {row['class_entropy']:.3f}  "
          f"FD {row['frechet_distance']:.2f}")

metrics = {
    "quick": quick,
    "epochs": epochs,
    "epochs_run": len(hist.history["loss"]),
    "train_images": int(len(x_train)),
    "train_seconds": round(train_time, 1),
    "optimizer_steps": int(model.optimizer.iterations),
    "final_loss": float(hist.history["loss"][-1]),
    "final_val_loss": float(hist.history["val_loss"][-1]),
    "final_reconstruction_loss": float(hist.history["reconstruction_loss"][-1]),
    "final_kl_loss": float(hist.history["kl_loss"][-1]),
    "classifier_heldout_accuracy": clf_acc,
    "quality": table,
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(json.dumps({k: v for k, v in metrics.items() if k != "quality"}, indent=2))
