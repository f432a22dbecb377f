"""YOLO-CIANNA: the course's single-scale YOLO detector as a Keras model.

``model(x)`` returns the raw :class:`~astrozoo.layers.YoloHead` output
``(batch, H, W, nb_box, 8 + C + P)`` (what the loss consumes);
``model.predict(x)`` returns decoded, NMS-filtered, padded detections
(``boxes``, ``scores``, ``classes``, ``objectness``, ``num_detections``).
``model.fit`` trains on the padded ``{"boxes", "classes"}`` targets of
:mod:`astrozoo.datasets` with :class:`~astrozoo.losses.YoloLoss`.

CIANNA's detector (examples/PASCAL) keeps Darknet-19 up to its last 3x3-1024
convolution, then 3 x [GroupNorm, conv3x3-1024, leaky] + GroupNorm + conv1x1
``nb_box*(8+C+P)``, at 416 px (13x13 grid, 32 px cells). That is ~50 M
parameters and far beyond a 2-core CPU, so ``backbone="darknet_tiny"`` offers a
small stride-16 preset (5 conv stages 16..256 filters, ~1.6 M parameters with
its head) that trains on BCCD in minutes.
"""

import keras
from keras import ops

from astrozoo.applications import _utils
from astrozoo.applications.darknet19 import conv_unit, darknet19
from astrozoo.applications.registry import register_model
from astrozoo.layers.nms import YoloDecoder
from astrozoo.layers.yolo import YoloHead, normalize_priors
from astrozoo.losses.yolo import PRESETS, YoloLoss

# CIANNA's PASCAL VOC / COCO priors at 416 px (w, h).
VOC_PRIORS = ((32, 32), (92, 150), (150, 92), (208, 333), (333, 208))
BACKBONES = ("darknet19", "darknet_tiny")
# (filters, kernel) per conv; a max-pool follows each stage but the last one (stride 16).
TINY_STAGES = (
    ((16, 3),),
    ((32, 3),),
    ((64, 3),),
    ((128, 3), (64, 1), (128, 3)),
    ((256, 3), (128, 1), (256, 3)),
)


