# %% [markdown]
# # Denoising U-Net on MNIST
#
# A U-Net with a linear (regression) head learns to remove additive Gaussian
# noise (sigma = 0.5 on images in [0, 1]) from MNIST digits. Noise is drawn
# afresh every epoch in the `tf.data` pipeline; the held-out set (last 2,000
# test images) uses fixed noise. We report the PSNR of the noisy inputs and of
# the denoised outputs.
#
# Run: `python applications/unet_denoise_mnist.py [--quick] [--out DIR] [--sigma 0.5]`.

# %%
import argparse
import json
import os
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from astrozoo.applications import unet
from astrozoo.datasets import pipeline_options, read_idx
from astrozoo.evaluation import sample_grid
from astrozoo.utils import require_shared_data
from astrozoo.callbacks import TimeBudget

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--quick", action="store_true", help="about a minute on 2 CPU cores")
parser.add_argument("--out", default="outputs/unet_denoise_mnist", help="folder for figures and metrics.json")
parser.add_argument("--data-dir", default=None, help="folder holding t10k-images-idx3-ubyte.gz")
parser.add_argument("--epochs", type=int, default=None)
parser.add_argument("--sigma", type=float, default=0.5, help="noise standard deviation (images in [0, 1])")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--max-minutes", type=float, default=None, help="stop training after this wall time")
args, _ = parser.parse_known_args()
quick = args.quick or os.environ.get("ASTROZOO_QUICK") == "1"
epochs = args.epochs or (2 if quick else 15)
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)



def psnr(clean, estimate, data_range=1.0):
    """Mean over images of 10 log10(range^2 / MSE)."""
    mse = np.mean((np.asarray(clean) - np.asarray(estimate)) ** 2, axis=(1, 2, 3))
    return float(np.mean(10.0 * np.log10(data_range**2 / np.maximum(mse, 1e-12))))


# %% [markdown]
# ## Data: fresh noise per epoch for training, fixed noise for the held-out set

# %%
data_dir = pathlib.Path(args.data_dir) if args.data_dir else require_shared_data("mnist")
x = read_idx(data_dir / "t10k-images-idx3-ubyte.gz").astype("float32")[..., None] / 255.0
x_train, x_held = x[:-2000], x[-2000:]
if quick:
    x_train = x_train[:2000]
noisy_held = x_held + args.sigma * np.random.default_rng(args.seed).standard_normal(x_held.shape).astype("float32")

train_ds = (
    tf.data.Dataset.from_tensor_slices(x_train)
    .shuffle(len(x_train), seed=args.seed)
    .map(lambda c: (c + args.sigma * tf.random.normal(tf.shape(c)), c), num_parallel_calls=tf.data.AUTOTUNE)
    .batch(64)
    .prefetch(tf.data.AUTOTUNE)
    .with_options(pipeline_options())
)

# %% [markdown]
# ## Train the U-Net (linear head, MSE)

# %%
model = unet(input_shape=(28, 28, 1), out_channels=1, depth=2, filters=16, out_activation=None)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
budget = TimeBudget(args.max_minutes)
t0 = time.time()
hist = model.fit(train_ds, epochs=epochs, validation_data=(noisy_held, x_held), callbacks=[budget], verbose=2)
train_time = time.time() - t0

# %% [markdown]
# ## PSNR before and after

# %%
denoised = model.predict(noisy_held, batch_size=256, verbose=0)
metrics = {
    "quick": quick,
    "sigma": args.sigma,
    "epochs": epochs,
    "epochs_run": len(hist.history["loss"]),
    "train_images": int(len(x_train)),
    "train_seconds": round(train_time, 1),
    "optimizer_steps": int(model.optimizer.iterations),
    "heldout_images": int(len(x_held)),
    "psnr_noisy_db": psnr(x_held, noisy_held),
    "psnr_noisy_clipped_db": psnr(x_held, np.clip(noisy_held, 0.0, 1.0)),
    "psnr_denoised_db": psnr(x_held, denoised),
    "psnr_denoised_clipped_db": psnr(x_held, np.clip(denoised, 0.0, 1.0)),
    "final_val_mse": float(hist.history["val_loss"][-1]),
}
import matplotlib.pyplot as plt  # noqa: E402

panel = np.concatenate([x_held[:12], np.clip(noisy_held[:12], 0, 1), np.clip(denoised[:12], 0, 1)])
plt.close(sample_grid(panel, out / "unet_denoise_examples.png", nrow=3,
                      title="clean / noisy / denoised", overwrite=True))
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
print(json.dumps(metrics, indent=2))
