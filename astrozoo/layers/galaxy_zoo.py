"""The Galaxy Zoo decision tree as a Keras output layer, and its question/answer schemas.

Volunteers answer a tree of questions ("Is the galaxy smooth or featured?",
"Is it edge-on?", ...); each galaxy gets, for every question, the vote counts
of its answers. A network predicts one distribution per question: the answers
of a question compete (a softmax, or Dirichlet concentrations), the questions
do not. The schemas (GZ2: 11 questions, 37 answers; GZ DECaLS: 10 questions,
34 answers) are data in ``astrozoo/data/galaxy_zoo_schemas.json``.
"""

import functools
import json
import pathlib

import keras
from keras import ops

_SCHEMA_FILE = pathlib.Path(__file__).resolve().parents[1] / "data" / "galaxy_zoo_schemas.json"
ACTIVATIONS = ("softmax", "dirichlet")


@functools.lru_cache(maxsize=None)
def _builtin_schemas():
    with open(_SCHEMA_FILE, encoding="utf-8") as f:
        return json.load(f)


class GalaxyZooSchema:
    """Questions, answers and dependencies of a Galaxy Zoo decision tree.

    Answers are laid out question after question, in schema order; answer
    ``j`` of question ``q`` is column ``question_slices[q][0] + j`` of the
    model output and of the vote table. Labels are ``"question/answer"``.

    Args:
        questions: list of dicts ``{"name", "answers", "depends_on"}`` where
            ``depends_on`` is ``None`` (always asked) or the label
            ``"question/answer"`` of the answer that leads to the question.
        name: a name for messages and configs.
    """

    def __init__(self, questions, name="custom"):
        if not questions:
            raise ValueError(f"A Galaxy Zoo schema needs at least one question. Received: {questions!r}")
        self.name = str(name)
        self.questions = []
        seen = set()
        for q in questions:
            if not isinstance(q, dict) or "name" not in q or "answers" not in q:
                raise ValueError(
                    f"Each question must be a dict with 'name' and 'answers'. Received: {q!r}"
                )
            if q["name"] in seen:
                raise ValueError(f"Question {q['name']!r} appears twice in schema {self.name!r}.")
            if len(q["answers"]) < 2:
                raise ValueError(
                    f"Question {q['name']!r} needs at least 2 answers. Received: {q['answers']!r}"
                )
            seen.add(q["name"])
            self.questions.append(
                {"name": q["name"], "answers": list(q["answers"]), "depends_on": q.get("depends_on")}
            )
        self.question_names = [q["name"] for q in self.questions]
        self.answer_labels = [f"{q['name']}/{a}" for q in self.questions for a in q["answers"]]
        self.question_slices = []
        start = 0
        for q in self.questions:
            self.question_slices.append((start, start + len(q["answers"])))
            start += len(q["answers"])
        labels = set(self.answer_labels)
        for q in self.questions:
            if q["depends_on"] is not None and q["depends_on"] not in labels:
                raise ValueError(
                    f"Question {q['name']!r} depends on {q['depends_on']!r}, which is not an answer "
                    f"of schema {self.name!r}."
                )

    @property
    def num_questions(self):
        return len(self.questions)

    @property
    def num_answers(self):
        return len(self.answer_labels)

    def answer_index(self, label):
        """Column of the answer ``"question/answer"``."""
        try:
            return self.answer_labels.index(label)
        except ValueError:
            raise ValueError(f"{label!r} is not an answer of schema {self.name!r}.") from None

    def parent_index(self):
        """For each question, the column of the answer it depends on, or -1."""
        return [
            -1 if q["depends_on"] is None else self.answer_index(q["depends_on"]) for q in self.questions
        ]

    def question_of_answer(self):
        """For each answer column, the index of its question."""
        return [qi for qi, (s, e) in enumerate(self.question_slices) for _ in range(s, e)]

    def get_config(self):
        return {"name": self.name, "questions": [dict(q) for q in self.questions]}

    def __repr__(self):
        return (
            f"GalaxyZooSchema(name={self.name!r}, questions={self.num_questions}, "
            f"answers={self.num_answers})"
        )


def galaxy_zoo_schema(schema="gz2"):
    """A :class:`GalaxyZooSchema` from a built-in name (``"gz2"``, ``"decals"``), a config dict or itself."""
    if isinstance(schema, GalaxyZooSchema):
        return schema
    if isinstance(schema, str):
        builtin = _builtin_schemas()
        if schema not in builtin:
            raise ValueError(
                f"Unknown Galaxy Zoo schema {schema!r}; expected one of {sorted(builtin)} "
                "or a dict {'name', 'questions'}."
            )
        return GalaxyZooSchema(builtin[schema]["questions"], name=schema)
    if isinstance(schema, dict) and "questions" in schema:
        return GalaxyZooSchema(schema["questions"], name=schema.get("name", "custom"))
    raise ValueError(
        f"`schema` should be 'gz2', 'decals', a dict with 'questions' or a GalaxyZooSchema. "
        f"Received: {schema!r}"
    )


