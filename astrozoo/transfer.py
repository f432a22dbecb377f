"""Transfer learning from zoo backbones: heads, freezing by blocks, layer-wise LR decay, two-stage fine-tuning.

The usual recipe for small astronomical sets (Zoobot, Walmsley et al. 2022):
train a new head on a frozen pretrained backbone, then unfreeze the top blocks
at a lower learning rate that decays layer by layer towards the input::

    model = build_finetune_model(backbone, head="classifier", classes=2)
    hist = two_stage_finetune(model, train_ds, validation_data=val_ds,
                              loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                              head_epochs=10, finetune_epochs=20, n_blocks=2)

**Blocks.** Zoo backbones keep stable layer names, and a layer's block is read
from its name: the first of these patterns that matches the start of the name
gives the block, ``conv{s}_block{b}`` (ResNet units, e.g.
``conv3_block2_1_conv``), ``block{b}`` (Darknet/VGG, e.g. ``block4_conv2``),
``stage{s}``, then any leading ``letters+digits`` token (``conv1``, ``fc2``,
the ResNet stem ``conv1_conv``, LeNet-5's ``conv2``). A layer whose name
matches none of them belongs to the block before it. Blocks without weights
are skipped, so "the top N blocks" are the N last blocks that hold weights.
Head layers are the ones whose names start with ``"head_"`` (as built by
:func:`build_finetune_model`); they are always trainable.
"""

import collections
import re

import keras
from keras import ops

HEAD_PREFIX = "head_"
HEADS = ("classifier", "regression", "galaxy_zoo")
_BLOCK_PATTERNS = (
    re.compile(r"^(conv\d+_block\d+)"),
    re.compile(r"^(block\d+)"),
    re.compile(r"^(stage\d+)"),
    re.compile(r"^([A-Za-z]+\d+)(?:_|$)"),
)

FinetuneHistory = collections.namedtuple("FinetuneHistory", ["head", "finetune"])
FinetuneHistory.__doc__ = """Keras ``History`` of each stage of :func:`two_stage_finetune`."""


def _merged_history(self):
    """One ``{metric: [values]}`` dict, stage 1 epochs then stage 2 epochs."""
    out = {}
    for h in self:
        if h is None:
            continue
        for k, v in h.history.items():
            out.setdefault(k, []).extend(v)
    return out


FinetuneHistory.merged = _merged_history


