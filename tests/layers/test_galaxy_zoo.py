import numpy as np
import pytest

import keras

from astrozoo.layers import GalaxyZooSchema, GalaxyZooTree, galaxy_zoo_schema, question_fractions
from tests.helpers import roundtrip_keras


def test_builtin_schemas_have_the_published_sizes():
    gz2 = galaxy_zoo_schema("gz2")
    assert (gz2.num_questions, gz2.num_answers) == (11, 37)
    assert [e - s for s, e in gz2.question_slices] == [3, 2, 2, 2, 4, 2, 3, 7, 3, 3, 6]
    decals = galaxy_zoo_schema("decals")
    assert (decals.num_questions, decals.num_answers) == (10, 34)
    # The tree: 'edge-on?' follows 'featured', the arm questions follow 'spiral'.
    assert gz2.questions[1]["depends_on"] == "t01_smooth_or_features/features_or_disk"
    assert gz2.parent_index()[9] == gz2.answer_index("t04_spiral/spiral") == 7
    assert gz2.question_of_answer()[36] == 10


def test_schema_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="gz3"):
        galaxy_zoo_schema("gz3")
    with pytest.raises(ValueError, match="nowhere/yes"):
        GalaxyZooSchema([{"name": "a", "answers": ["x", "y"], "depends_on": "nowhere/yes"}])
    with pytest.raises(ValueError, match="at least 2 answers"):
        GalaxyZooSchema([{"name": "a", "answers": ["x"]}])


@pytest.mark.parametrize("schema", ["gz2", "decals"])
def test_softmax_sums_to_one_within_each_question(schema):
    layer = GalaxyZooTree(schema)
    logits = np.random.default_rng(0).normal(0, 3, (5, layer.schema.num_answers)).astype("float32")
    out = np.asarray(layer(logits))
    assert out.shape == logits.shape and out.dtype == np.float32
    for s, e in layer.schema.question_slices:
        np.testing.assert_allclose(out[:, s:e].sum(-1), 1.0, atol=1e-5)
        # Within a question the order of the logits is kept.
        np.testing.assert_array_equal(np.argmax(out[:, s:e], -1), np.argmax(logits[:, s:e], -1))


def test_hierarchical_fractions_follow_the_tree():
    layer = GalaxyZooTree("gz2", hierarchical=True)
    flat = GalaxyZooTree("gz2")
    logits = np.random.default_rng(1).normal(size=(4, 37)).astype("float32")
    out, p = np.asarray(layer(logits)), np.asarray(flat(logits))
    schema = layer.schema
    # Bar question: its answers sum to P(features) * P(not edge-on).
    s, e = schema.question_slices[2]
    expected = p[:, schema.answer_index("t01_smooth_or_features/features_or_disk")] * p[
        :, schema.answer_index("t02_edgeon/no")
    ]
    np.testing.assert_allclose(out[:, s:e].sum(-1), expected, rtol=1e-5)
    # Root questions are unchanged.
    np.testing.assert_allclose(out[:, :3], p[:, :3], rtol=1e-6)


def test_dirichlet_concentrations_are_bounded():
    layer = GalaxyZooTree("decals", activation="dirichlet", max_concentration=50)
    out = np.asarray(layer(np.linspace(-30, 30, 34, dtype="float32")[None]))
    assert out.min() >= 1.0 and out.max() <= 50.0 and out[0, -1] > 49.0


def test_wrong_width_and_options_are_refused():
    with pytest.raises(ValueError, match="expects 37 logits"):
        GalaxyZooTree("gz2")(np.zeros((1, 34), "float32"))
    with pytest.raises(ValueError, match="activation"):
        GalaxyZooTree("gz2", activation="relu")
    with pytest.raises(ValueError, match="hierarchical"):
        GalaxyZooTree("gz2", activation="dirichlet", hierarchical=True)


def test_question_fractions_masks_unanswered_questions():
    votes = np.zeros((1, 34))
    votes[0, 0:3] = [6, 3, 1]
    f = question_fractions(votes, "decals")
    np.testing.assert_allclose(f[0, :3], [0.6, 0.3, 0.1])
    assert np.isnan(f[0, 3:]).all()


def test_keras_roundtrip_with_custom_schema(tmp_path):
    custom = {
        "name": "rings",
        "questions": [
            {"name": "ring", "answers": ["yes", "no"], "depends_on": None},
            {"name": "kind", "answers": ["inner", "outer", "both"], "depends_on": "ring/yes"},
        ],
    }
    inputs = keras.Input((4,))
    x = keras.layers.Dense(5)(inputs)
    out = GalaxyZooTree(custom, hierarchical=True)(x)
    model = keras.Model(inputs, out, name="tree")
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    reloaded = roundtrip_keras(model, x, tmp_path)
    tree = reloaded.layers[-1]
    assert tree.schema.answer_labels == ["ring/yes", "ring/no", "kind/inner", "kind/outer", "kind/both"]
    assert GalaxyZooTree.from_config(GalaxyZooTree("gz2").get_config()).get_config()["schema"] == "gz2"
