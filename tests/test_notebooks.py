"""The applications/ notebooks: generated from the scripts, and runnable end to end.

The up-to-date check is in the default suite. Executing the notebooks (each in
quick mode, ``ASTROZOO_QUICK=1``) is marked ``notebooks`` and runs with
``python -m pytest -m notebooks --run-notebooks``.
"""

import importlib.util
import json
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
APPS = REPO / "applications"
NOTEBOOK_TIMEOUT_S = int(os.environ.get("ASTROZOO_NOTEBOOK_TIMEOUT", "900"))


def _make_notebooks():
    spec = importlib.util.spec_from_file_location("make_notebooks", APPS / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebooks():
    return sorted((APPS / "notebooks").glob("*.ipynb"))


def test_every_script_has_an_up_to_date_notebook():
    mk = _make_notebooks()
    assert mk.scripts(), "no Jupytext scripts found in applications/"
    stale = [s.name for s in mk.stale()]
    assert not stale, f"notebooks out of date for {stale}: run python applications/make_notebooks.py"
    orphans = {p.stem for p in _notebooks()} - {s.stem for s in mk.scripts()}
    assert not orphans, f"notebooks without a script in applications/: {sorted(orphans)}"


def test_stale_detects_an_edited_script(tmp_path):
    mk = _make_notebooks()
    script = tmp_path / "demo_task.py"
    script.write_text("# %% [markdown]\n# # Demo\n\n# %%\nx = 1\n")
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    mk.NOTEBOOKS = nb_dir
    assert [p.name for p in mk.stale(tmp_path)] == ["demo_task.py"]
    (nb_dir / "demo_task.ipynb").write_text(mk.render(script))
    assert mk.stale(tmp_path) == []
    script.write_text(script.read_text() + "y = 2\n")
    assert [p.name for p in mk.stale(tmp_path)] == ["demo_task.py"]


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", _notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(notebook, tmp_path, monkeypatch):
    import nbclient
    import nbformat

    # The kernel inherits this environment: quick mode and the checkout
    # importable without installing it. It runs in tmp_path, so the scripts'
    # default outputs/<task>/ folders land there.
    monkeypatch.setenv("ASTROZOO_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=NOTEBOOK_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    metrics = sorted(tmp_path.rglob("metrics.json"))
    assert metrics, f"{notebook.name} wrote no metrics.json under {tmp_path}"
    assert isinstance(json.loads(metrics[0].read_text()), dict)
    assert list(tmp_path.rglob("*.png")), f"{notebook.name} wrote no figure under {tmp_path}"
