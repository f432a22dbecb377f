"""An independent float64 NumPy forward pass of CIANNA networks, for the tests.

It works on CIANNA's own layout (channel-planar maps ``(C, D, H, W)``) straight
from the parsed records, with none of the Keras conversion code, so that the
Keras models of ``astrozoo.io.cianna.load_model`` are checked against the
semantics of the CUDA path of CIANNA V-1.0 rather than against themselves.
"""

import numpy as np


def activation(x, text, is_map):
    name = text.split("_")[0]
    params = {p[0]: float(p[1:]) for p in text.split("_")[1:] if len(p) > 1}
    if name == "RELU":
        s, a = params.get("S", 800.0), params.get("L", 0.05)
        return np.where(x <= 0, a * x, np.where(x > s, s + (x - s) * a, x))
    if name == "LOGI":
        s, b = params.get("S", 6.0), params.get("B", 1.0)
        return 1.0 / (1.0 + np.exp(np.minimum(-b * x, s)))
    if name == "SMAX":
        flat = x.reshape(-1)
        e = np.exp(flat - flat.max())
        return (e / e.sum()).reshape(x.shape)
    return x


def conv(x, rec):
    """x: (C, D, H, W). Zeros inserted (int_padding), zero padding, strided correlation."""
    c, d, h, w = x.shape
    fw, fh, fd = rec.f_size
    sw, sh, sd = rec.stride
    pw, ph, pd = rec.padding
    iw, ih, idp = rec.int_padding
    dil = np.zeros((c, (d - 1) * (idp + 1) + 1, (h - 1) * (ih + 1) + 1, (w - 1) * (iw + 1) + 1))
    dil[:, :: idp + 1, :: ih + 1, :: iw + 1] = x
    xp = np.pad(dil, ((0, 0), (pd, pd), (ph, ph), (pw, pw)))
    od = (xp.shape[1] - fd) // sd + 1
    oh = (xp.shape[2] - fh) // sh + 1
    ow = (xp.shape[3] - fw) // sw + 1
    kern = rec.weights[:, :-1].astype(np.float64).reshape(rec.nb_filters, c, fd, fh, fw)
    bias = rec.weights[:, -1].astype(np.float64) * np.float64(np.float32(rec.bias_value))
    out = np.empty((rec.nb_filters, od, oh, ow))
    for z in range(od):
        for y in range(oh):
            for xx in range(ow):
                patch = xp[:, z * sd : z * sd + fd, y * sh : y * sh + fh, xx * sw : xx * sw + fw]
                out[:, z, y, xx] = np.tensordot(kern, patch, axes=4) + bias
    return out


def pool(x, rec):
    c, d, h, w = x.shape
    if rec.global_pool:
        red = x.max if rec.pool_type == "MAX" else x.mean
        return red(axis=(1, 2, 3)).reshape(c, 1, 1, 1)
    pw, ph, pd = rec.p_size
    sw, sh, sd = rec.stride
    qw, qh, qd = rec.padding
    fill = -np.inf if rec.pool_type == "MAX" else np.nan
    xp = np.pad(x, ((0, 0), (qd, qd), (qh, qh), (qw, qw)), constant_values=fill)
    od = (d + 2 * qd - pd) // sd + 1
    oh = (h + 2 * qh - ph) // sh + 1
    ow = (w + 2 * qw - pw) // sw + 1
    out = np.empty((c, od, oh, ow))
    for z in range(od):
        for y in range(oh):
            for xx in range(ow):
                win = xp[:, z * sd : z * sd + pd, y * sh : y * sh + ph, xx * sw : xx * sw + pw].reshape(c, -1)
                # Padded positions are skipped, as CIANNA does.
                out[:, z, y, xx] = win.max(1) if rec.pool_type == "MAX" else np.nanmean(win, 1)
    return out


def group_norm(x, rec):
    c = x.shape[0]
    out = x.copy()
    groups = -(-c // rec.group_size)
    for g in range(groups - rec.set_off):
        sl = slice(g * rec.group_size, min(c, (g + 1) * rec.group_size))
        m, v = x[sl].mean(), x[sl].var()
        out[sl] = rec.gamma[g] * (x[sl] - m) / np.sqrt(v + 1e-3) + rec.beta[g]
    return out


def _drop(x, rate):
    # CIANNA's inference-time dropout: a (1 - rate) scale, before the activation.
    return x * (1.0 - np.float32(rate)) if rate > 0.01 else x


def forward(dat, image_hwc):
    """CIANNA's output for one channels-last image (already normalised)."""
    x = np.moveaxis(np.asarray(image_hwc, np.float64), -1, 0)
    w_, h_, d_, c_ = dat.header
    x = x.reshape(c_, d_, h_, w_)
    prev = None
    for rec in dat.records:
        if rec.kind == "C":
            x = conv(x, rec)
            x = activation(_drop(x, rec.dropout), rec.activation, True)
        elif rec.kind == "P":
            x = activation(pool(x, rec), rec.activation, True)
        elif rec.kind == "N":
            x = activation(group_norm(x, rec), rec.activation, True)
        else:
            w = rec.weights.astype(np.float64)
            if x.ndim > 1:
                inp = np.concatenate([x.reshape(-1), [np.float32(rec.bias_value)]])
            else:
                # The previous dense layer's bias neuron, zeroed by its activation.
                inp = np.concatenate([x, [0.0 if prev.activation.split("_")[0] != "LIN" else np.nan]])
            x = inp @ w[:, :-1]
            x = activation(_drop(x, rec.dropout), rec.activation, False)
        prev = rec
    return x