def build_finetune_model(
    backbone,
    head="classifier",
    *,
    classes=2,
    classifier_activation="softmax",
    outputs=1,
    unit_interval=False,
    schema="gz2",
    tree_activation="softmax",
    dropout=0.0,
    pooling="avg",
    name=None,
    **backbone_kwargs,
):
    """A backbone without its top plus a new head, as one functional model.

    Args:
        backbone: a ``keras.Model`` built with ``include_top=False`` (any
            weights), or a registered zoo name (``"resnet18"``, ...), built
            here with ``include_top=False`` and ``backbone_kwargs`` (e.g.
            ``weights``, ``input_shape``).
        head: ``"classifier"`` (``Dense(classes)`` + ``classifier_activation``),
            ``"regression"`` (``Dense(outputs)``, linear or, with
            ``unit_interval=True``, a sigmoid bounding it to [0, 1], e.g. for
            vote fractions) or ``"galaxy_zoo"`` (``Dense(num_answers)`` +
            :class:`astrozoo.layers.GalaxyZooTree`).
        classes, classifier_activation: for the classifier head.
        outputs, unit_interval: for the regression head.
        schema, tree_activation: for the Galaxy Zoo head; ``tree_activation``
            is ``"softmax"`` (fractions, with ``MaskedMSE``) or ``"dirichlet"``
            (concentrations, with ``DirichletMultinomialLoss``).
        dropout: dropout rate before the head's dense layer (0 for none).
        pooling: ``"avg"`` or ``"max"`` global pooling, applied when the
            backbone returns a feature map.
        name: model name (default ``"<backbone>_<head>"``).

    Returns:
        A ``keras.Model`` whose head layers are named ``head_*`` and whose
        output layer runs in float32.
    """
    if head not in HEADS:
        raise ValueError(f"`head` should be one of {HEADS}. Received: head={head!r}")
    if pooling not in ("avg", "max"):
        raise ValueError(f"`pooling` should be 'avg' or 'max'. Received: pooling={pooling!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"`dropout` should lie in [0, 1). Received: dropout={dropout!r}")
    if head == "classifier" and (not isinstance(classes, int) or classes < 1):
        raise ValueError(f"`classes` should be a positive integer. Received: classes={classes!r}")
    if head == "regression" and (not isinstance(outputs, int) or outputs < 1):
        raise ValueError(f"`outputs` should be a positive integer. Received: outputs={outputs!r}")
    if isinstance(backbone, str):
        from astrozoo.applications import create_model

        if backbone_kwargs.get("include_top"):
            raise ValueError("build_finetune_model builds the backbone with include_top=False.")
        backbone_kwargs["include_top"] = False
        backbone = create_model(backbone, **backbone_kwargs)
    elif backbone_kwargs:
        raise ValueError(
            f"Backbone arguments {sorted(backbone_kwargs)} only apply when `backbone` is a registered "
            "name; the given model is already built."
        )
    if not isinstance(backbone, keras.Model):
        raise ValueError(
            f"`backbone` should be a keras.Model (include_top=False) or a registered model name. "
            f"Received: {backbone!r}"
        )
    clash = [layer.name for layer in backbone.layers if layer.name.startswith(HEAD_PREFIX)]
    if clash:
        raise ValueError(f"Backbone layers {clash} use the reserved head prefix {HEAD_PREFIX!r}.")

    x = backbone.outputs[0]
    if len(x.shape) > 2:
        pool = keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.GlobalMaxPooling2D
        if len(x.shape) == 3:
            pool = keras.layers.GlobalAveragePooling1D if pooling == "avg" else keras.layers.GlobalMaxPooling1D
        x = pool(name=HEAD_PREFIX + "pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=HEAD_PREFIX + "dropout")(x)
    if head == "classifier":
        out = keras.layers.Dense(
            classes, activation=classifier_activation, dtype="float32", name=HEAD_PREFIX + "predictions"
        )(x)
    elif head == "regression":
        out = keras.layers.Dense(
            outputs,
            activation="sigmoid" if unit_interval else None,
            dtype="float32",
            name=HEAD_PREFIX + "predictions",
        )(x)
    else:
        from astrozoo.layers.galaxy_zoo import GalaxyZooTree, galaxy_zoo_schema

        schema = galaxy_zoo_schema(schema)
        logits = keras.layers.Dense(schema.num_answers, dtype="float32", name=HEAD_PREFIX + "logits")(x)
        out = GalaxyZooTree(schema, activation=tree_activation, name=HEAD_PREFIX + "predictions")(logits)
    return keras.Model(backbone.inputs, out, name=name or f"{backbone.name}_{head}")


def layer_block(layer_name):
    """The block name read from a layer name (module docstring), or ``None``."""
    for pattern in _BLOCK_PATTERNS:
        m = pattern.match(layer_name)
        if m:
            return m.group(1)
    return None


def _flat_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


def backbone_blocks(model, head_prefix=HEAD_PREFIX):
    """Blocks of the backbone part of ``model``, from input to output.

    Returns:
        An ordered dict ``{block_name: [layers]}`` holding only blocks with
        weights; head layers (``head_prefix``) are left out.
    """
    blocks = collections.OrderedDict()
    current = None
    for layer in _flat_layers(model):
        if layer.name.startswith(head_prefix):
            continue
        block = layer_block(layer.name) or current
        if block is None:
            block = "stem"
        current = block
        blocks.setdefault(block, []).append(layer)
    return collections.OrderedDict((b, ls) for b, ls in blocks.items() if any(lay.weights for lay in ls))


def set_trainable_blocks(model, n_blocks, head_prefix=HEAD_PREFIX):
    """Train the head and the top ``n_blocks`` backbone blocks; freeze the rest.

    Frozen BatchNormalization layers run in inference mode (Keras semantics),
    so their statistics stay those of pretraining. Recompile after calling.

    Args:
        model: a model from :func:`build_finetune_model` (or any model whose
            head layers start with ``head_prefix``).
        n_blocks: an int in ``[0, number of blocks]``, or ``"all"``/``None``
            for the whole backbone.

    Returns:
        The names of the trainable backbone blocks, from input to output.
    """
    blocks = backbone_blocks(model, head_prefix)
    if n_blocks is None or n_blocks == "all":
        n_blocks = len(blocks)
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or not 0 <= n_blocks <= len(blocks):
        raise ValueError(
            f"`n_blocks` should be an integer in [0, {len(blocks)}] (the backbone of {model.name!r} has "
            f"{len(blocks)} blocks: {list(blocks)}) or 'all'. Received: n_blocks={n_blocks!r}"
        )
    model.trainable = True
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layer.trainable = True
    names = list(blocks)
    train = set(names[len(names) - n_blocks :])
    for block, layers in blocks.items():
        for layer in layers:
            layer.trainable = block in train
    for layer in _flat_layers(model):
        if layer.name.startswith(head_prefix):
            layer.trainable = True
    return [b for b in names if b in train]


def freeze_backbone(model, head_prefix=HEAD_PREFIX):
    """Freeze every backbone layer; only the ``head_*`` layers stay trainable."""
    return set_trainable_blocks(model, 0, head_prefix)


def unfreeze_top_blocks(model, n_blocks, head_prefix=HEAD_PREFIX):
    """Unfreeze the head and the top ``n_blocks`` backbone blocks (see :func:`set_trainable_blocks`)."""
    return set_trainable_blocks(model, n_blocks, head_prefix)


def layerwise_lr_multipliers(model, decay=0.75, n_blocks=None, head_prefix=HEAD_PREFIX):
    """Learning-rate multipliers ``{variable.path: factor}`` for layer-wise decay.

    As Zoobot: the head and the top block get 1, the block below ``decay``, then
    ``decay**2``, ... Variables of blocks below the top ``n_blocks`` (if given)
    get 0.
    """
    if not 0.0 < float(decay) <= 1.0:
        raise ValueError(f"`decay` should lie in (0, 1]. Received: decay={decay!r}")
    blocks = list(backbone_blocks(model, head_prefix).items())
    mult = {}
    for depth, (_, layers) in enumerate(reversed(blocks)):
        factor = float(decay) ** depth
        if n_blocks is not None and n_blocks != "all" and depth >= n_blocks:
            factor = 0.0
        for layer in layers:
            for v in layer.weights:
                mult[v.path] = factor
    for layer in _flat_layers(model):
        if layer.name.startswith(head_prefix):
            for v in layer.weights:
                mult[v.path] = 1.0
    return mult


@keras.saving.register_keras_serializable(package="astrozoo")
class LayerwiseLRDecay(keras.optimizers.Optimizer):
    """Wrap an optimizer so that each variable's step is scaled by its own factor.

    Keras optimizers have a single learning rate. This wrapper lets the inner
    optimizer take its step, then rescales each variable's update by its
    multiplier: ``v <- v_old + m * (v_inner - v_old)``. This is exactly a
    per-variable learning rate ``m * lr`` for any optimizer whose update is
    proportional to the learning rate (SGD, momentum, Adam, AdamW with its
    decoupled weight decay, ...), unlike scaling the gradients, which Adam's
    normalisation cancels.

    Args:
        optimizer: the inner ``keras.optimizers.Optimizer`` (instance or config).
        multipliers: ``{variable.path: factor}``, e.g. from
            :func:`layerwise_lr_multipliers`.
        default_multiplier: factor of variables not in ``multipliers``.
        name: optimizer name.
    """

    def __init__(self, optimizer, multipliers=None, default_multiplier=1.0, name="layerwise_lr_decay", **kwargs):
        if kwargs:
            raise ValueError(
                f"LayerwiseLRDecay does not take {sorted(kwargs)}; set them on the inner optimizer."
            )
        super().__init__(learning_rate=0.0, name=name)
        if isinstance(optimizer, dict):
            optimizer = keras.optimizers.deserialize(optimizer)
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(f"`optimizer` should be a keras Optimizer. Received: {optimizer!r}")
        self.inner_optimizer = optimizer
        self.multipliers = {str(k): float(v) for k, v in (multipliers or {}).items()}
        bad = {k: v for k, v in self.multipliers.items() if v < 0}
        if bad:
            raise ValueError(f"Learning-rate multipliers must be >= 0. Received: {bad}")
        self.default_multiplier = float(default_multiplier)

    def multiplier(self, variable):
        return self.multipliers.get(variable.path, self.default_multiplier)

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    def apply(self, grads, trainable_variables=None):
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        tvs = list(trainable_variables) if trainable_variables is not None else self._trainable_variables
        grads = list(grads)
        scaled = []
        for g, v in zip(grads, tvs):
            m = self.multiplier(v)
            if g is not None and m != 1.0:
                # A copy: torch optimizers update the variable in place.
                scaled.append((v, ops.copy(v.value), m))
        self.inner_optimizer.apply(grads, trainable_variables)
        for v, old, m in scaled:
            v.assign(old + m * (v.value - old))

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": keras.optimizers.serialize(self.inner_optimizer),
            "multipliers": dict(self.multipliers),
            "default_multiplier": self.default_multiplier,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        optimizer = keras.optimizers.deserialize(config.pop("optimizer"), custom_objects=custom_objects)
        return cls(optimizer, **config)


def two_stage_finetune(
    model,
    x,
    y=None,
    *,
    loss,
    metrics=None,
    validation_data=None,
    head_epochs=10,
    head_learning_rate=1e-3,
    finetune_epochs=10,
    finetune_learning_rate=1e-4,
    n_blocks="all",
    lr_decay=0.75,
    weight_decay=0.05,
    callbacks=None,
    verbose="auto",
    **fit_kwargs,
):
    """Train the head on the frozen backbone, then fine-tune the top blocks at a lower rate.

    Stage 1 (``head_epochs``): :func:`freeze_backbone`, AdamW at
    ``head_learning_rate``. Stage 2 (``finetune_epochs``):
    :func:`unfreeze_top_blocks` ``n_blocks``, AdamW at
    ``finetune_learning_rate`` with layer-wise decay ``lr_decay`` per block
    (:class:`LayerwiseLRDecay`). Each stage compiles and calls ``model.fit``;
    the epoch numbering continues across stages.

    Args:
        model: a model from :func:`build_finetune_model`.
        x, y, validation_data, callbacks, verbose, **fit_kwargs: passed to
            ``model.fit`` (``x`` may be a ``tf.data.Dataset``).
        loss, metrics: passed to ``model.compile``.
        head_epochs, head_learning_rate: stage 1 (0 epochs skips it).
        finetune_epochs, finetune_learning_rate: stage 2 (0 epochs skips it).
            Learning rates may be schedules.
        n_blocks: backbone blocks unfrozen in stage 2 (int or ``"all"``).
        lr_decay: per-block learning-rate factor in stage 2 (1 for none).
        weight_decay: AdamW weight decay of both stages.

    Returns:
        :class:`FinetuneHistory` ``(head, finetune)`` of Keras ``History``
        objects (``None`` for a skipped stage); ``.merged()`` joins them.
    """
    for arg, value in (("head_epochs", head_epochs), ("finetune_epochs", finetune_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"`{arg}` should be a non-negative integer. Received: {arg}={value!r}")
    if head_epochs + finetune_epochs == 0:
        raise ValueError("Both stages have 0 epochs: nothing to train.")
    # Validate before any training starts.
    n_total = len(backbone_blocks(model))
    if n_blocks not in (None, "all") and (
        isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or not 0 <= n_blocks <= n_total
    ):
        raise ValueError(
            f"`n_blocks` should be an integer in [0, {n_total}] or 'all'. Received: n_blocks={n_blocks!r}"
        )
    if not 0.0 < float(lr_decay) <= 1.0:
        raise ValueError(f"`lr_decay` should lie in (0, 1]. Received: lr_decay={lr_decay!r}")

    def fit(initial_epoch, epochs):
        return model.fit(
            x,
            y,
            validation_data=validation_data,
            initial_epoch=initial_epoch,
            epochs=epochs,
            callbacks=callbacks,
            verbose=verbose,
            **fit_kwargs,
        )

    head_hist = ft_hist = None
    if head_epochs:
        freeze_backbone(model)
        model.compile(
            optimizer=keras.optimizers.AdamW(head_learning_rate, weight_decay=weight_decay),
            loss=loss,
            metrics=metrics,
        )
        head_hist = fit(0, head_epochs)
    if finetune_epochs:
        unfreeze_top_blocks(model, n_blocks)
        opt = keras.optimizers.AdamW(finetune_learning_rate, weight_decay=weight_decay)
        if float(lr_decay) != 1.0:
            opt = LayerwiseLRDecay(opt, layerwise_lr_multipliers(model, lr_decay))
        model.compile(optimizer=opt, loss=loss, metrics=metrics)
        ft_hist = fit(head_epochs, head_epochs + finetune_epochs)
    return FinetuneHistory(head_hist, ft_hist)


__all__ = [
    "FinetuneHistory",
    "LayerwiseLRDecay",
    "backbone_blocks",
    "build_finetune_model",
    "freeze_backbone",
    "layer_block",
    "layerwise_lr_multipliers",
    "set_trainable_blocks",
    "two_stage_finetune",
    "unfreeze_top_blocks",
]
