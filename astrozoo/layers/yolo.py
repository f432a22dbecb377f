"""CIANNA's YOLO output activations as a Keras layer.

The last convolution of a CIANNA detector has ``nb_box * (8 + nb_class + nb_param)``
filters. Per box the channels are ordered as in CIANNA::

    [x, y, z, w, h, d, probability, objectness, classes..., params...]

:class:`YoloHead` reshapes that map to ``(batch, H, W, nb_box, 8 + C + P)`` and
applies CIANNA's activations slot by slot. The z and d slots are *kept* (so the
raw channel layout stays that of a CIANNA ``.dat`` file) but, as CIANNA does for
the dimensions ``>= fit_dim``, they are fixed: z to 0.5 and d to 0.

The layer outputs activated values, not pixels: ``x, y`` are the sigmoid offsets
inside the cell and ``w, h`` the clipped log-scale ``t`` with ``size = prior *
exp(t)``. :func:`decode_boxes` turns them into pixel boxes; the loss and the
decoder both use it.
"""

import keras
from keras import ops

PARTS = ("position", "size", "probability", "objectness", "classes", "parameters")
# CIANNA's defaults, one [slope, fmax, fmin] per part (src/activ_functions.c set_yolo_params).
DEFAULT_SLOPES_AND_MAXES = (
    (1.0, 6.0, -6.0),
    (1.0, 1.6, -1.6),
    (1.0, 6.0, -6.0),
    (1.0, 6.0, -6.0),
    (1.0, 6.0, -6.0),
    (1.0, 1.2, -0.2),
)


def _straight_through_clip(x, lo, hi):
    # CIANNA clips in the forward pass but its error terms do not test the clip,
    # so the gradient passes through unchanged (a clipped box can still move back).
    return x + ops.stop_gradient(ops.clip(x, lo, hi) - x)


def normalize_priors(priors):
    """Priors as a tuple of ``(w, h)`` pixel pairs; accepts ``[[w, h], ...]`` or CIANNA's ``[ws, hs]``."""
    try:
        rows = [tuple(float(v) for v in p) for p in priors]
    except TypeError:
        raise ValueError(f"`priors` should be a list of (w, h) pairs in pixels. Received: priors={priors!r}") from None
    if not rows:
        raise ValueError("`priors` must hold at least one (w, h) pair.")
    if all(len(r) == 2 for r in rows):
        out = rows
    elif len(rows) == 2 and len(rows[0]) == len(rows[1]):
        out = list(zip(rows[0], rows[1]))  # CIANNA's vstack(w, h) layout
    else:
        raise ValueError(f"`priors` should be a list of (w, h) pairs in pixels. Received: priors={priors!r}")
    if any(v <= 0 for r in out for v in r):
        raise ValueError(f"Every prior width and height must be > 0 pixels. Received: priors={priors!r}")
    return tuple(out)


def normalize_slopes(slopes_and_maxes):
    if slopes_and_maxes is None:
        return DEFAULT_SLOPES_AND_MAXES
    if isinstance(slopes_and_maxes, dict):
        unknown = set(slopes_and_maxes) - set(PARTS)
        if unknown:
            raise ValueError(f"Unknown part(s) {sorted(unknown)} in `slopes_and_maxes`; expected keys among {PARTS}.")
        rows = [tuple(slopes_and_maxes.get(p, d)) for p, d in zip(PARTS, DEFAULT_SLOPES_AND_MAXES)]
    else:
        rows = [tuple(r) for r in slopes_and_maxes]
    if len(rows) != 6 or any(len(r) != 3 for r in rows):
        raise ValueError(
            "`slopes_and_maxes` should be 6 rows of [slope, fmax, fmin] (position, size, probability, "
            f"objectness, classes, parameters). Received: {slopes_and_maxes!r}"
        )
    for name, (slope, fmax, fmin) in zip(PARTS, rows):
        if fmax <= fmin:
            raise ValueError(f"{name}: fmax must be > fmin. Received: [{slope}, {fmax}, {fmin}]")
    return tuple(tuple(float(v) for v in r) for r in rows)


