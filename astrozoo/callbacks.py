"""Keras callbacks used by the ``astrozoo train`` command and the applications."""

import os
import pathlib
import tempfile

import keras


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Save the whole model to ``filepath`` (``.keras``) at the end of every epoch, atomically.

    The model is written to a temporary file in the same folder and then moved
    over the target with ``os.replace``, so a run killed while saving never
    leaves a truncated checkpoint behind.
    """

    def __init__(self, filepath):
        super().__init__()
        self.filepath = pathlib.Path(filepath)
        if not str(self.filepath).endswith(".keras"):
            raise ValueError(f"AtomicModelCheckpoint writes .keras files; got filepath={str(filepath)!r}.")

    def on_epoch_end(self, epoch, logs=None):
        self.filepath.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".keras", dir=self.filepath.parent, prefix=".tmp-")
        os.close(fd)
        try:
            self.model.save(tmp)
            os.replace(tmp, self.filepath)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


class TrainingCurves(keras.callbacks.Callback):
    """Plot every logged metric (train and validation) to a PNG after each epoch.

    Reads the CSV log when given, so that curves of a resumed run include the
    epochs of the run before the interruption.
    """

    def __init__(self, png_path, csv_path=None):
        super().__init__()
        self.png_path = pathlib.Path(png_path)
        self.csv_path = None if csv_path is None else pathlib.Path(csv_path)
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        history = self._from_csv() or self.history
        plot_history(history, self.png_path)

    def _from_csv(self):
        if self.csv_path is None or not self.csv_path.exists():
            return None
        import csv

        with open(self.csv_path) as f:
            rows = list(csv.DictReader(f))
        if not rows:
            return None
        return {k: [float(r[k]) for r in rows if r.get(k) not in (None, "")] for k in rows[0] if k != "epoch"}


def plot_history(history, path):
    """Loss and metric curves (one panel per metric, validation dashed) saved as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = [k for k in history if not k.startswith("val_") and k not in ("learning_rate", "lr")]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), squeeze=False)
    for ax, k in zip(axes[0], keys):
        ax.plot(range(1, len(history[k]) + 1), history[k], label=f"train {k}")
        if f"val_{k}" in history:
            v = history[f"val_{k}"]
            ax.plot(range(1, len(v) + 1), v, "--", label=f"val {k}")
        ax.set_xlabel("epoch")
        ax.set_title(k)
        ax.legend()
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class TimeBudget(keras.callbacks.Callback):
    """Stop training once ``minutes`` of wall time have passed (checked after every batch).

    ``epochs_done`` tells how many epochs finished, so that a script can report
    the training it really got on a slow or shared machine. ``minutes=None``
    never stops.
    """

    def __init__(self, minutes):
        super().__init__()
        self.seconds = None if minutes is None else 60.0 * minutes
        self.epochs_done = 0

    def on_train_begin(self, logs=None):
        import time

        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        import time

        if self.seconds is not None and time.time() - self.start > self.seconds:
            self.model.stop_training = True