def _schema_config(schema):
    # Built-in schemas are saved by name so that configs stay short.
    if schema.name in _builtin_schemas() and schema.get_config()["questions"] == [
        {"name": q["name"], "answers": q["answers"], "depends_on": q.get("depends_on")}
        for q in _builtin_schemas()[schema.name]["questions"]
    ]:
        return schema.name
    return schema.get_config()


@keras.saving.register_keras_serializable(package="astrozoo")
class GalaxyZooTree(keras.layers.Layer):
    """Galaxy Zoo decision-tree output: one distribution per question.

    The input holds one logit per answer (``schema.num_answers`` of them, e.g.
    from a ``Dense(37)`` for GZ2). With ``activation="softmax"`` the output is
    the predicted vote fractions: a softmax within each question, so the
    answers of every question sum to 1. With ``activation="dirichlet"`` it is
    Zoobot's Dirichlet concentrations ``1 + (max_concentration - 1) *
    sigmoid(logit)``, to be trained with
    :class:`astrozoo.losses.DirichletMultinomialLoss`; their normalised
    values within each question are the expected vote fractions.

    With ``hierarchical=True`` (softmax only) each question's fractions are
    multiplied by the predicted fraction of the answer it depends on, giving
    the cumulative probabilities of the Kaggle Galaxy Zoo challenge.

    Args:
        schema: ``"gz2"``, ``"decals"``, a dict ``{"name", "questions"}`` or a
            :class:`GalaxyZooSchema`.
        activation: ``"softmax"`` or ``"dirichlet"``.
        max_concentration: upper bound of the Dirichlet concentrations.
        hierarchical: multiply by the parent answer's fraction (softmax only).
    """

    def __init__(self, schema="gz2", activation="softmax", max_concentration=100.0, hierarchical=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.schema = galaxy_zoo_schema(schema)
        if activation not in ACTIVATIONS:
            raise ValueError(f"`activation` should be one of {ACTIVATIONS}. Received: activation={activation!r}")
        if float(max_concentration) <= 1.0:
            raise ValueError(f"`max_concentration` must be > 1. Received: max_concentration={max_concentration!r}")
        if hierarchical and activation != "softmax":
            raise ValueError("`hierarchical=True` needs activation='softmax' (fractions, not concentrations).")
        self.activation = activation
        self.max_concentration = float(max_concentration)
        self.hierarchical = bool(hierarchical)
        if self.hierarchical:
            # Parents must come before their children for a single pass.
            order = {n: i for i, n in enumerate(self.schema.question_names)}
            for q in self.schema.questions:
                if q["depends_on"] and order[q["depends_on"].split("/")[0]] >= order[q["name"]]:
                    raise ValueError(
                        f"hierarchical=True needs each question after the one it depends on; "
                        f"{q['name']!r} comes before {q['depends_on']!r}."
                    )

    def build(self, input_shape):
        if input_shape[-1] != self.schema.num_answers:
            raise ValueError(
                f"GalaxyZooTree({self.schema.name!r}) expects {self.schema.num_answers} logits on the "
                f"last axis (one per answer). Received input shape {tuple(input_shape)}."
            )

    def call(self, logits):
        logits = ops.cast(logits, "float32")
        if self.activation == "dirichlet":
            return 1.0 + (self.max_concentration - 1.0) * ops.sigmoid(logits)
        parts = [ops.softmax(logits[..., s:e], axis=-1) for s, e in self.schema.question_slices]
        if self.hierarchical:
            parents = self.schema.parent_index()
            scaled = []
            for qi, p in enumerate(parts):
                if parents[qi] >= 0:
                    # The parent column is in an earlier question, already scaled.
                    col = parents[qi]
                    pq = [i for i, (s, e) in enumerate(self.schema.question_slices) if s <= col < e][0]
                    s0 = self.schema.question_slices[pq][0]
                    p = p * scaled[pq][..., col - s0 : col - s0 + 1]
                scaled.append(p)
            parts = scaled
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            schema=_schema_config(self.schema),
            activation=self.activation,
            max_concentration=self.max_concentration,
            hierarchical=self.hierarchical,
        )
        return config


def question_fractions(values, schema="gz2"):
    """Normalise votes or concentrations within each question (NumPy).

    Questions with no votes give NaN fractions, so that they can be masked.
    """
    import numpy as np

    schema = galaxy_zoo_schema(schema)
    values = np.asarray(values, dtype="float64")
    if values.shape[-1] != schema.num_answers:
        raise ValueError(
            f"Expected {schema.num_answers} columns for schema {schema.name!r}; received shape {values.shape}."
        )
    out = np.empty_like(values)
    for s, e in schema.question_slices:
        total = values[..., s:e].sum(-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[..., s:e] = np.where(total > 0, values[..., s:e] / total, np.nan)
    return out
