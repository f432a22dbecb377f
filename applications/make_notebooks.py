"""Regenerate applications/notebooks/*.ipynb from the Jupytext scripts in applications/.

Every ``applications/<task>.py`` written in the Jupytext "percent" format (it
has ``# %%`` cell markers) becomes ``applications/notebooks/<task>.ipynb``
without outputs. Run it after editing a script; ``--check`` only reports the
notebooks that are missing or out of date (exit status 1), as the test suite does.

    python applications/make_notebooks.py          # write the notebooks
    python applications/make_notebooks.py --check  # verify them
"""

import argparse
import pathlib
import sys

import jupytext
import nbformat

HERE = pathlib.Path(__file__).resolve().parent
NOTEBOOKS = HERE / "notebooks"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def scripts(folder=HERE):
    """The Jupytext percent scripts of ``folder`` (helpers without cell markers are skipped)."""
    out = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_") or path.name == pathlib.Path(__file__).name:
            continue
        if "# %%" in path.read_text(encoding="utf-8"):
            out.append(path)
    return out


def render(script):
    """The notebook text (nbformat 4 JSON) that ``script`` generates."""
    nb = jupytext.read(script, fmt="py:percent")
    # Fixed metadata so that the output depends only on the script's text.
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        "jupytext": {"formats": "ipynb,py:percent", "source": f"../{script.name}"},
    }
    for i, cell in enumerate(nb.cells):
        cell.metadata = {}
        cell.id = f"{script.stem[:40]}-{i}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def notebook_path(script):
    return NOTEBOOKS / (script.stem + ".ipynb")


def stale(folder=HERE):
    """Scripts whose notebook is missing or differs from what ``render`` gives."""
    out = []
    for script in scripts(folder):
        target = notebook_path(script)
        if not target.is_file() or target.read_text(encoding="utf-8") != render(script):
            out.append(script)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report out-of-date notebooks")
    args = parser.parse_args(argv)
    outdated = stale()
    if args.check:
        for s in outdated:
            print(f"out of date: {notebook_path(s).relative_to(HERE.parent)} (run python applications/make_notebooks.py)")
        return 1 if outdated else 0
    NOTEBOOKS.mkdir(exist_ok=True)
    for script in outdated:
        notebook_path(script).write_text(render(script), encoding="utf-8")
        print(f"wrote {notebook_path(script).relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
