"""CI's test line is read from ``.ci/test-line`` (not from the README's prose), and the
README's quick-start block shows that very line, so what a user runs is what CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_block() -> list[str]:
    """The lines of the first fenced block after the README's ``<!-- quick-start`` marker."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    marker = [i for i, ln in enumerate(lines) if ln.startswith("<!-- quick-start")]
    assert len(marker) == 1, "README.md must hold one <!-- quick-start ... --> marker"
    fences = [i for i in range(marker[0] + 1, len(lines)) if lines[i].startswith("```")]
    assert len(fences) >= 2, "no fenced block after the quick-start marker"
    return lines[fences[0] + 1:fences[1]]


def test_ci_test_line_is_one_line_shown_verbatim_in_the_readme_quick_start():
    text = (ROOT / ".ci" / "test-line").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].strip() == lines[0] != "", text
    assert "python -m pytest" in lines[0]
    assert lines[0] in _quick_start_block()


def test_ci_reads_the_test_line_file():
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "line=$(head -n 1 .ci/test-line)" in run
    assert 'bash -euo pipefail -c "$line"' in run
    assert "python -m pytest -m slow" in run
