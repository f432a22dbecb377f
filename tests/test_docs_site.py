"""The MkDocs hooks of the documentation site (docs/_hooks/astrozoo_docs.py)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("astrozoo_docs_hooks", REPO / "docs" / "_hooks" / "astrozoo_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prune_nav_drops_missing_pages_and_empty_sections(hooks, tmp_path):
    (tmp_path / "index.md").write_text("# x")
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "a.md").write_text("# a")
    nav = [
        {"Home": "index.md"},
        {"Guides": [{"A": "guides/a.md"}, {"B": "guides/b.md"}, "guides/c.md"]},
        {"Gone": [{"X": "x.md"}]},
        {"External": "https://example.org"},
        {"Generated": "models/gen.md"},
    ]
    out = hooks.prune_nav(nav, tmp_path, available=("models/gen.md",))
    assert out == [
        {"Home": "index.md"},
        {"Guides": [{"A": "guides/a.md"}]},
        {"External": "https://example.org"},
        {"Generated": "models/gen.md"},
    ]


def test_models_table_is_built_from_the_registry(hooks, monkeypatch):
    monkeypatch.setenv("ASTROZOO_DOCS_NO_FLOPS", "1")
    hooks.model_stats.cache_clear()
    table = hooks.models_table("lenet")
    assert "| `lenet5` | lenet | image_classification | 28x28x1 | 238,570 | n/a |" in table
    assert "LeCun et al. 1998" in table
    with pytest.raises(ValueError, match="No registered model has family 'nope'"):
        hooks.models_table("nope")
    hooks.model_stats.cache_clear()


def test_markers_are_replaced(hooks, monkeypatch):
    monkeypatch.setenv("ASTROZOO_DOCS_NO_FLOPS", "1")
    page = "before\n<!-- astrozoo:models family=cianna_cnn -->\nafter"
    out = hooks.on_page_markdown(page, page=None, config=None, files=None)
    assert "astrozoo:models" not in out
    assert "| `asirra_cnn` |" in out and "586,114" in out
    hooks.model_stats.cache_clear()


def test_count_flops_of_lenet5(hooks):
    from astrozoo.applications import lenet5

    flops = hooks.count_flops(lenet5())
    # Convolutions and dense layers alone: 2 x multiply-adds = 2.04 M, plus
    # bias additions, activations and pooling.
    assert 2.04e6 <= flops <= 2.2e6, flops
    from astrozoo.applications import vae

    assert hooks.count_flops(vae()) is None  # subclassed: no layer graph to count


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    env = dict(os.environ, ASTROZOO_DOCS_NO_FLOPS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert (tmp_path / "site" / "models" / "lenet" / "index.html").is_file()
