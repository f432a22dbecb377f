"""CIANNA's YOLO association and loss, vectorised in ``keras.ops``.

The targets are the padded dictionaries of :mod:`astrozoo.datasets`:
``{"boxes": (B, M, 4) xyxy pixels, "classes": (B, M) int, "params": (B, M, P)}``
with rows of ``-1`` as padding. Users never pack CIANNA's flat target vectors.

Association (CIANNA ``YOLO_deriv_error_fct``), all on tensors, with no Python
loop over images or boxes (only over the ``nb_box`` greedy rounds):

1. a target belongs to the cell that contains its centre;
2. every predicted box whose IoU with any target of the image exceeds
   ``good_IoU_lim`` is *locked*: it gets no no-object penalty;
3. the candidate boxes of a target are all the boxes of its cell, or only those
   whose prior is among the ``strict_box_size`` nearest (``prior_dist_type``
   "SIZE", "OFFSET" or "IoU");
4. greedy matching inside each cell: the (target, free candidate box) pair of
   highest IoU first, then the next, ... Overrides of the winning target's box:
   the smallest prior when the target is smaller than
   ``min_prior_forced_scaling`` times it in every dimension; else the closest
   prior when the best IoU is below ``low_IoU_best_box_assoc``.

Loss (0.5 * scale * (output - target)^2 summed, CIANNA's "natural" error; the
class term is a cross-entropy with a softmax): position, size, probability (to
0.98), objectness (to ``(1 + min(IoU, 0.98)) / 2``), classes (softmax CE, or
sigmoid MSE to 0.98/0.02) and parameters for the associated boxes, each only
above its IoU limit; probability and objectness to 0.02 weighted by
``prior_noobj_prob`` for the boxes that are neither associated nor locked.

Not implemented (yet): CIANNA's random start-up association (``rand_startup``),
the random overrides (``rand_prob``, ``rand_prob_best_box_assoc``) and the
"difficult" object levels (``diff_flag``).
"""

import keras
from keras import ops

from astrozoo.layers.yolo import DEFAULT_SLOPES_AND_MAXES, decode_boxes, normalize_priors

IOU_TYPES = ("IoU", "GIoU", "DIoU")
PRIOR_DIST_TYPES = ("SIZE", "OFFSET", "IoU")
LIMIT_NAMES = ("good_IoU_lim", "low_IoU_best_box_assoc", "min_prob_IoU_lim", "min_obj_IoU_lim",
               "min_class_IoU_lim", "min_param_IoU_lim", "diff_IoU_lim", "diff_obj_lim")
DEFAULT_IOU_LIMITS = {
    "GIoU": (0.4, -0.5, -1.0, -1.0, -0.3, -0.3, 0.4, 0.2),
    "IoU": (0.5, 0.1, 0.0, 0.0, 0.2, 0.2, 0.5, 0.3),
    "DIoU": (0.3, -0.6, -1.0, -1.0, -0.5, -0.5, 0.3, 0.1),
}
SCALE_NAMES = ("position", "size", "probability", "objectness", "classes", "parameters")
NEG_INF = -1e9


