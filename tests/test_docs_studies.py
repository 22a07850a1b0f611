"""The studies' report on the site (issue 23): `earthmover study all --quick --out docs/studies/report` wrote
docs/studies/report/, which is committed; the Studies page includes it (docs/hooks.py). The report must hold a
section for every registered study, each figure it shows must be there, it stays small enough to commit, and the
page says which command made it, at which scale, and when."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from earthmover.studies import STUDIES
from earthmover.studies.report import title

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "studies" / "report"
COMMAND = "earthmover study all --quick --out docs/studies/report"
PNG = b"\x89PNG\r\n\x1a\n"


def builtin_studies() -> list[str]:
    """The registered studies that ship with earthmover (a test's plug-in study is not in the committed report)."""
    return [name for name, study in STUDIES.items() if study.run.__module__.startswith("earthmover.studies.")]


def figures(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)


def test_the_committed_report_has_every_registered_study_with_its_figure_and_record():
    index = (REPORT / "index.md").read_text()
    record = json.loads((REPORT / "index.json").read_text())
    names = builtin_studies()
    assert len(names) >= 8
    assert [s["name"] for s in record["sections"]] == names  # every study, in the registry's order
    assert all(s["ok"] for s in record["sections"]), [s["error"] for s in record["sections"] if not s["ok"]]
    for name in names:
        assert f'<a id="{name}"></a>' in index and f"## {title(name)}\n" in index, name
        assert f"[{name}.json]({name}.json)" in index and (REPORT / f"{name}.json").is_file(), name
    shown = figures(index)
    assert sorted(shown) == sorted(f"{name}.png" for name in names)
    for figure in shown:
        assert (REPORT / figure).read_bytes()[:8] == PNG, figure
    header, rows = "| measure | value | the claim needs | holds |", 0
    for table in index.split(header)[1:]:  # each study's numbers: four cells a row (a measure's pipes escaped)
        for line in table.split("\n\n")[0].splitlines()[2:]:
            assert len(re.split(r"(?<!\\)\|", line)) == 6, line
            rows += 1
    assert rows >= 3 * len(names)
    assert record["environment"]["scale"].startswith("quick")
    size = sum(p.stat().st_size for p in REPORT.iterdir())
    assert size < 3 * 2**20, f"docs/studies/report/ holds {size / 2**20:.1f} MiB; keep what is committed small"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs missing: pip install -e '.[docs]'")
def test_the_studies_page_shows_the_committed_report_and_says_where_it_comes_from(monkeypatch):
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    monkeypatch.delenv("EARTHMOVER_DOCS_STUDIES", raising=False)
    pages = hooks.studies_pages()
    page = pages["studies/report.md"]
    environment = json.loads((REPORT / "index.json").read_text())["environment"]
    assert f"the output of `{COMMAND}`" in page and f"run {environment['date']}" in page
    assert "scale **quick**" in page
    for name in builtin_studies():
        assert f"### {title(name)}\n" in page, name  # the report's sections, one level below the page's title
        assert pages[f"studies/{name}.json"] == (REPORT / f"{name}.json").read_bytes()
    for figure in figures(page.split("\n---\n", 1)[1]):  # every figure the report shows is published beside it
        assert pages[f"studies/{figure}"] == (REPORT / figure).read_bytes(), figure
