"""`earthmover study all`: the page's structure. Two fast studies run for real; the structure
checks hold for any set of studies (every image exists, every study has a section, a verdict
and its numbers)."""

import html
import json
import re
from html.parser import HTMLParser

from earthmover.cli import main
from earthmover.studies import STUDIES, report


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.sections, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src"))
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def _check_page(out, names):
    page_html = (out / "index.html").read_text()
    md = (out / "index.md").read_text()
    data = json.loads((out / "index.json").read_text())
    page = _Page()
    page.feed(page_html)
    # every image the page references exists, and is a PNG
    assert page.images and all((out / src).read_bytes()[:4] == b"\x89PNG" for src in page.images)
    for src in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / src).is_file()
    # every local link (figures' JSON, anchors) resolves
    for href in page.links:
        if href.startswith("#"):
            assert href[1:] in page.sections
        else:
            assert (out / href).is_file()
    assert page.sections == names and [s["name"] for s in data["sections"]] == names
    for s in data["sections"]:
        chunk = page_html.split(f'<section id="{s["name"]}">')[1].split("</section>")[0]
        assert report.title(s["name"]) in chunk and f"## {report.title(s['name'])}" in md
        if not s["ok"]:
            assert "did not run" in chunk
            continue
        rec = s["record"]
        assert rec["verdict"] in ("holds", "does not hold")
        assert 'class="verdict' in chunk and rec["verdict"] in chunk and f"Verdict: {rec['verdict']}" in md
        assert html.escape(rec["claim"]) in chunk and rec["claim"] in md
        assert rec["checks"]
        for c in rec["checks"]:  # the measured numbers, against the claim's threshold
            assert html.escape(c["what"]) in chunk and html.escape(report._fmt(c["value"])) in chunk
            assert html.escape(c["threshold"]) in chunk
            row = (c["what"], report._fmt(c["value"]), c["threshold"])
            assert "| " + " | ".join(x.replace("|", "\\|") for x in row) + " |" in md  # a measure's pipes escaped
    env = data["environment"]
    for key in ("machine", "torch", "seed", "seconds"):
        assert html.escape(str(env[key])) in page_html and str(env[key]) in md


def test_report_runs_studies_and_writes_a_page_with_every_section(tmp_path, capsys):
    names = ["parallel-lines", "duality"]
    data = report.run_all(tmp_path, seed=0, quick=True, names=names)
    assert [s["verdict"] if "verdict" in s else s["record"]["verdict"] for s in data["sections"]] == ["holds", "holds"]
    _check_page(tmp_path, names)


def test_a_failed_study_keeps_its_section(tmp_path, monkeypatch):
    from earthmover.studies import runner

    real = runner.run_study

    def flaky(name, *args, **kwargs):
        if name == "duality":
            raise RuntimeError("no solver")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(runner, "run_study", flaky)
    data = report.run_all(tmp_path, seed=0, quick=True, names=["parallel-lines", "duality"])
    assert data["sections"][1]["ok"] is False and "no solver" in data["sections"][1]["error"]
    _check_page(tmp_path, ["parallel-lines", "duality"])
    assert "no solver" in (tmp_path / "index.html").read_text()


def test_every_study_has_a_title_and_a_reason_and_a_place_in_the_story():
    assert STUDIES.names()[:8] == [
        "parallel-lines",
        "vanishing-gradients",
        "critic-vs-discriminator",
        "duality",
        "clipping-vs-penalty",
        "critic-tracks-quality",
        "mode-collapse",
        "architecture-robustness",
    ]  # the order of the argument: the report's sections follow the registry
    for i, (name, study) in enumerate(STUDIES.items()):
        assert report.title(name) == f"{i + 1}. {study.title}" and len(study.why) > 100
        assert study.claim.endswith(".") and study.paper and callable(study.checks) and study.name == name


def test_mode_collapse_section_shows_the_published_figures():
    rec = {
        "name": "mode-collapse",
        "ok": True,
        "figure": "mode-collapse.png",
        "record": {
            "study": "mode-collapse",
            "seed": 0,
            "quick": True,
            "seconds": 1.0,
            "claim": "c.",
            "paper": "p",
            "verdict": "does not hold",
            "checks": [{"what": "w", "value": 1.0, "threshold": ">= 2", "holds": False}],
            "notes": ["Scale: 1 seed"],
            "result": {
                "steps": 10,
                "published": [["GAN", 17.3, 0.948], ["PacGAN4", 24.8, 0.936]],
                "cells": [
                    {
                        "dataset": "25gaussians",
                        "preset": "wgan-gp",
                        "seeds": [0],
                        "mean": {"modes_covered": 20.0, "high_quality": 0.5},
                    }
                ],
            },
        },
    }
    env = report.environment(0, True) | {"seconds": 1.0}
    page = report.render_html({"environment": env, "sections": [rec]})
    md = report.render_markdown({"environment": env, "sections": [rec]})
    for text in (page, md):
        assert "17.3 / 25" in text and "94.8%" in text and "24.8 / 25" in text and "20.0 / 25" in text
        assert "networks" in text and "differ" in text  # the caveat
        assert "Scale: 1 seed" in text


def test_study_all_command(tmp_path, capsys, monkeypatch):
    calls = {}

    def fake_run_all(out, seed, quick, names=None, echo=None):
        calls.update(out=str(out), seed=seed, quick=quick, names=names)
        return {"environment": {"seconds": 0.1}, "sections": []}

    monkeypatch.setattr(report, "run_all", fake_run_all)
    assert main(["study", "all", "--quick", "--out", str(tmp_path), "--seed", "3"]) == 0
    assert calls == {"out": str(tmp_path), "seed": 3, "quick": True, "names": None}
    assert "index.html" in capsys.readouterr().out
    args = ["study", "all", "--out", str(tmp_path), "--only", "duality,parallel-lines"]
    assert main(args) == 0 and calls["names"] == ["duality", "parallel-lines"]
    assert main([*args[:-1], "dualty"]) == 2 and "did you mean 'duality'" in capsys.readouterr().err


def test_a_measure_with_pipes_stays_one_row_of_four_cells_in_the_markdown():
    """parallel-lines' measures read "max |W_est - |theta||": unescaped, their pipes split the row into more cells."""
    rec = {
        "name": "parallel-lines",
        "ok": True,
        "figure": "parallel-lines.png",
        "record": {
            "study": "parallel-lines",
            "seed": 0,
            "quick": True,
            "seconds": 1.0,
            "claim": "c.",
            "paper": "p",
            "verdict": "holds",
            "checks": [{"what": "max |W_est - |theta||", "value": 0.002, "threshold": "< 0.02 | theta", "holds": True}],
            "result": {},
        },
    }
    env = report.environment(0, True) | {"seconds": 1.0}
    md = report.render_markdown({"environment": env, "sections": [rec]})
    row = next(line for line in md.splitlines() if "W_est" in line)
    cells = re.split(r"(?<!\\)\|", row)[1:-1]  # split at the pipes that are not escaped
    assert cells == [" max \\|W_est - \\|theta\\|\\| ", " 0.002 ", " < 0.02 \\| theta ", " yes "]
