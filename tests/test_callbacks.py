import keras
import numpy as np

from astrozoo.callbacks import AtomicModelCheckpoint, TimeBudget, plot_history


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_time_budget_stops_training_and_counts_epochs():
    x, y = np.ones((64, 4), "float32"), np.ones((64, 1), "float32")
    budget = TimeBudget(0.0)
    hist = _model().fit(x, y, batch_size=8, epochs=5, callbacks=[budget], verbose=0)
    assert len(hist.history["loss"]) == 1 and budget.epochs_done == 1
    unlimited = TimeBudget(None)
    _model().fit(x, y, batch_size=8, epochs=3, callbacks=[unlimited], verbose=0)
    assert unlimited.epochs_done == 3


def test_atomic_checkpoint_and_curves(tmp_path):
    x, y = np.ones((16, 4), "float32"), np.ones((16, 1), "float32")
    hist = _model().fit(x, y, epochs=2, callbacks=[AtomicModelCheckpoint(tmp_path / "m.keras")], verbose=0)
    assert keras.saving.load_model(tmp_path / "m.keras").count_params() == 5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert plot_history(hist.history, tmp_path / "c.png").stat().st_size > 1000
