"""The astrozoo command: list, info, train (with resume after SIGKILL), evaluate, demo."""

import csv
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from astrozoo import cli

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def test_list_and_info(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "darknet19" in out and "238,570" in out
    assert cli.main(["info", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "parameters: 238,570" in out and "conv1" in out


def test_unknown_model_and_bad_data(capsys):
    assert cli.main(["info", "nope"]) == 2
    assert "Unknown model 'nope'" in capsys.readouterr().err
    assert cli.main(["train", "lenet5", "--data", "/tmp/none.npz", "--out", "/tmp/x"]) == 2
    assert "none.npz" in capsys.readouterr().err


def test_demo_quick(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--epochs", "4"]) == 0
    text = capsys.readouterr().out
    assert "Test accuracy" in text and "Recall" in text
    assert (out / "confusion_matrix.png").is_file() and (out / "training_curves.png").is_file()
    acc = float(text.split("Test accuracy: ")[1].split("%")[0])
    assert acc > 90.0
    # A second demo never overwrites the first one's files.
    (out / "keep.txt").write_text("user file")
    assert cli._fresh_dir(out) != out


def _epochs(path):
    with open(path) as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_train_resumes_after_sigkill(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "astrozoo", "train", "lenet5", "--data", "digits", "--epochs", "4",
           "--batch-size", "16", "--out", str(out), "--verbose", "2"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "log.csv"
    deadline = time.time() + 240
    while time.time() < deadline:
        if log.exists() and len(_epochs(log)) >= 1 and (out / "model.keras").exists():
            break
        if proc.poll() is not None:
            pytest.fail("training ended before it could be interrupted:\n" + proc.stdout.read())
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _epochs(log)
    assert (out / "backup").exists() and (out / "model.keras").exists()
    keras.saving.load_model(out / "model.keras")  # the checkpoint is never half-written

    res = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Resuming" in res.stdout
    first = int(res.stdout.split("Epoch ")[1].split("/")[0])
    assert first >= len(done_before), res.stdout  # finished epochs are not trained again
    epochs = _epochs(log)
    assert set(range(4)) <= set(epochs) and epochs[-1] == 3
    assert not (out / "backup").exists()
    assert (out / "curves.png").is_file() and (out / "confusion_matrix.png").is_file()
    # A finished run is never overwritten.
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already holds a finished run" in again.stderr


def test_evaluate_saved_model(tmp_path, capsys):
    (xt, yt), (xv, yv), _ = cli.load_arrays("digits")
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(xt, yt, epochs=3, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    assert cli.main(["evaluate", str(path), "--data", "digits", "--out", str(tmp_path / "ev")]) == 0
    assert "Correct:" in capsys.readouterr().out
    assert (tmp_path / "ev" / "metrics.json").is_file()


def test_npz_data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.random((20, 8, 8)), y=rng.integers(0, 3, 20))
    (xt, yt), (xv, yv), names = cli.load_arrays(str(path))
    assert xt.shape == (16, 8, 8, 1) and len(xv) == 4 and names == ["0", "1", "2"]
    np.savez(tmp_path / "bad.npz", x=rng.random((20, 8, 8)), y=rng.integers(0, 3, 19))
    with pytest.raises(ValueError, match="20 images but 19 labels"):
        cli.load_arrays(str(tmp_path / "bad.npz"))
