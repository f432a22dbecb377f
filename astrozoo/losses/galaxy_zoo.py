"""Galaxy Zoo vote losses: Dirichlet-multinomial NLL on counts (Zoobot) and masked MSE on fractions.

Both work per question of a :class:`astrozoo.layers.GalaxyZooSchema`; a
question that nobody answered for a galaxy (zero votes, or NaN in the table)
contributes nothing, which is how the decision tree is handled: volunteers
only see a question when their earlier answers lead to it.
"""

import keras
from keras import ops

from astrozoo.layers.galaxy_zoo import _schema_config, galaxy_zoo_schema


def lgamma(x):
    """``log|Gamma(x)|`` elementwise, differentiable, on the active Keras backend.

    ``keras.ops`` has no lgamma, so this dispatches to ``tf.math.lgamma``,
    ``jax.scipy.special.gammaln`` or ``torch.lgamma`` (and SciPy for the numpy
    backend).
    """
    backend = keras.backend.backend()
    x = ops.convert_to_tensor(x)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.math.lgamma(x)
    if backend == "jax":
        import jax

        return jax.scipy.special.gammaln(x)
    if backend == "torch":
        import torch

        return torch.lgamma(x)
    if backend == "numpy":
        from scipy.special import gammaln

        return gammaln(x).astype(x.dtype)
    raise NotImplementedError(f"lgamma is not available for the Keras backend {backend!r}.")


def dirichlet_multinomial_log_prob(counts, concentrations):
    """``log DirMult(counts | N = sum(counts), concentrations)`` over the last axis.

    ``log p = lgamma(N+1) + lgamma(A) - lgamma(N+A)
    + sum_k [lgamma(n_k + a_k) - lgamma(a_k) - lgamma(n_k + 1)]`` with
    ``A = sum_k a_k``; it is 0 when ``N = 0``.
    """
    n = ops.sum(counts, axis=-1)
    a = ops.sum(concentrations, axis=-1)
    per_answer = lgamma(counts + concentrations) - lgamma(concentrations) - lgamma(counts + 1.0)
    return lgamma(n + 1.0) + lgamma(a) - lgamma(n + a) + ops.sum(per_answer, axis=-1)


class _SchemaLoss(keras.losses.Loss):
    def __init__(self, schema, name, reduction, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.schema = None if schema is None else galaxy_zoo_schema(schema)

    def _check_width(self, y):
        if self.schema is not None and y.shape[-1] is not None and y.shape[-1] != self.schema.num_answers:
            raise ValueError(
                f"{self.__class__.__name__}: schema {self.schema.name!r} has {self.schema.num_answers} "
                f"answers but the last axis has {y.shape[-1]}."
            )

    def get_config(self):
        config = super().get_config()
        config["schema"] = None if self.schema is None else _schema_config(self.schema)
        return config


@keras.saving.register_keras_serializable(package="astrozoo")
class DirichletMultinomialLoss(_SchemaLoss):
    """Negative log-likelihood of the volunteers' vote counts, summed over questions (Zoobot).

    For each question the votes ``n_k`` (total ``N``) are modelled as a
    Dirichlet-multinomial with the predicted concentrations ``a_k``: the
    model predicts a distribution of vote fractions, not a single fraction,
    so that galaxies with few votes weigh less and disagreement is expected.

    ``y_true``: vote counts, shape ``(batch, num_answers)``; NaN counts are
    read as 0 (question not asked). ``y_pred``: concentrations > 0, e.g. from
    ``GalaxyZooTree(activation="dirichlet")``. The per-galaxy loss is
    ``-sum_q log DirMult(n_q | a_q)``; questions with no votes contribute 0.

    Args:
        schema: ``"gz2"``, ``"decals"``, a dict or a :class:`GalaxyZooSchema`.
        reduction, name, dtype: as in ``keras.losses.Loss``.
    """

    def __init__(self, schema="gz2", reduction="sum_over_batch_size", name="dirichlet_multinomial", dtype=None):
        super().__init__(schema, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        self._check_width(y_pred)
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        counts = ops.where(ops.isnan(y_true), 0.0, y_true)
        total = 0.0
        for s, e in self.schema.question_slices:
            c = counts[..., s:e]
            log_p = dirichlet_multinomial_log_prob(c, y_pred[..., s:e])
            # The formula already gives 0 for N = 0; the mask removes round-off.
            total = total - ops.where(ops.sum(c, axis=-1) > 0, log_p, 0.0)
        return total


@keras.saving.register_keras_serializable(package="astrozoo")
class MaskedMSE(_SchemaLoss):
    """Mean squared error over the known vote fractions only.

    An entry of ``y_true`` is ignored when it is NaN or equals ``mask_value``
    (astroNN's -9999 convention by default); with a ``schema``, whole
    questions whose fractions sum to 0 (nobody answered) are ignored too.
    The per-galaxy loss is the mean over its kept entries (0 if none).

    Args:
        schema: optional ``"gz2"``, ``"decals"``, dict or schema, to mask
            unanswered questions.
        mask_value: a target value that marks a missing label (or ``None``).
        reduction, name, dtype: as in ``keras.losses.Loss``.
    """

    def __init__(self, schema=None, mask_value=-9999.0, reduction="sum_over_batch_size", name="masked_mse", dtype=None):
        super().__init__(schema, name=name, reduction=reduction, dtype=dtype)
        self.mask_value = None if mask_value is None else float(mask_value)

    def call(self, y_true, y_pred):
        self._check_width(y_pred)
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        keep = ops.logical_not(ops.isnan(y_true))
        if self.mask_value is not None:
            keep = ops.logical_and(keep, ops.not_equal(y_true, self.mask_value))
        if self.schema is not None:
            clean = ops.where(keep, y_true, 0.0)
            answered = []
            for s, e in self.schema.question_slices:
                has = ops.sum(clean[..., s:e], axis=-1, keepdims=True) > 0
                answered.append(ops.repeat(has, e - s, axis=-1))
            keep = ops.logical_and(keep, ops.concatenate(answered, axis=-1))
        w = ops.cast(keep, "float32")
        sq = ops.where(keep, ops.square(y_pred - ops.where(keep, y_true, 0.0)), 0.0)
        n = ops.sum(w, axis=-1)
        return ops.sum(sq, axis=-1) / ops.maximum(n, 1.0)

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
