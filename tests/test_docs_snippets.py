"""Every ```python block of docs/**/*.md and README.md runs, and prints what it says.

Blocks of one page run in order in one namespace (a page reads like a
session). A block fenced as ```python notest is shown but not run (it needs a
GPU, big data or another backend). A page whose snippet needs ../shared/data
is skipped when that folder is absent. A ``print(...)  # text`` line claims that
``text`` appears in what the block prints; the test checks it.
"""

import contextlib
import io
import pathlib
import re

import pytest

from astrozoo.utils import shared_data_dir

REPO = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
CLAIM = re.compile(r"^\s*print\(.*\)\s+#\s*(?P<text>\S.*?)\s*$")


def extract_snippets(text):
    """``(line_number, code)`` of the runnable python blocks of a Markdown text."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), m.group("indent")
        words = m.group("info").strip().split()
        start = i + 1
        j = start
        while j < len(lines) and not (
            lines[j].strip().startswith(fence) and lines[j].strip().strip(fence[0]) == ""
        ):
            j += 1
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[start:j]]
        if words and words[0] in ("python", "py") and "notest" not in words[1:]:
            out.append((start + 1, "\n".join(body) + "\n"))
        i = j + 1
    return out


def claims(code):
    return [m.group("text") for m in map(CLAIM.match, code.splitlines()) if m]


def _pages():
    pages = sorted(p for p in (REPO / "docs").rglob("*.md") if "_hooks" not in p.parts)
    if (REPO / "README.md").is_file():
        pages.append(REPO / "README.md")
    return [p for p in pages if extract_snippets(p.read_text(encoding="utf-8"))]


def test_extract_snippets_skips_notest_and_other_languages():
    text = (
        "intro\n```python\nx = 1\n```\n"
        "```python notest\nraise SystemExit\n```\n"
        "```bash\nrm -rf /\n```\n"
        "  ````py\n  y = [1,\n  2]\n  ````\n"
    )
    snippets = extract_snippets(text)
    assert [code for _, code in snippets] == ["x = 1\n", "y = [1,\n2]\n"]
    assert [line for line, _ in snippets] == [3, 12]


def test_claims_are_the_comments_of_print_lines():
    code = "a = 2  # not a claim\nprint(a)  # 2\nprint(a, a) #   2 2  \n"
    assert claims(code) == ["2", "2 2"]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_page_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    namespace = {"__name__": f"docs_snippet_{page.stem}"}
    for line, code in extract_snippets(page.read_text(encoding="utf-8")):
        where = f"{page.relative_to(REPO)}:{line}"
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, where, "exec"), namespace)  # noqa: S102
        except FileNotFoundError as e:
            # Pages that show the real data need ../shared/data; without it the page is skipped.
            if shared_data_dir() is None:
                pytest.skip(f"{where} needs the shared data folder: {e}")
            raise
        printed = buffer.getvalue()
        for text in claims(code):
            assert text in printed, f"{where}: the block claims to print {text!r} but printed:\n{printed}"
