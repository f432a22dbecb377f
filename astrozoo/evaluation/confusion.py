"""Confusion matrix with per-class recall and precision, as CIANNA prints it."""

import dataclasses
import pathlib

import numpy as np


@dataclasses.dataclass
class ConfusionMatrix:
    """Counts ``matrix[true, predicted]`` with the derived per-class metrics."""

    matrix: np.ndarray
    class_names: list

    @property
    def recall(self):
        support = self.matrix.sum(axis=1)
        return np.divide(np.diag(self.matrix), support, out=np.full(len(support), np.nan), where=support > 0)

    @property
    def precision(self):
        predicted = self.matrix.sum(axis=0)
        return np.divide(
            np.diag(self.matrix), predicted, out=np.full(len(predicted), np.nan), where=predicted > 0
        )

    @property
    def accuracy(self):
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def table(self):
        """The matrix as text: true classes in rows, Recall column, Precision row, accuracy."""
        names = [str(n) for n in self.class_names]
        width = max(9, max(len(n) for n in names) + 1, len(str(int(self.matrix.max(initial=0)))) + 1)
        head = " " * 12 + "".join(f"{n[:width - 1]:>{width}}" for n in names) + f"{'Recall':>10}"
        lines = ["Confusion matrix (rows: true class, columns: predicted class)", head]
        for i, name in enumerate(names):
            row = "".join(f"{int(v):>{width}d}" for v in self.matrix[i])
            lines.append(f"{name[:11]:>11} " + row + f"{_pct(self.recall[i]):>10}")
        lines.append(f"{'Precision':>11} " + "".join(f"{_pct(p):>{width}}" for p in self.precision))
        lines.append(f"Correct: {self.accuracy * 100:.2f}%  ({int(np.trace(self.matrix))}/{int(self.matrix.sum())})")
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def plot(self, path=None, normalize=True, title=None):
        """Draw the matrix (row-normalised by default); save a PNG when ``path`` is given."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        m = self.matrix.astype(float)
        if normalize:
            m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        n = len(self.class_names)
        fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n))
        im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1 if normalize else None)
        ax.set_xticks(range(n), [str(c) for c in self.class_names], rotation=45, ha="right")
        ax.set_yticks(range(n), [str(c) for c in self.class_names])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if n <= 20:
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, int(self.matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if m[i, j] > 0.5 * (m.max() or 1) else "black")
        ax.set_title(title or f"accuracy {self.accuracy * 100:.2f}%")
        fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()
        if path is not None:
            path = pathlib.Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig


def _pct(v):
    return "-" if np.isnan(v) else f"{v * 100:.2f}%"


def confusion_matrix(y_true, y_pred, num_classes=None, class_names=None):
    """Build a :class:`ConfusionMatrix`.

    Args:
        y_true: integer labels ``(N,)`` or one-hot ``(N, C)``.
        y_pred: integer predictions ``(N,)`` or scores/probabilities ``(N, C)`` (argmax is taken).
        num_classes: number of classes; inferred from the inputs or ``class_names`` if omitted.
        class_names: names shown in the table and plot (default: ``0..C-1``).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim == 2:
        y_true = y_true.argmax(-1)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(-1)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must hold one label per sample; got shapes {y_true.shape} and {y_pred.shape}."
        )
    y_true = y_true.astype(int)
    y_pred = y_pred.astype(int)
    if num_classes is None:
        num_classes = len(class_names) if class_names is not None else int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    if class_names is None:
        class_names = list(range(num_classes))
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class_names given for num_classes={num_classes}.")
    bad = (y_true < 0) | (y_true >= num_classes) | (y_pred < 0) | (y_pred >= num_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"Label out of range [0, {num_classes}) at index {i}: y_true={y_true[i]}, y_pred={y_pred[i]}."
        )
    m = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)
    return ConfusionMatrix(matrix=m, class_names=list(class_names))