@keras.saving.register_keras_serializable(package="astrozoo")
class YoloHead(keras.layers.Layer):
    """CIANNA's "YOLO" activation on the last convolution of a detector.

    Args:
        nb_box: number of boxes (priors) per grid cell.
        nb_class: number of classes (0 allowed: detection only).
        nb_param: number of extra regression parameters per box (e.g. flux,
            axes and position angle of radio sources).
        priors: ``nb_box`` pairs ``(w, h)`` in pixels (or CIANNA's ``[ws, hs]``).
        cell_size: pixels per grid cell (the network stride; CIANNA's
            ``input / grid``), used to decode boxes.
        slopes_and_maxes: 6 rows ``[slope, fmax, fmin]`` for position, size,
            probability, objectness, classes and parameters (CIANNA's defaults
            when None), or a dict of some of these parts.
        class_softmax: softmax over the classes (CIANNA ``class_softmax=1``);
            otherwise independent sigmoids.

    Input ``(batch, H, W, nb_box * (8 + nb_class + nb_param))``; output
    ``(batch, H, W, nb_box, 8 + nb_class + nb_param)`` in float32.
    """

    def __init__(
        self,
        nb_box,
        nb_class,
        nb_param=0,
        priors=None,
        cell_size=32,
        slopes_and_maxes=None,
        class_softmax=False,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        for label, value, low in (("nb_box", nb_box, 1), ("nb_class", nb_class, 0), ("nb_param", nb_param, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"`{label}` should be an integer >= {low}. Received: {label}={value!r}")
        if priors is None:
            raise ValueError("`priors` is required: nb_box (w, h) pairs in pixels.")
        self.priors = normalize_priors(priors)
        if len(self.priors) != nb_box:
            raise ValueError(f"`priors` holds {len(self.priors)} pairs but nb_box={nb_box}.")
        if not (cell_size > 0):
            raise ValueError(f"`cell_size` should be > 0 pixels. Received: cell_size={cell_size!r}")
        self.nb_box = nb_box
        self.nb_class = nb_class
        self.nb_param = nb_param
        self.cell_size = float(cell_size)
        self.slopes_and_maxes = normalize_slopes(slopes_and_maxes)
        self.class_softmax = bool(class_softmax)

    @property
    def box_channels(self):
        return 8 + self.nb_class + self.nb_param

    @property
    def filters(self):
        """Filters of the convolution that feeds this layer (CIANNA's ``set_yolo_params`` value)."""
        return self.nb_box * self.box_channels

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.filters:
            raise ValueError(
                f"YoloHead expects {self.filters} input channels (nb_box*(8+nb_class+nb_param) = "
                f"{self.nb_box}*(8+{self.nb_class}+{self.nb_param})). Received input_shape={input_shape}"
            )

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], shape[2], self.nb_box, self.box_channels))
        sm = self.slopes_and_maxes

        def sig(part, t):
            slope, fmax, fmin = sm[part]
            return ops.sigmoid(_straight_through_clip(slope * t, fmin, fmax))

        def lin(part, t):
            slope, fmax, fmin = sm[part]
            return _straight_through_clip(slope * t, fmin, fmax)

        xy = sig(0, x[..., 0:2])
        z = ops.zeros_like(x[..., 2:3]) + 0.5
        wh = lin(1, x[..., 3:5])
        d = ops.zeros_like(x[..., 5:6])
        prob = sig(2, x[..., 6:7])
        obj = sig(3, x[..., 7:8])
        parts = [xy, z, wh, d, prob, obj]
        c0, c1 = 8, 8 + self.nb_class
        if self.nb_class:
            slope, fmax, fmin = sm[4]
            logits = _straight_through_clip(slope * x[..., c0:c1], fmin, fmax)
            parts.append(ops.softmax(logits, axis=-1) if self.class_softmax else ops.sigmoid(logits))
        if self.nb_param:
            parts.append(lin(5, x[..., c1:]))
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (self.nb_box, self.box_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            nb_box=self.nb_box,
            nb_class=self.nb_class,
            nb_param=self.nb_param,
            priors=[list(p) for p in self.priors],
            cell_size=self.cell_size,
            slopes_and_maxes=[list(r) for r in self.slopes_and_maxes],
            class_softmax=self.class_softmax,
        )
        return config


def grid_offsets(y_pred):
    """``(1, H, W, 1, 2)`` float32 (column, row) index of every cell of ``y_pred``."""
    shape = ops.shape(y_pred)
    h, w = shape[1], shape[2]
    cols = ops.cast(ops.arange(w), "float32")
    rows = ops.cast(ops.arange(h), "float32")
    cx = ops.broadcast_to(cols[None, :], (h, w))
    cy = ops.broadcast_to(rows[:, None], (h, w))
    return ops.reshape(ops.stack([cx, cy], axis=-1), (1, h, w, 1, 2))


def decode_boxes(y_pred, priors, cell_size):
    """Pixel ``xyxy`` boxes ``(batch, H, W, nb_box, 4)`` of a :class:`YoloHead` output."""
    priors = ops.convert_to_tensor([list(p) for p in priors], dtype="float32")
    center = (y_pred[..., 0:2] + grid_offsets(y_pred)) * cell_size
    size = priors * ops.exp(y_pred[..., 3:5])
    return ops.concatenate([center - 0.5 * size, center + 0.5 * size], axis=-1)
