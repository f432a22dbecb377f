import itertools
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from astrozoo.layers import galaxy_zoo_schema
from astrozoo.losses import DirichletMultinomialLoss, MaskedMSE, dirichlet_multinomial_log_prob, lgamma


def _dm_log_prob(counts, alpha):
    """The Dirichlet-multinomial pmf written out from its definition."""
    n, a = sum(counts), sum(alpha)
    out = math.lgamma(n + 1) + math.lgamma(a) - math.lgamma(n + a)
    for c, al in zip(counts, alpha):
        out += math.lgamma(c + al) - math.lgamma(al) - math.lgamma(c + 1)
    return out


def test_lgamma_matches_math():
    x = np.array([0.5, 1.0, 2.5, 10.0, 123.4], "float32")
    np.testing.assert_allclose(np.asarray(lgamma(x)), [math.lgamma(v) for v in x], rtol=1e-5)


def test_log_prob_is_a_normalised_pmf():
    alpha = np.array([0.7, 2.0, 5.5], "float32")
    total = 0.0
    for c in itertools.product(range(6), repeat=3):
        if sum(c) == 5:
            total += math.exp(float(dirichlet_multinomial_log_prob(np.array(c, "float32"), alpha)))
    assert total == pytest.approx(1.0, abs=1e-4)


def test_loss_matches_the_formula_question_by_question():
    schema = galaxy_zoo_schema("decals")
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 15, (4, schema.num_answers)).astype("float32")
    counts[1, 3:5] = 0  # edge-on question not asked for galaxy 1
    alpha = rng.uniform(1, 100, counts.shape).astype("float32")
    expected = np.array(
        [
            -sum(_dm_log_prob(counts[i, s:e], alpha[i, s:e]) for s, e in schema.question_slices)
            for i in range(4)
        ]
    )
    loss = DirichletMultinomialLoss("decals", reduction=None)
    np.testing.assert_allclose(np.asarray(loss(counts, alpha)), expected, rtol=1e-4)
    mean_loss = DirichletMultinomialLoss("decals")
    assert float(mean_loss(counts, alpha)) == pytest.approx(expected.mean(), rel=1e-4)


def test_unanswered_questions_contribute_nothing():
    schema = galaxy_zoo_schema("gz2")
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 10, (2, 37)).astype("float32")
    s, e = schema.question_slices[7]  # odd feature
    counts[:, s:e] = 0
    alpha = rng.uniform(1, 50, counts.shape).astype("float32")
    other = alpha.copy()
    other[:, s:e] = rng.uniform(1, 50, (2, e - s))
    loss = DirichletMultinomialLoss("gz2", reduction=None)
    np.testing.assert_allclose(np.asarray(loss(counts, alpha)), np.asarray(loss(counts, other)), rtol=1e-6)
    nan_counts = counts.copy()
    nan_counts[:, s:e] = np.nan
    np.testing.assert_allclose(np.asarray(loss(nan_counts, alpha)), np.asarray(loss(counts, alpha)), rtol=1e-6)
    # ...while a question that was answered does change the loss.
    changed = alpha.copy()
    changed[:, 0:3] = 1.0
    assert not np.allclose(np.asarray(loss(counts, changed)), np.asarray(loss(counts, alpha)))


def test_loss_prefers_concentrations_that_match_the_votes():
    loss = DirichletMultinomialLoss({"name": "r", "questions": [{"name": "ring", "answers": ["yes", "no"]}]})
    votes = np.array([[18.0, 2.0]], "float32")
    good, bad = np.array([[45.0, 5.0]], "float32"), np.array([[5.0, 45.0]], "float32")
    assert float(loss(votes, good)) < float(loss(votes, bad))


def test_loss_wrong_width():
    with pytest.raises(ValueError, match="37 answers"):
        DirichletMultinomialLoss("gz2")(np.ones((1, 34), "float32"), np.ones((1, 34), "float32"))


def test_masked_mse_ignores_missing_values():
    y_true = np.array([[0.2, np.nan, 0.5, -9999.0], [0.0, 0.0, 1.0, 0.0]], "float32")
    y_pred = np.array([[0.4, 0.9, 0.1, 0.3], [0.5, 0.5, 0.5, 0.5]], "float32")
    per = np.asarray(MaskedMSE(reduction=None)(y_true, y_pred))
    np.testing.assert_allclose(per, [(0.2**2 + 0.4**2) / 2, (0.25 * 3 + 0.25) / 4], rtol=1e-6)
    # With a schema, a question whose fractions are all 0 was not asked.
    schema = {"name": "s", "questions": [{"name": "a", "answers": ["x", "y"]}, {"name": "b", "answers": ["u", "v"]}]}
    per = np.asarray(MaskedMSE(schema, reduction=None)(y_true, y_pred))
    np.testing.assert_allclose(per[1], 0.25, rtol=1e-6)  # only question b counts
    assert float(MaskedMSE()(np.full((2, 4), np.nan, "float32"), y_pred)) == 0.0


def test_losses_train_a_tree_head_and_roundtrip(tmp_path):
    from astrozoo.layers import GalaxyZooTree

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    counts = rng.integers(0, 20, (64, 34)).astype("float32")
    inputs = keras.Input((8,))
    out = GalaxyZooTree("decals", activation="dirichlet")(keras.layers.Dense(34)(inputs))
    model = keras.Model(inputs, out)
    model.compile("adam", loss=DirichletMultinomialLoss("decals"))
    hist = model.fit(x, counts, epochs=3, batch_size=32, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and hist.history["loss"][-1] < hist.history["loss"][0]
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.loss, DirichletMultinomialLoss) and reloaded.loss.schema.num_answers == 34
    assert MaskedMSE.from_config(MaskedMSE("gz2", mask_value=None).get_config()).mask_value is None


_OTHER_BACKEND = """
import numpy as np, keras
from astrozoo.losses import DirichletMultinomialLoss, lgamma
rng = np.random.default_rng(0)
c = rng.integers(0, 15, (3, 37)).astype("float32"); a = rng.uniform(1, 60, (3, 37)).astype("float32")
print(keras.backend.backend(), float(DirichletMultinomialLoss("gz2")(c, a)), float(np.asarray(lgamma(np.float32(7.5)))))
"""


# A fresh interpreter per backend costs 20-40 s on 2 cores, so this runs with --run-slow.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_loss_on_other_backends(backend):
    pytest.importorskip(backend)
    rng = np.random.default_rng(0)
    c = rng.integers(0, 15, (3, 37)).astype("float32")
    a = rng.uniform(1, 60, (3, 37)).astype("float32")
    expected = float(DirichletMultinomialLoss("gz2")(c, a))
    env = dict(os.environ, KERAS_BACKEND=backend)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = subprocess.run([sys.executable, "-c", _OTHER_BACKEND], env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    name, value, lg = res.stdout.split()[-3:]
    assert name == backend
    assert float(value) == pytest.approx(expected, rel=1e-4)
    assert float(lg) == pytest.approx(math.lgamma(7.5), rel=1e-5)