# ----------------------------------------------------------------------------- IoU family
def box_iou(a, b, iou_type="IoU"):
    """Element-wise (broadcast) IoU, GIoU or DIoU of ``xyxy`` boxes ``a[..., 4]`` and ``b[..., 4]``.

    ``keras.utils.bounding_boxes.compute_iou`` gives the pairwise plain IoU; the
    association needs GIoU/DIoU and arbitrary broadcasting, hence this helper.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"`iou_type` should be one of {IOU_TYPES}. Received: iou_type={iou_type!r}")
    ax1, ay1, ax2, ay2 = [a[..., i] for i in range(4)]
    bx1, by1, bx2, by2 = [b[..., i] for i in range(4)]
    iw = ops.maximum(ops.minimum(ax2, bx2) - ops.maximum(ax1, bx1), 0.0)
    ih = ops.maximum(ops.minimum(ay2, by2) - ops.maximum(ay1, by1), 0.0)
    inter = iw * ih
    area_a = ops.maximum(ax2 - ax1, 0.0) * ops.maximum(ay2 - ay1, 0.0)
    area_b = ops.maximum(bx2 - bx1, 0.0) * ops.maximum(by2 - by1, 0.0)
    union = area_a + area_b - inter
    iou = inter / ops.maximum(union, 1e-9)
    if iou_type == "IoU":
        return iou
    ex1, ey1 = ops.minimum(ax1, bx1), ops.minimum(ay1, by1)
    ex2, ey2 = ops.maximum(ax2, bx2), ops.maximum(ay2, by2)
    if iou_type == "GIoU":
        enclose = (ex2 - ex1) * (ey2 - ey1)
        return iou - (enclose - union) / ops.maximum(enclose, 1e-9)
    diag = ops.square(ex2 - ex1) + ops.square(ey2 - ey1)
    dist = ops.square(0.5 * (ax1 + ax2 - bx1 - bx2)) + ops.square(0.5 * (ay1 + ay2 - by1 - by2))
    return iou - dist / ops.maximum(diag, 1e-9)


def prior_distance(target_wh, priors, kind="SIZE", size_clip=(-1.6, 1.6)):
    """Distance ``(..., nb_box)`` between target sizes ``(..., 2)`` and priors ``(nb_box, 2)``.

    "SIZE": Euclidean distance of (w, h); "OFFSET": sum of ``|log(target / prior)|``
    with the log clipped like the size output; "IoU": ``1 - IoU`` of centred boxes.
    """
    p = ops.convert_to_tensor([list(q) for q in priors], dtype="float32")
    t = ops.expand_dims(target_wh, -2)
    if kind == "SIZE":
        return ops.sqrt(ops.sum(ops.square(t - p), axis=-1))
    if kind == "OFFSET":
        ratio = ops.maximum(t, 1e-9) / p
        return ops.sum(ops.abs(ops.clip(ops.log(ratio), size_clip[0], size_clip[1])), axis=-1)
    if kind == "IoU":
        inter = ops.prod(ops.minimum(t, p), axis=-1)
        union = ops.prod(t, axis=-1) + ops.prod(p, axis=-1) - inter
        return 1.0 - inter / ops.maximum(union, 1e-9)
    raise ValueError(f"`prior_dist_type` should be one of {PRIOR_DIST_TYPES}. Received: {kind!r}")


def _valid_targets(boxes, classes):
    valid = ops.logical_and(boxes[..., 2] > boxes[..., 0], boxes[..., 3] > boxes[..., 1])
    # padding rows are all -1; real boxes may reach past the image border
    valid = ops.logical_and(valid, ops.logical_not(ops.all(ops.equal(boxes, -1.0), axis=-1)))
    if classes is not None:
        valid = ops.logical_and(valid, classes > -0.5)
    return valid


# ----------------------------------------------------------------------------- association
def associate(
    pred_boxes,
    true_boxes,
    valid,
    priors,
    cell_size,
    *,
    iou_type="GIoU",
    good_iou_lim=0.4,
    low_iou_best_box_assoc=-0.5,
    strict_box_size=0,
    prior_dist_type="SIZE",
    min_prior_forced_scaling=0.0,
    size_clip=(-1.6, 1.6),
):
    """CIANNA's target-to-box association on a batch (no Python loop over images or boxes).

    Args:
        pred_boxes: ``(B, H, W, A, 4)`` predicted ``xyxy`` pixel boxes (gradients are not used).
        true_boxes: ``(B, M, 4)`` target ``xyxy`` pixel boxes.
        valid: ``(B, M)`` bool, False for padding rows.
        priors: ``A`` pairs ``(w, h)`` in pixels.
        cell_size: pixels per grid cell.
        iou_type, good_iou_lim, low_iou_best_box_assoc, strict_box_size,
        prior_dist_type, min_prior_forced_scaling: CIANNA's settings.

    Returns:
        dict with ``cell`` ``(B, M)`` flat cell index ``row * W + col``,
        ``box`` ``(B, M)`` associated box index or -1, ``iou`` ``(B, M)`` the
        IoU (of ``iou_type``) of the associated prediction, ``locked``
        ``(B, H, W, A)`` the "good but not best" boxes, and ``candidates``
        ``(B, M, A)``.
    """
    priors = normalize_priors(priors)
    nb_box = len(priors)
    pred_boxes = ops.stop_gradient(ops.cast(pred_boxes, "float32"))
    true_boxes = ops.cast(true_boxes, "float32")
    shape = ops.shape(pred_boxes)
    b, h, w = shape[0], shape[1], shape[2]
    m = ops.shape(true_boxes)[1]

    # 1) cell of each target's centre (clipped so that a centre on the far border stays inside)
    center = 0.5 * (true_boxes[..., 0:2] + true_boxes[..., 2:4])
    col = ops.clip(ops.cast(ops.floor(center[..., 0] / cell_size), "int32"), 0, w - 1)
    row = ops.clip(ops.cast(ops.floor(center[..., 1] / cell_size), "int32"), 0, h - 1)
    cell = row * w + col

    # 2) "good but not best" locks: any box whose IoU with any target exceeds the limit
    flat = ops.reshape(pred_boxes, (b, h * w * nb_box, 1, 4))
    iou_all = box_iou(flat, ops.expand_dims(true_boxes, 1), iou_type)  # (B, G*A, M)
    iou_all = ops.where(ops.expand_dims(valid, 1), iou_all, NEG_INF)
    locked = ops.reshape(ops.max(iou_all, axis=-1) > good_iou_lim, (b, h, w, nb_box))

    # IoU of every target with the boxes of its own cell
    per_cell = ops.reshape(pred_boxes, (b, h * w, nb_box * 4))
    at_cell = ops.take_along_axis(per_cell, ops.expand_dims(cell, -1), axis=1)
    at_cell = ops.reshape(at_cell, (b, m, nb_box, 4))
    iou_tab = box_iou(at_cell, ops.expand_dims(true_boxes, 2), iou_type)  # (B, M, A)

    # 3) candidate priors
    twh = ops.maximum(true_boxes[..., 2:4] - true_boxes[..., 0:2], 1e-6)
    dist = prior_distance(twh, priors, prior_dist_type, size_clip)  # (B, M, A)
    if strict_box_size and strict_box_size < nb_box:
        closer = ops.sum(
            ops.cast(ops.expand_dims(dist, -1) < ops.expand_dims(dist, -2) - 1e-3, "int32"), axis=-2
        )  # number of priors strictly closer than each prior
        cand = closer < strict_box_size
    else:
        cand = ops.ones_like(dist) > 0
    cand = ops.logical_and(cand, ops.expand_dims(valid, -1))

    # override sets: the smallest prior (and identical ones), and the closest prior(s)
    norms = [sum(v * v for v in p) for p in priors]
    small = min(range(nb_box), key=lambda k: norms[k])
    small_set = ops.convert_to_tensor([p == priors[small] for p in priors], dtype="bool")
    if min_prior_forced_scaling and min_prior_forced_scaling > 0:
        pw, ph = priors[small]
        forced = ops.logical_and(
            twh[..., 0] < min_prior_forced_scaling * pw, twh[..., 1] < min_prior_forced_scaling * ph
        )
    else:
        forced = ops.zeros_like(valid)
    closest_set = ops.abs(dist - ops.min(dist, axis=-1, keepdims=True)) < 1e-3

    same_cell = ops.logical_and(
        ops.expand_dims(cell, 2) == ops.expand_dims(cell, 1),
        ops.logical_and(ops.expand_dims(valid, 2), ops.expand_dims(valid, 1)),
    )  # (B, M, M)
    same_cellf = ops.cast(same_cell, "float32")
    idx = ops.arange(m)
    lower_index = ops.expand_dims(idx, 1) < ops.expand_dims(idx, 0)  # (M, M): m < m'

    assigned = ops.zeros((b, m, nb_box), dtype="float32")  # one-hot of the chosen box
    open_t = valid
    for _ in range(nb_box):  # one assignment per occupied cell and round
        used = ops.einsum("bmn,bna->bma", same_cellf, assigned) > 0.5  # box taken in my cell
        free = ops.logical_not(used)
        score = ops.where(ops.logical_and(cand, free), iou_tab, NEG_INF)
        score = ops.where(ops.expand_dims(open_t, -1), score, NEG_INF)
        best = ops.max(score, axis=-1)
        best_box = ops.argmax(score, axis=-1)
        has = best > NEG_INF / 2
        # the winner of a cell beats every other open target of the cell (ties: lower index)
        s_m = ops.expand_dims(best, 2)
        s_n = ops.expand_dims(best, 1)
        beats = ops.logical_or(s_m > s_n, ops.logical_and(s_m == s_n, lower_index))
        beats = ops.logical_or(beats, ops.logical_not(same_cell))
        beats = ops.logical_or(beats, ops.eye(m, dtype="bool"))
        win = ops.logical_and(has, ops.all(beats, axis=2))

        def pick(mask):
            s = ops.where(ops.logical_and(mask, free), iou_tab, NEG_INF)
            return ops.max(s, axis=-1) > NEG_INF / 2, ops.argmax(s, axis=-1)

        ok_small, box_small = pick(ops.logical_and(ops.expand_dims(small_set, 0), ops.ones_like(cand)))
        ok_close, box_close = pick(closest_set)
        use_small = ops.logical_and(forced, ok_small)
        use_close = ops.logical_and(
            ops.logical_and(ops.logical_not(forced), best < low_iou_best_box_assoc), ok_close
        )
        chosen = ops.where(use_small, box_small, ops.where(use_close, box_close, best_box))
        onehot = ops.one_hot(chosen, nb_box, dtype="float32") * ops.expand_dims(ops.cast(win, "float32"), -1)
        assigned = assigned + onehot
        open_t = ops.logical_and(open_t, ops.logical_not(win))

    has_box = ops.logical_and(ops.sum(assigned, axis=-1) > 0.5, valid)
    box = ops.where(has_box, ops.argmax(assigned, axis=-1), -1)
    iou = ops.sum(iou_tab * assigned, axis=-1)
    return {"cell": cell, "box": box, "iou": iou, "locked": locked, "candidates": cand}


# ----------------------------------------------------------------------------- loss
def _part_values(value, names, label):
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"Unknown key(s) {sorted(unknown)} in `{label}`; expected keys among {names}.")
        return value
    value = tuple(value)
    if len(value) != len(names):
        raise ValueError(f"`{label}` should have {len(names)} values {names}. Received: {value!r}")
    return dict(zip(names, value))


@keras.saving.register_keras_serializable(package="astrozoo")
class YoloLoss(keras.losses.Loss):
    """CIANNA's YOLO loss on the padded ``{"boxes", "classes", "params"}`` targets.

    ``y_pred`` is the output of :class:`astrozoo.layers.YoloHead`
    ``(B, H, W, nb_box, 8 + C + P)``. The loss of an image is the sum of its
    terms; the batch reduction is Keras' (mean over images by default).

    Args:
        priors: ``nb_box`` pairs ``(w, h)`` in pixels (the head's priors).
        num_classes, num_params: as in the head.
        cell_size: pixels per grid cell (the network stride).
        prior_noobj_prob: per-prior weight of the no-object terms (default 0.2 each).
        error_scales: ``[position, size, probability, objectness, classes,
            parameters]`` (list or dict); CIANNA default ``[2, 2, 1, 2, 1, 1]``.
        param_ind_scales: per-parameter scales (default 1).
        iou_type: "IoU", "GIoU" (CIANNA default) or "DIoU".
        iou_limits: CIANNA's 8 limits (list or dict by name: ``good_IoU_lim``,
            ``low_IoU_best_box_assoc``, ``min_prob_IoU_lim``, ``min_obj_IoU_lim``,
            ``min_class_IoU_lim``, ``min_param_IoU_lim``, ``diff_IoU_lim``,
            ``diff_obj_lim``); missing ones take the ``iou_type`` defaults.
        fit_parts: per part 1 (fit), 0 (pull to the neutral value) or -1 (off).
        prior_dist_type, strict_box_size, min_prior_forced_scaling: association.
        class_softmax: softmax cross-entropy classes (else sigmoid MSE to 0.98/0.02).
        size_clip: ``(fmin, fmax)`` of the size output (target log-sizes are clipped to it).
    """

    def __init__(
        self,
        priors,
        num_classes,
        num_params=0,
        cell_size=32,
        prior_noobj_prob=None,
        error_scales=(2.0, 2.0, 1.0, 2.0, 1.0, 1.0),
        param_ind_scales=None,
        iou_type="GIoU",
        iou_limits=None,
        fit_parts=(1, 1, 1, 1, 1, 1),
        prior_dist_type="SIZE",
        strict_box_size=0,
        min_prior_forced_scaling=0.0,
        class_softmax=False,
        size_clip=(DEFAULT_SLOPES_AND_MAXES[1][2], DEFAULT_SLOPES_AND_MAXES[1][1]),
        reduction="sum_over_batch_size",
        name="yolo_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.priors = normalize_priors(priors)
        nb_box = len(self.priors)
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"`num_classes` should be an integer >= 0. Received: {num_classes!r}")
        if not isinstance(num_params, int) or num_params < 0:
            raise ValueError(f"`num_params` should be an integer >= 0. Received: {num_params!r}")
        if iou_type not in IOU_TYPES:
            raise ValueError(f"`iou_type` should be one of {IOU_TYPES}. Received: iou_type={iou_type!r}")
        if prior_dist_type not in PRIOR_DIST_TYPES:
            raise ValueError(
                f"`prior_dist_type` should be one of {PRIOR_DIST_TYPES}. Received: {prior_dist_type!r}"
            )
        self.num_classes = num_classes
        self.num_params = num_params
        self.cell_size = float(cell_size)
        if prior_noobj_prob is None:
            prior_noobj_prob = [0.2] * nb_box
        prior_noobj_prob = [float(v) for v in prior_noobj_prob]
        if len(prior_noobj_prob) != nb_box:
            raise ValueError(f"`prior_noobj_prob` needs {nb_box} values (one per prior). Received: {prior_noobj_prob}")
        self.prior_noobj_prob = prior_noobj_prob
        scales = dict(zip(SCALE_NAMES, (2.0, 2.0, 1.0, 2.0, 1.0, 1.0)))
        scales.update(_part_values(error_scales, SCALE_NAMES, "error_scales"))
        self.error_scales = [float(scales[k]) for k in SCALE_NAMES]
        if param_ind_scales is None:
            param_ind_scales = [1.0] * num_params
        param_ind_scales = [float(v) for v in param_ind_scales]
        if len(param_ind_scales) != num_params:
            raise ValueError(f"`param_ind_scales` needs {num_params} values. Received: {param_ind_scales}")
        self.param_ind_scales = param_ind_scales
        self.iou_type = iou_type
        limits = dict(zip(LIMIT_NAMES, DEFAULT_IOU_LIMITS[iou_type]))
        if iou_limits is not None:
            limits.update(_part_values(iou_limits, LIMIT_NAMES, "iou_limits"))
        self.iou_limits = [float(limits[k]) for k in LIMIT_NAMES]
        fit = dict(zip(SCALE_NAMES, (1,) * 6))
        fit.update(_part_values(fit_parts, SCALE_NAMES, "fit_parts"))
        if any(v not in (-1, 0, 1) for v in fit.values()):
            raise ValueError(f"`fit_parts` values must be 1, 0 or -1. Received: {fit_parts!r}")
        self.fit_parts = [int(fit[k]) for k in SCALE_NAMES]
        self.prior_dist_type = prior_dist_type
        if not isinstance(strict_box_size, int) or strict_box_size < 0:
            raise ValueError(f"`strict_box_size` should be an integer >= 0. Received: {strict_box_size!r}")
        self.strict_box_size = strict_box_size
        self.min_prior_forced_scaling = float(min_prior_forced_scaling)
        self.class_softmax = bool(class_softmax)
        self.size_clip = (float(size_clip[0]), float(size_clip[1]))

    @classmethod
    def from_head(cls, head, preset=None, **overrides):
        """A loss that matches a :class:`YoloHead` (priors, classes, params, cell size, softmax, size clip).

        ``preset`` ("cianna_default" or "cianna_voc") fills the other settings.
        """
        settings = dict(PRESETS[preset]) if preset else {}
        settings.update(
            priors=head.priors,
            num_classes=head.nb_class,
            num_params=head.nb_param,
            cell_size=head.cell_size,
            class_softmax=head.class_softmax,
            size_clip=(head.slopes_and_maxes[1][2], head.slopes_and_maxes[1][1]),
        )
        if preset == "cianna_voc" and len(head.priors) != 5:
            settings["prior_noobj_prob"] = [0.1] * len(head.priors)
        settings.update(overrides)
        return cls(**settings)

    def _targets(self, y_true):
        if not isinstance(y_true, dict) or "boxes" not in y_true:
            raise ValueError(
                "YoloLoss expects y_true as a dict with 'boxes' (B, M, 4) xyxy pixels, 'classes' (B, M) "
                f"and, with num_params > 0, 'params' (B, M, P), padded with -1. Received: {type(y_true).__name__}"
            )
        boxes = ops.cast(y_true["boxes"], "float32")
        classes = y_true.get("classes")
        classes = None if classes is None else ops.cast(classes, "float32")
        if self.num_classes and classes is None:
            raise ValueError(f"num_classes={self.num_classes} but y_true has no 'classes'.")
        params = y_true.get("params")
        if self.num_params:
            if params is None:
                raise ValueError(f"num_params={self.num_params} but y_true has no 'params'.")
            params = ops.cast(params, "float32")
        return boxes, classes, params

    def association(self, y_true, y_pred):
        """The association of :func:`associate` for these targets and predictions."""
        boxes, classes, _ = self._targets(y_true)
        valid = _valid_targets(boxes, classes)
        pred_boxes = decode_boxes(y_pred, self.priors, self.cell_size)
        good, low = self.iou_limits[0], self.iou_limits[1]
        return associate(
            pred_boxes, boxes, valid, self.priors, self.cell_size,
            iou_type=self.iou_type, good_iou_lim=good, low_iou_best_box_assoc=low,
            strict_box_size=self.strict_box_size, prior_dist_type=self.prior_dist_type,
            min_prior_forced_scaling=self.min_prior_forced_scaling, size_clip=self.size_clip,
        )

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        boxes, classes, params = self._targets(y_true)
        valid = _valid_targets(boxes, classes)
        shape = ops.shape(y_pred)
        b, h, w, nb_box, ch = shape[0], shape[1], shape[2], shape[3], shape[4]
        assoc = self.association(y_true, y_pred)
        box = assoc["box"]
        pos = box >= 0  # (B, M)
        posf = ops.cast(pos, "float32")
        flat_index = assoc["cell"] * nb_box + ops.maximum(box, 0)  # (B, M)

        # predictions of the associated boxes, gathered per target
        flat_pred = ops.reshape(y_pred, (b, h * w * nb_box, ch))
        p = ops.take_along_axis(flat_pred, ops.expand_dims(flat_index, -1), axis=1)  # (B, M, ch)
        s_pos, s_size, s_prob, s_obj, s_cls, s_par = self.error_scales
        f_pos, f_size, f_prob, f_obj, f_cls, f_par = self.fit_parts
        lim = dict(zip(LIMIT_NAMES, self.iou_limits))
        iou = ops.stop_gradient(ops.minimum(assoc["iou"], 0.98))

        def gate(fit, limit):
            if fit == -1:
                return ops.zeros_like(posf)
            if fit == 0:
                return posf
            return posf * ops.cast(iou > limit, "float32")

        center = 0.5 * (boxes[..., 0:2] + boxes[..., 2:4])
        cell_xy = ops.stack([ops.cast(assoc["cell"] % w, "float32"), ops.cast(assoc["cell"] // w, "float32")], -1)
        offset = center / self.cell_size - cell_xy
        twh = ops.maximum(boxes[..., 2:4] - boxes[..., 0:2], 1e-6)
        prior_t = ops.convert_to_tensor([list(q) for q in self.priors], dtype="float32")
        prior_wh = ops.take(prior_t, ops.maximum(box, 0), axis=0)  # (B, M, 2)
        log_size = ops.clip(ops.log(twh / prior_wh), self.size_clip[0], self.size_clip[1])

        terms = []
        if f_pos != -1:
            tgt = offset if f_pos == 1 else ops.full_like(offset, 0.5)
            terms.append(0.5 * s_pos * gate(f_pos, -2.0) * ops.sum(ops.square(p[..., 0:2] - tgt), -1))
        if f_size != -1:
            tgt = log_size if f_size == 1 else ops.zeros_like(log_size)
            terms.append(0.5 * s_size * gate(f_size, -2.0) * ops.sum(ops.square(p[..., 3:5] - tgt), -1))
        if f_prob != -1:
            tgt = 0.98 if f_prob == 1 else 0.5
            terms.append(0.5 * s_prob * gate(f_prob, lim["min_prob_IoU_lim"]) * ops.square(p[..., 6] - tgt))
        if f_obj != -1:
            tgt = 0.5 * (1.0 + iou) if f_obj == 1 else 0.5
            terms.append(0.5 * s_obj * gate(f_obj, lim["min_obj_IoU_lim"]) * ops.square(p[..., 7] - tgt))
        c0, c1 = 8, 8 + self.num_classes
        if self.num_classes and f_cls != -1:
            cls_idx = ops.cast(ops.maximum(classes, 0.0), "int32")
            onehot = ops.one_hot(cls_idx, self.num_classes, dtype="float32")
            probs = p[..., c0:c1]
            if f_cls == 0:
                err = 0.5 * ops.sum(ops.square(probs - 1.0 / max(self.num_classes, 1)), -1)
            elif self.class_softmax:
                err = -ops.sum(onehot * ops.log(ops.clip(probs, 1e-7, 1.0)), -1)
            else:
                err = 0.5 * ops.sum(ops.square(probs - (0.02 + 0.96 * onehot)), -1)
            terms.append(s_cls * gate(f_cls, lim["min_class_IoU_lim"]) * err)
        if self.num_params and f_par != -1:
            pis = ops.convert_to_tensor(self.param_ind_scales, dtype="float32")
            tgt = params if f_par == 1 else ops.full_like(params, 0.5)
            err = 0.5 * ops.sum(pis * ops.square(p[..., c1:] - tgt), -1)
            terms.append(s_par * gate(f_par, lim["min_param_IoU_lim"]) * err)
        pos_loss = ops.sum(sum(terms), axis=-1) if terms else ops.zeros((b,))

        # no-object terms on the boxes neither associated nor locked
        hit = ops.one_hot(flat_index, h * w * nb_box, dtype="float32") * ops.expand_dims(posf, -1)
        hit = ops.reshape(ops.max(hit, axis=1), (b, h, w, nb_box)) > 0.5  # (B, M, G*A) -> boxes
        background = ops.logical_not(ops.logical_or(hit, assoc["locked"]))
        noobj = ops.convert_to_tensor(self.prior_noobj_prob, dtype="float32")
        bgf = ops.cast(background, "float32") * noobj
        neg = ops.zeros_like(bgf)
        if f_prob != -1:
            neg = neg + 0.5 * s_prob * ops.square(y_pred[..., 6] - (0.02 if f_prob == 1 else 0.5))
        if f_obj != -1:
            neg = neg + 0.5 * s_obj * ops.square(y_pred[..., 7] - (0.02 if f_obj == 1 else 0.5))
        neg_loss = ops.sum(ops.reshape(bgf * neg, (b, -1)), axis=-1)
        return pos_loss + neg_loss

    def get_config(self):
        return {
            "name": self.name,
            "reduction": self.reduction,
            "dtype": None,
            "priors": [list(q) for q in self.priors],
            "num_classes": self.num_classes,
            "num_params": self.num_params,
            "cell_size": self.cell_size,
            "prior_noobj_prob": list(self.prior_noobj_prob),
            "error_scales": list(self.error_scales),
            "param_ind_scales": list(self.param_ind_scales),
            "iou_type": self.iou_type,
            "iou_limits": list(self.iou_limits),
            "fit_parts": list(self.fit_parts),
            "prior_dist_type": self.prior_dist_type,
            "strict_box_size": self.strict_box_size,
            "min_prior_forced_scaling": self.min_prior_forced_scaling,
            "class_softmax": self.class_softmax,
            "size_clip": list(self.size_clip),
        }


# CIANNA's defaults and the settings of its PASCAL VOC example (examples/PASCAL/pascal_train.py).
PRESETS = {
    "cianna_default": dict(
        error_scales=(2.0, 2.0, 1.0, 2.0, 1.0, 1.0),
        iou_type="GIoU",
        iou_limits=DEFAULT_IOU_LIMITS["GIoU"],
        prior_dist_type="SIZE",
        strict_box_size=0,
        min_prior_forced_scaling=0.0,
    ),
    "cianna_voc": dict(
        prior_noobj_prob=(0.05, 0.1, 0.1, 0.1, 0.1),
        error_scales=(12.0, 6.0, 0.5, 6.0, 0.4, 1.0),
        iou_type="DIoU",
        iou_limits=(0.5, -0.1, -1.0, -1.0, -0.1, -1.0, 0.5, 0.3),
        prior_dist_type="OFFSET",
        strict_box_size=3,
        min_prior_forced_scaling=1.2,
        class_softmax=True,
    ),
}


def cianna_default(priors, num_classes, **overrides):
    """:class:`YoloLoss` with CIANNA's default settings."""
    return YoloLoss(priors, num_classes, **{**PRESETS["cianna_default"], **overrides})


def cianna_voc(priors, num_classes, **overrides):
    """:class:`YoloLoss` with the settings of CIANNA's PASCAL VOC example (DIoU, OFFSET, 3 nearest priors)."""
    settings = dict(PRESETS["cianna_voc"])
    if len(normalize_priors(priors)) != 5:
        settings["prior_noobj_prob"] = [0.1] * len(normalize_priors(priors))
    return YoloLoss(priors, num_classes, **{**settings, **overrides})
