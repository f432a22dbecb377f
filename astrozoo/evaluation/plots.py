"""Figures of the generative models: sample grids, latent scatter, latent generation grids.

All functions draw with matplotlib's "Agg" backend, return the figure and
write a PNG when ``path`` is given (refusing to overwrite an existing file
unless ``overwrite=True``).
"""

import math
import os
import pathlib

import keras
import numpy as np


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, overwrite):
    if path is None:
        return
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def _tile(images, nrow):
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"`images` must be (n, H, W[, 1 or 3]). Received shape {images.shape}")
    n, h, w, c = images.shape
    ncol = int(math.ceil(n / nrow))
    canvas = np.ones((nrow * (h + 1) - 1, ncol * (w + 1) - 1, c), np.float32) * np.nan
    for k in range(n):
        i, j = divmod(k, ncol)
        canvas[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = images[k]
    return canvas[..., 0] if c == 1 else canvas


def sample_grid(images, path=None, nrow=None, value_range=(0.0, 1.0), title=None, cmap="gray_r", overwrite=False):
    """Tile ``images`` into one figure.

    Args:
        images: ``(n, H, W)`` or ``(n, H, W, 1|3)``.
        path: PNG to write (optional).
        nrow: rows of the grid (default: about square).
        value_range: display range (``(-1, 1)`` for tanh outputs).
        title: figure title.
        cmap: colour map of single-channel images (``"gray_r"``: dark digits on white).
        overwrite: replace an existing ``path``.
    """
    plt = _plt()
    images = np.asarray(images)
    n = images.shape[0]
    nrow = nrow or int(math.floor(math.sqrt(n))) or 1
    canvas = _tile(images, nrow)
    lo, hi = value_range
    canvas = np.clip((canvas - lo) / (hi - lo), 0.0, 1.0)
    fig, ax = plt.subplots(figsize=(0.4 * canvas.shape[1] / images.shape[2] + 0.5, 0.4 * canvas.shape[0] / images.shape[1] + 0.5))
    ax.imshow(np.ma.masked_invalid(canvas), cmap=cmap if canvas.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    _save(fig, path, overwrite)
    return fig


def latent_scatter(z, labels=None, path=None, title="Latent space", overwrite=False, s=2):
    """Scatter of 2-D latent vectors coloured by label (tab10), with a class legend."""
    plt = _plt()
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"`z` must be (n, >=2) latent vectors. Received shape {z.shape}")
    fig, ax = plt.subplots(figsize=(6, 5.5))
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, c="k")
    else:
        labels = np.asarray(labels).astype(int)
        cmap = plt.get_cmap("tab10")
        for k in np.unique(labels):
            m = labels == k
            ax.scatter(z[m, 0], z[m, 1], s=s, color=cmap(int(k) % 10), label=str(k))
        ax.legend(markerscale=4, fontsize=8, loc="best")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    _save(fig, path, overwrite)
    return fig


def latent_grid_points(mode="regular", n=15, limits=(-3.0, 3.0), radii=(0.5, 3.0), n_r=8, n_theta=24):
    """2-D latent coordinates: a regular ``n x n`` grid or a polar ``n_theta x n_r`` one.

    The polar layout follows the course (radii evenly spaced in ``radii``,
    angles evenly spaced in [0, 2 pi) without the end point); rows are angles
    and columns radii. Returns ``(points (N, 2), (rows, cols))``.
    """
    if mode == "regular":
        g = np.linspace(limits[0], limits[1], n)
        yy, xx = np.meshgrid(g[::-1], g, indexing="ij")
        return np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32), (n, n)
    if mode == "polar":
        r = np.linspace(radii[0], radii[1], n_r)
        th = np.linspace(0.0, 2 * np.pi, n_theta, endpoint=False)
        tt, rr = np.meshgrid(th, r, indexing="ij")
        pts = np.stack([rr * np.cos(tt), rr * np.sin(tt)], -1).reshape(-1, 2)
        return pts.astype(np.float32), (n_theta, n_r)
    raise ValueError(f"`mode` must be 'regular' or 'polar'. Received: mode={mode!r}")


def latent_generation_grid(decoder, path=None, mode="regular", overwrite=False, title=None, **grid_kwargs):
    """Decode a regular or polar grid of a 2-D latent space and tile the images.

    Returns ``(figure, images)``. ``grid_kwargs`` go to :func:`latent_grid_points`.
    """
    latent_dim = int(decoder.inputs[0].shape[-1])
    if latent_dim != 2:
        raise ValueError(f"A latent generation grid needs a 2-D latent space. The decoder takes {latent_dim}.")
    pts, (rows, _) = latent_grid_points(mode, **grid_kwargs)
    images = np.asarray(decoder.predict(pts, batch_size=256, verbose=0))
    fig = sample_grid(images, path=path, nrow=rows, title=title or f"Decoded {mode} latent grid", overwrite=overwrite)
    return fig, images


class SampleGridCallback(keras.callbacks.Callback):
    """Save a grid of ``model.sample(n, seed=seed)`` every ``every`` epochs (fixed seed:
    the same latent vectors / noise each time, so the grids show training progress).

    Works with any astrozoo model that has ``sample(n, seed=...)`` (GAN, VAE, DDPM).

    Args:
        out_dir: folder of the PNGs ``{prefix}_epoch{NNN}.png``.
        n: images per grid.
        seed: sampling seed.
        every: epoch interval.
        value_range: display range of the samples (``(-1, 1)`` for GAN/DDPM).
        prefix: file name prefix.
        sample_kwargs: extra arguments of ``model.sample`` (e.g. ``steps``).
    """

    def __init__(self, out_dir, n=36, seed=0, every=1, value_range=(-1.0, 1.0), prefix="samples", sample_kwargs=None):
        super().__init__()
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        self.out_dir = os.fspath(out_dir)
        self.n = n
        self.seed = seed
        self.every = every
        self.value_range = value_range
        self.prefix = prefix
        self.sample_kwargs = dict(sample_kwargs or {})
        self.paths = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        images = self.model.sample(self.n, seed=self.seed, **self.sample_kwargs)
        path = pathlib.Path(self.out_dir) / f"{self.prefix}_epoch{epoch + 1:03d}.png"
        fig = sample_grid(images, path=path, value_range=self.value_range, title=f"epoch {epoch + 1}", overwrite=True)
        _plt().close(fig)
        self.paths.append(str(path))