def darknet_tiny(input_shape=(320, 320, 3), width=1.0, norm="batch", activation="cianna", group_size=8,
                 name="darknet_tiny"):
    """A small Darknet-style backbone of stride 16 (a preset of :func:`yolo_cianna`).

    Args:
        input_shape: channels-last input shape (spatial sizes multiple of 16).
        width: multiplier of the filter counts.
        norm: "batch" (fastest on CPU), "group" (CIANNA's GroupNorm) or None.
        activation: "cianna" (leaky 0.05) or a Keras activation name.
        group_size: channels per group with ``norm="group"``.
        name: model name.
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for s, stage in enumerate(TINY_STAGES, start=1):
        for i, (filters, kernel) in enumerate(stage, start=1):
            f = max(int(round(filters * width)), group_size)
            x = conv_unit(x, f, kernel, group_size, norm, activation, f"stage{s}_conv{i}")
        if s < len(TINY_STAGES):
            x = keras.layers.MaxPooling2D(2, name=f"stage{s}_pool")(x)
    return keras.Model(inputs, x, name=name)


def _feature_stride(backbone):
    shape_in = backbone.input_shape[1:3]
    shape_out = backbone.output_shape[1:3]
    if None in shape_in or None in shape_out:
        return None
    return shape_in[0] / shape_out[0]


@keras.saving.register_keras_serializable(package="astrozoo")
class YoloCianna(keras.Model):
    """CIANNA's YOLO detector on any backbone.

    Args:
        backbone: a ``keras.Model`` mapping images to a feature map.
        num_classes: number of classes.
        priors: ``nb_box`` prior sizes ``(w, h)`` in pixels (see
            :func:`astrozoo.applications.kmeans_priors`).
        num_params: extra regression parameters per box.
        head_filters: filters of the 3x3 convolutions of the head (CIANNA: 3 x 1024).
        head_norm: "group" (CIANNA's GroupNorm, before each conv as in CIANNA),
            "batch" or None.
        head_group_size: channels per group of the head's GroupNorm.
        activation: activation of the head's convolutions.
        class_softmax: softmax classes (else sigmoid, CIANNA's default).
        slopes_and_maxes: CIANNA's activation slopes and clips (see :class:`YoloHead`).
        cell_size: pixels per cell; inferred from a static backbone.
        prediction_decoder: the layer that turns raw outputs into detections
            (default :class:`~astrozoo.layers.YoloDecoder` with CIANNA's settings).
    """

    def __init__(
        self,
        backbone,
        num_classes,
        priors,
        num_params=0,
        head_filters=(1024, 1024, 1024),
        head_norm="group",
        head_group_size=16,
        activation="cianna",
        class_softmax=False,
        slopes_and_maxes=None,
        cell_size=None,
        prediction_decoder=None,
        **kwargs,
    ):
        if not isinstance(backbone, keras.Model):
            raise ValueError(f"`backbone` should be a keras.Model. Received: {type(backbone).__name__}")
        if head_norm not in ("group", "batch", None):
            raise ValueError(f"`head_norm` should be 'group', 'batch' or None. Received: {head_norm!r}")
        priors = normalize_priors(priors)
        if cell_size is None:
            cell_size = _feature_stride(backbone)
            if cell_size is None:
                raise ValueError("`cell_size` is required when the backbone has no static input/output shape.")
        head_filters = tuple(int(f) for f in head_filters)

        inputs = keras.Input(shape=backbone.input_shape[1:], name="images")
        x = backbone(inputs)
        for i, filters in enumerate(head_filters, start=1):
            x = self._norm(x, head_norm, head_group_size, f"head_norm{i}")
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=head_norm != "batch",
                                    name=f"head_conv{i}")(x)
            x = _utils.activation_layer(activation, f"head_act{i}")(x)
        x = self._norm(x, head_norm, head_group_size, "head_norm_out")
        head = YoloHead(len(priors), num_classes, num_params, priors=priors, cell_size=cell_size,
                        slopes_and_maxes=slopes_and_maxes, class_softmax=class_softmax, name="yolo_head")
        x = keras.layers.Conv2D(head.filters, 1, dtype="float32", name="yolo_conv")(x)
        outputs = head(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        self.backbone = backbone
        self.yolo_head = head
        self.num_classes = num_classes
        self.num_params = num_params
        self.priors = priors
        self.head_filters = head_filters
        self.head_norm = head_norm
        self.head_group_size = head_group_size
        self.activation = activation
        self.class_softmax = class_softmax
        self.slopes_and_maxes = head.slopes_and_maxes
        self.cell_size = float(cell_size)
        if prediction_decoder is None:
            prediction_decoder = YoloDecoder(priors, cell_size, num_classes, num_params, name="yolo_decoder")
        self.prediction_decoder = prediction_decoder
        self.yolo_loss = None

    @staticmethod
    def _norm(x, norm, group_size, name):
        if norm == "batch":
            return keras.layers.BatchNormalization(epsilon=1e-3, name=name)(x)
        if norm == "group":
            from astrozoo.layers import CiannaGroupNorm

            channels = x.shape[-1]
            if channels % group_size:
                raise ValueError(
                    f"head_group_size={group_size} does not divide the {channels} channels before {name}."
                )
            return CiannaGroupNorm(group_size, name=name)(x)
        return x

    # -- training -------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss="auto", metrics=None, loss_preset="cianna_default", **kwargs):
        """Compile with a :class:`YoloLoss` (``loss="auto"`` builds one from the head and ``loss_preset``).

        ``y`` of ``fit`` is the padded dict ``{"boxes", "classes"[, "params"]}``.
        """
        if loss == "auto":
            if loss_preset not in PRESETS:
                raise ValueError(f"`loss_preset` should be one of {tuple(PRESETS)}. Received: {loss_preset!r}")
            loss = YoloLoss.from_head(self.yolo_head, preset=loss_preset)
        if loss is not None and not callable(loss):
            raise ValueError(f"`loss` should be 'auto', a YoloLoss or a callable. Received: {loss!r}")
        self.yolo_loss = loss
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        del x, training
        if self.yolo_loss is None:
            raise ValueError("No loss to compute: call `compile()` first (loss='auto' builds a YoloLoss).")
        total = ops.cast(self.yolo_loss(y, y_pred, sample_weight), "float32")
        for extra in self.losses:  # weight regularisers
            total = total + ops.cast(ops.sum(extra), "float32")
        return total

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and self.yolo_loss is not None:
            config = dict(config)
            config["loss"] = keras.saving.serialize_keras_object(self.yolo_loss)
        return config

    def compile_from_config(self, config):
        # Keras skips compile() on load for overridden compile methods unless this is defined.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    # -- inference ------------------------------------------------------------------------
    def predict_step(self, *args):
        out = super().predict_step(*args)
        if keras.backend.backend() == "jax":  # the JAX step also returns the state
            raw, state = out
            return self.prediction_decoder(raw), state
        return self.prediction_decoder(out)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "priors": [list(p) for p in self.priors],
            "num_params": self.num_params,
            "head_filters": list(self.head_filters),
            "head_norm": self.head_norm,
            "head_group_size": self.head_group_size,
            "activation": self.activation,
            "class_softmax": self.class_softmax,
            "slopes_and_maxes": [list(r) for r in self.slopes_and_maxes],
            "cell_size": self.cell_size,
            "prediction_decoder": keras.saving.serialize_keras_object(self.prediction_decoder),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**_utils.deserialize_members(config, "backbone", "prediction_decoder"))


@register_model(
    "yolo_cianna",
    task="detection",
    family="yolo",
    default_input_shape=(416, 416, 3),
    description="CIANNA's YOLO detector (single scale, CIANNA's association/loss); "
    "backbone darknet19 (course) or darknet_tiny (CPU preset).",
    references=(
        "Redmon & Farhadi 2017, YOLO9000: Better, Faster, Stronger, arXiv:1612.08242",
        "Cornu et al. 2024, YOLO-CIANNA: Galaxy detection with deep learning in radio data, A&A 690, A211",
        "Cornu et al., CIANNA, github.com/Deyht/CIANNA (examples/PASCAL/pascal_train.py)",
    ),
)
def yolo_cianna(
    backbone="darknet19",
    num_classes=20,
    priors=VOC_PRIORS,
    num_params=0,
    input_shape=None,
    input_tensor=None,
    weights=None,
    backbone_weights=None,
    head_filters=None,
    head_norm=None,
    class_softmax=False,
    slopes_and_maxes=None,
    prediction_decoder=None,
    name="yolo_cianna",
    **backbone_kwargs,
):
    """Build a YOLO-CIANNA detector.

    Args:
        backbone: "darknet19" (the course's, 32 px cells), "darknet_tiny"
            (stride-16 CPU preset) or a ``keras.Model`` producing a feature map.
        num_classes: number of classes.
        priors: ``nb_box`` ``(w, h)`` pixel priors (CIANNA's VOC priors by default;
            see :func:`astrozoo.applications.kmeans_priors`).
        num_params: extra regression parameters per box.
        input_shape: channels-last input (default (416, 416, 3) for darknet19,
            (320, 320, 3) for darknet_tiny; ignored for a Model backbone).
        input_tensor: not supported (kept for the builder signature): the detector
            makes its own input and nests the backbone.
        weights: ``None`` or the path of a ``.weights.h5`` / ``.keras`` file of the detector, or
            a CIANNA ``.dat`` detector of the same layout (see :func:`astrozoo.io.cianna.load_dat_weights_into`).
        backbone_weights: weights of a named backbone (e.g. a darknet19 ``.dat``).
        head_filters: filters of the head's 3x3 convs (CIANNA: (1024, 1024, 1024);
            darknet_tiny: (256,)).
        head_norm: "group" (CIANNA, default for darknet19), "batch" (default for
            darknet_tiny) or None.
        class_softmax, slopes_and_maxes: see :class:`~astrozoo.layers.YoloHead`.
        prediction_decoder: a custom decoder layer (default :class:`~astrozoo.layers.YoloDecoder`).
        name: model name.
        **backbone_kwargs: passed to the named backbone builder (e.g. ``width``, ``norm``).
    """
    if input_tensor is not None:
        raise ValueError(
            "yolo_cianna builds its own input (the backbone is nested as one layer): pass `input_shape` "
            "instead of `input_tensor`."
        )
    if isinstance(backbone, str):
        if backbone not in BACKBONES:
            raise ValueError(f"`backbone` should be one of {BACKBONES} or a keras.Model. Received: {backbone!r}")
        if backbone == "darknet19":
            shape = tuple(input_shape or (416, 416, 3))
            net = darknet19(include_top=False, weights=backbone_weights, input_shape=shape, **backbone_kwargs)
            head_filters = (1024, 1024, 1024) if head_filters is None else head_filters
            head_norm = "group" if head_norm is None else head_norm
        else:
            shape = tuple(input_shape or (320, 320, 3))
            if any(d is not None and d % 16 for d in shape[:2]):
                raise ValueError(f"darknet_tiny needs spatial sizes multiple of 16. Received: input_shape={shape}")
            net = darknet_tiny(shape, **backbone_kwargs)
            if backbone_weights is not None:
                net.load_weights(backbone_weights)
            head_filters = (256,) if head_filters is None else head_filters
            head_norm = "batch" if head_norm is None else head_norm
    elif isinstance(backbone, keras.Model):
        net = backbone
        head_filters = (512,) if head_filters is None else head_filters
    else:
        raise ValueError(f"`backbone` should be one of {BACKBONES} or a keras.Model. Received: {backbone!r}")
    model = YoloCianna(
        net, num_classes, priors, num_params=num_params, head_filters=head_filters,
        head_norm=head_norm, class_softmax=class_softmax, slopes_and_maxes=slopes_and_maxes,
        prediction_decoder=prediction_decoder, name=name,
    )
    if weights is not None:
        if str(weights).endswith(".dat"):
            from astrozoo.io.cianna import load_dat_weights_into

            load_dat_weights_into(model, weights)
        elif str(weights).endswith(".keras"):
            ref = keras.saving.load_model(weights, compile=False)
            model.set_weights(ref.get_weights())
        else:
            model.load_weights(weights)
    return model
