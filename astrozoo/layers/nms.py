"""Decoding of CIANNA YOLO outputs and class-aware greedy NMS, in ``keras.ops``.

:class:`YoloDecoder` is the ``prediction_decoder`` of
:class:`astrozoo.applications.YoloCianna`: it keeps the boxes above the
objectness threshold, scores them by objectness x class probability and runs
CIANNA's greedy NMS (``examples/PASCAL/aux_fct.py``): a box is dropped when its
IoU (or DIoU) with a better kept box exceeds ``iou_threshold`` within the same
class, or ``cross_class_iou_threshold`` across classes.
"""

import keras
from keras import ops

from astrozoo.layers.yolo import decode_boxes, normalize_priors
from astrozoo.losses.yolo import box_iou


def greedy_nms_mask(boxes, scores, classes, valid, iou_threshold=0.4, cross_class_iou_threshold=0.95,
                    iou_type="DIoU"):
    """Keep-mask ``(B, K)`` of class-aware greedy NMS on score-sorted candidates.

    Args:
        boxes: ``(B, K, 4)`` xyxy, sorted by decreasing score.
        scores: ``(B, K)`` (only used for ties in the order given).
        classes: ``(B, K)`` int class of each box.
        valid: ``(B, K)`` bool, candidates that passed the thresholds.
        iou_threshold: suppression threshold within a class.
        cross_class_iou_threshold: suppression threshold across classes
            (``>= 1`` disables cross-class suppression).
        iou_type: "IoU" or "DIoU" (CIANNA) or "GIoU".
    """
    del scores
    k = ops.shape(boxes)[1]
    overlap = box_iou(ops.expand_dims(boxes, 2), ops.expand_dims(boxes, 1), iou_type)  # (B, K, K)
    same = ops.expand_dims(classes, 2) == ops.expand_dims(classes, 1)
    thr = ops.where(same, iou_threshold, cross_class_iou_threshold)
    idx = ops.arange(k)
    earlier = ops.expand_dims(idx, 1) < ops.expand_dims(idx, 0)  # j (row) before i (column)
    suppresses = ops.logical_and(overlap > thr, earlier)  # (B, j, i): j would remove i
    suppresses = ops.cast(suppresses, "float32")

    def body(i, keep):
        col = ops.take(suppresses, i, axis=2)  # (B, K): which j remove box i
        removed = ops.sum(col * keep, axis=1) > 0.5
        keep_i = ops.logical_and(ops.take(valid, i, axis=1), ops.logical_not(removed))
        onehot = ops.cast(ops.equal(idx, i), "float32")
        return keep + ops.expand_dims(ops.cast(keep_i, "float32"), 1) * onehot

    keep = ops.fori_loop(0, k, body, ops.zeros(ops.shape(valid), dtype="float32"))
    return keep > 0.5


@keras.saving.register_keras_serializable(package="astrozoo")
class YoloDecoder(keras.layers.Layer):
    """Decode a :class:`YoloHead` output into padded detections, with CIANNA's NMS.

    Args:
        priors: the head's ``(w, h)`` priors in pixels.
        cell_size: pixels per grid cell.
        nb_class, nb_param: as in the head.
        objectness_threshold: keep boxes with objectness >= this (CIANNA: 0.03
            for mAP, 0.45 for display).
        score_threshold: keep boxes with objectness x class probability >= this (0.01).
        class_threshold: keep boxes whose best class probability exceeds this (0.3).
        iou_threshold: NMS threshold within a class (0.4).
        cross_class_iou_threshold: NMS threshold across classes (0.95).
        iou_type: "DIoU" (CIANNA) or "IoU".
        max_detections: padded length of the outputs.
        pre_nms_topk: best-scored candidates per image that enter the NMS.
        clip_boxes: clip the boxes to the image (grid x cell size).

    Returns a dict: ``boxes`` ``(B, max_detections, 4)`` xyxy pixels, ``scores``,
    ``classes`` (int32), ``objectness``, ``num_detections`` ``(B,)`` and, with
    parameters, ``params``; padding rows are -1.
    """

    def __init__(
        self,
        priors,
        cell_size=32,
        nb_class=0,
        nb_param=0,
        objectness_threshold=0.03,
        score_threshold=0.01,
        class_threshold=0.3,
        iou_threshold=0.4,
        cross_class_iou_threshold=0.95,
        iou_type="DIoU",
        max_detections=100,
        pre_nms_topk=300,
        clip_boxes=True,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.priors = normalize_priors(priors)
        if iou_type not in ("IoU", "GIoU", "DIoU"):
            raise ValueError(f"`iou_type` should be 'IoU', 'GIoU' or 'DIoU'. Received: iou_type={iou_type!r}")
        for label, value in (("max_detections", max_detections), ("pre_nms_topk", pre_nms_topk)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{label}` should be a positive integer. Received: {label}={value!r}")
        self.cell_size = float(cell_size)
        self.nb_class = int(nb_class)
        self.nb_param = int(nb_param)
        self.objectness_threshold = float(objectness_threshold)
        self.score_threshold = float(score_threshold)
        self.class_threshold = float(class_threshold)
        self.iou_threshold = float(iou_threshold)
        self.cross_class_iou_threshold = float(cross_class_iou_threshold)
        self.iou_type = iou_type
        self.max_detections = max_detections
        self.pre_nms_topk = pre_nms_topk
        self.clip_boxes = bool(clip_boxes)

    def call(self, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        shape = ops.shape(y_pred)
        b, h, w, nb_box = shape[0], shape[1], shape[2], shape[3]
        boxes = decode_boxes(y_pred, self.priors, self.cell_size)
        if self.clip_boxes:
            wmax = ops.cast(w, "float32") * self.cell_size
            hmax = ops.cast(h, "float32") * self.cell_size
            limit = ops.stack([wmax, hmax, wmax, hmax])
            boxes = ops.minimum(ops.maximum(boxes, 0.0), limit)
        n = h * w * nb_box
        boxes = ops.reshape(boxes, (b, n, 4))
        flat = ops.reshape(y_pred, (b, n, ops.shape(y_pred)[-1]))
        obj = flat[..., 7]
        if self.nb_class:
            probs = flat[..., 8:8 + self.nb_class]
            max_p = ops.max(probs, axis=-1)
            cls = ops.cast(ops.argmax(probs, axis=-1), "int32")
        else:
            max_p = ops.ones_like(obj)
            cls = ops.zeros_like(obj, dtype="int32")
        score = obj * max_p
        valid = (obj >= self.objectness_threshold) & (score >= self.score_threshold)
        if self.nb_class:
            valid = valid & (max_p > self.class_threshold)
        ranked = ops.where(valid, score, -1.0)
        k = min(self.pre_nms_topk, int(n)) if isinstance(n, int) else self.pre_nms_topk
        top_scores, top_idx = ops.top_k(ranked, k=k, sorted=True)
        take = lambda t: ops.take_along_axis(t, top_idx, axis=1)  # noqa: E731
        c_boxes = ops.take_along_axis(boxes, ops.expand_dims(top_idx, -1), axis=1)
        c_cls = take(cls)
        c_obj = take(obj)
        c_valid = top_scores >= 0.0
        keep = greedy_nms_mask(c_boxes, top_scores, c_cls, c_valid, self.iou_threshold,
                               self.cross_class_iou_threshold, self.iou_type)
        kept_scores = ops.where(keep, top_scores, -1.0)
        m = min(self.max_detections, k)
        out_scores, order = ops.top_k(kept_scores, k=m, sorted=True)
        ok = out_scores >= 0.0
        okf = ops.expand_dims(ok, -1)
        pad = self.max_detections - m
        out = {
            "boxes": ops.where(okf, ops.take_along_axis(c_boxes, ops.expand_dims(order, -1), axis=1), -1.0),
            "scores": ops.where(ok, out_scores, -1.0),
            "classes": ops.where(ok, ops.take_along_axis(c_cls, order, axis=1), -1),
            "objectness": ops.where(ok, ops.take_along_axis(c_obj, order, axis=1), -1.0),
        }
        if self.nb_param:
            params = ops.take_along_axis(flat[..., 8 + self.nb_class:], ops.expand_dims(top_idx, -1), axis=1)
            out["params"] = ops.where(okf, ops.take_along_axis(params, ops.expand_dims(order, -1), axis=1), -1.0)
        if pad > 0:
            for key, value in out.items():
                widths = [(0, 0), (0, pad)] + [(0, 0)] * (len(value.shape) - 2)
                out[key] = ops.pad(value, widths, constant_values=-1)
        out["num_detections"] = ops.sum(ops.cast(ok, "int32"), axis=1)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            priors=[list(p) for p in self.priors],
            cell_size=self.cell_size,
            nb_class=self.nb_class,
            nb_param=self.nb_param,
            objectness_threshold=self.objectness_threshold,
            score_threshold=self.score_threshold,
            class_threshold=self.class_threshold,
            iou_threshold=self.iou_threshold,
            cross_class_iou_threshold=self.cross_class_iou_threshold,
            iou_type=self.iou_type,
            max_detections=self.max_detections,
            pre_nms_topk=self.pre_nms_topk,
            clip_boxes=self.clip_boxes,
        )
        return config
