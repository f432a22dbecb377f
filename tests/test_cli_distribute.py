"""``astrozoo train --distribute``."""

import json

import pytest

from astrozoo import cli


@pytest.mark.slow  # a full CLI training run (~15 s); the option parsing is checked below
def test_train_mirrored(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", "lenet5", "--data", "digits", "--epochs", "1", "--batch-size", "64",
                   "--distribute", "mirrored", "--out", str(out), "--verbose", "0"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Distributing with mirrored over 1 replicas (global batch 64)" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and (out / "model.keras").is_file()


def test_wrong_backend_fails_before_any_work(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(SystemExit, match="needs the jax backend"):
        cli.main(["train", "lenet5", "--data", "digits", "--distribute", "data_parallel", "--out", str(out)])
    assert not out.exists()
