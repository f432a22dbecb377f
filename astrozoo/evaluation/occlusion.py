"""Occlusion sensitivity maps (Zeiler & Fergus 2014): which parts of an image does a prediction use?

A window slides over the image and is filled with noise, the image mean or a
constant; the drop of the class probability when a region is hidden says how
much the model relies on it. All occluded copies go through the model in
batches (one ``predict`` call per ``batch_size`` windows, not per window).
"""

import warnings

import numpy as np

FILLS = ("noise", "mean")


def _pair(value, name):
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` should be an int or a pair of ints. Received: {name}={value!r}") from None
    if a < 1 or b < 1:
        raise ValueError(f"`{name}` should be positive. Received: {name}={value!r}")
    return a, b


def _positions(size, window, stride):
    pos = list(range(0, size - window + 1, stride))
    if pos[-1] != size - window:
        # The last window is flush with the border so that every pixel is covered.
        pos.append(size - window)
    return pos


def occlusion_map(
    model,
    image,
    class_index=None,
    window=8,
    stride=4,
    fill="noise",
    batch_size=128,
    seed=0,
    return_grid=False,
):
    """Change of a class probability when each window of ``image`` is occluded.

    Args:
        model: a Keras model (or any callable with ``predict``) mapping a batch
            ``(n, H, W, C)`` to class probabilities ``(n, classes)``, or to
            ``(n, 1)`` probabilities of the positive class.
        image: one image ``(H, W, C)`` (or ``(H, W)``), already preprocessed
            the way the model expects.
        class_index: class whose probability is tracked; default the
            predicted class of the unoccluded image.
        window: occluding window size (int or ``(h, w)``).
        stride: step between windows (int or ``(h, w)``).
        fill: ``"noise"`` (Gaussian noise with the image's per-channel mean
            and standard deviation), ``"mean"`` (the per-channel mean), or a
            number (constant fill).
        batch_size: occluded images per ``predict`` call.
        seed: seed of the noise fill.
        return_grid: also return the per-window map.

    Returns:
        ``heatmap`` of shape ``(H, W)``: for each pixel, the mean over the
        windows covering it of ``p(original) - p(occluded)``; positive where
        hiding the pixel lowers the class probability. With
        ``return_grid=True``, ``(heatmap, grid, baseline)`` where ``grid`` is
        ``(n_rows, n_cols)`` and ``baseline`` the unoccluded probability.
    """
    image = np.asarray(image, dtype="float32")
    squeeze = image.ndim == 2
    if squeeze:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(
            f"`image` should be one image (H, W, C) or (H, W), without a batch axis. Received shape {image.shape}."
        )
    h, w, c = image.shape
    wh, ww = _pair(window, "window")
    sh, sw = _pair(stride, "stride")
    if wh > h or ww > w:
        raise ValueError(f"`window` {(wh, ww)} is larger than the image {(h, w)}.")
    if isinstance(fill, str):
        if fill not in FILLS:
            raise ValueError(f"`fill` should be 'noise', 'mean' or a number. Received: fill={fill!r}")
    elif not isinstance(fill, (int, float, np.number)):
        raise ValueError(f"`fill` should be 'noise', 'mean' or a number. Received: fill={fill!r}")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` should be >= 1. Received: batch_size={batch_size!r}")

    import keras

    def probs(batch):
        if isinstance(model, keras.Model):
            # A direct call: `predict` would retrace for every new batch length.
            with warnings.catch_warnings():
                # Functional models built on a list of one input warn about a bare array.
                warnings.filterwarnings("ignore", message="The structure of `inputs`")
                p = keras.ops.convert_to_numpy(model(batch, training=False)).astype("float64")
        else:
            p = np.asarray(model.predict(batch, verbose=0, batch_size=len(batch)), dtype="float64")
        if p.ndim != 2:
            raise ValueError(f"The model should output (batch, classes) probabilities; got shape {p.shape}.")
        return p

    base = probs(image[None])[0]
    if class_index is None:
        class_index = int(np.argmax(base)) if base.shape[0] > 1 else 0
    if not 0 <= int(class_index) < base.shape[0]:
        raise ValueError(f"`class_index` should lie in [0, {base.shape[0]}). Received: class_index={class_index!r}")
    class_index = int(class_index)

    rows, cols = _positions(h, wh, sh), _positions(w, ww, sw)
    mean = image.reshape(-1, c).mean(0)
    if fill == "noise":
        std = image.reshape(-1, c).std(0)
        patch_source = np.random.default_rng(seed).normal(mean, std, size=(len(rows) * len(cols), wh, ww, c))
    elif fill == "mean":
        patch_source = np.broadcast_to(mean, (1, wh, ww, c))
    else:
        patch_source = np.full((1, wh, ww, c), float(fill))
    patch_source = patch_source.astype("float32")

    windows = [(r, q) for r in rows for q in cols]
    drops = np.empty(len(windows), dtype="float64")
    for start in range(0, len(windows), int(batch_size)):
        chunk = windows[start : start + int(batch_size)]
        batch = np.repeat(image[None], len(chunk), axis=0)
        for i, (r, q) in enumerate(chunk):
            batch[i, r : r + wh, q : q + ww] = patch_source[(start + i) % len(patch_source)]
        drops[start : start + len(chunk)] = base[class_index] - probs(batch)[:, class_index]

    total = np.zeros((h, w))
    count = np.zeros((h, w))
    for d, (r, q) in zip(drops, windows):
        total[r : r + wh, q : q + ww] += d
        count[r : r + wh, q : q + ww] += 1
    heatmap = (total / count).astype("float32")
    if return_grid:
        return heatmap, drops.reshape(len(rows), len(cols)).astype("float32"), float(base[class_index])
    return heatmap


def plot_occlusion(image, heatmap, path=None, title=None, alpha=0.5, cmap="RdBu_r", overwrite=False):
    """Image beside its occlusion map overlaid on it; saved as PNG when ``path`` is given.

    Args:
        image: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` image (any range; it
            is min-max scaled for display).
        heatmap: ``(H, W)`` map from :func:`occlusion_map`.
        path: PNG file to write (refuses to replace an existing file unless
            ``overwrite=True``).
        title: figure title.
        alpha: opacity of the map over the image.
        cmap: diverging colormap, centred on 0.

    Returns:
        The matplotlib ``Figure``.
    """
    import pathlib

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = np.asarray(image, dtype="float32")
    heatmap = np.asarray(heatmap, dtype="float32")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.shape[:2] != heatmap.shape:
        raise ValueError(f"`heatmap` shape {heatmap.shape} does not match the image size {image.shape[:2]}.")
    if path is not None:
        path = pathlib.Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    lo, hi = float(image.min()), float(image.max())
    shown = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    lim = float(np.abs(heatmap).max()) or 1.0
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    img_kw = {"cmap": "gray"} if shown.ndim == 2 else {}
    axes[0].imshow(shown, **img_kw)
    axes[0].set_title("image")
    axes[1].imshow(shown, **img_kw)
    im = axes[1].imshow(heatmap, cmap=cmap, vmin=-lim, vmax=lim, alpha=alpha)
    axes[1].set_title("probability drop")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    for a in axes:
        a.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig
