"""``earthmover study all``: run every study and write one page that tells the story.

DIR/index.html (self-contained but for the figures beside it) and DIR/index.md hold, for each
study in the order of the registry (the built-ins in the order of the argument, then plug-ins),
the claim in one sentence, the paper, why it matters, the
figure, the measured numbers against the claim's thresholds and a verdict (holds / does not hold);
at the top the machine, the torch version, the seed, the scale (--quick or full) and the time taken.
A study that fails to run gets its section too, with the error in place of the numbers.
"""

from __future__ import annotations

import html
import json
import math
import platform
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from earthmover.studies import runner
from earthmover.studies.registry import STUDIES, Appendix


def title(name: str) -> str:
    """The section title of study ``name``, numbered by its place in the registry (the report's order)."""
    if name not in STUDIES:
        return name
    return f"{STUDIES.names().index(name) + 1}. {STUDIES[name].title}"


INTRO = (
    "A GAN trains a generator by playing it against a second network. In the original GAN that network "
    "is a discriminator and the game minimizes, at best, the Jensen-Shannon divergence between the real "
    "and generated distributions. The Wasserstein GAN replaces it with the earth mover's distance W, "
    "estimated by a critic held 1-Lipschitz. Each section below reproduces one claim of that argument "
    "with earthmover's own code, shows the figure, and holds the measured numbers against a threshold "
    "stated before the run: the verdict says whether the claim held here."
)

QUICK_NOTE = (
    "This page was made at --quick scale. The studies that train GANs (6-8) then run hundreds of steps "
    'where the papers ran 10^5: a "does not hold" there reports what that budget shows (nothing has '
    "trained yet), not a refutation; each section states its scale."
)

# --------------------------------------------------------------------------- running


def environment(seed: int, quick: bool) -> dict:
    import os

    import torch

    return {
        "machine": f"{platform.node() or 'unknown host'}: {platform.platform()}, {os.cpu_count()} CPU cores"
        + (f", CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seed": int(seed),
        "scale": "quick (--quick: the small versions, minutes in all)" if quick else "full",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run_all(out: str | Path, seed: int = 0, quick: bool = False, names: list[str] | None = None, echo=None) -> dict:
    """Run the studies (default: all, in registration order), write DIR/NAME.png|json per study and
    DIR/index.html, DIR/index.md; return the report's data (also written as DIR/index.json)."""
    out = Path(out)
    names = list(names or STUDIES.names())
    start = time.perf_counter()
    sections: list[dict] = []
    for name in names:
        if echo:
            echo(f"[{len(sections) + 1}/{len(names)}] {name} ...")
        t0 = time.perf_counter()
        try:
            _, png, json_path = runner.run_study(name, out, seed, quick)
            record = json.loads(json_path.read_text())
            sections.append(
                {
                    "name": name,
                    "ok": True,
                    "figure": png.name,
                    "record": record,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
        except Exception as exc:  # a failed study still gets its section, with the error
            sections.append(
                {
                    "name": name,
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(limit=3),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
        if echo:
            s = sections[-1]
            echo(f"    {s['record']['verdict'] if s['ok'] else 'failed: ' + s['error']} ({s['seconds']} s)")
    report = {
        "environment": {**environment(seed, quick), "seconds": round(time.perf_counter() - start, 1)},
        "sections": sections,
    }
    (out / "index.json").write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    (out / "index.md").write_text(render_markdown(report))
    (out / "index.html").write_text(render_html(report))
    return report


# --------------------------------------------------------------------------- rendering


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0:
            return "0"
        if abs(v) >= 1e4 or abs(v) < 1e-3:
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(v)


def _cell(text) -> str:
    """Text for a Markdown table cell: a measure such as "max |W_est - |theta||" would split the row at its pipes."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _verdict(section: dict) -> str:
    return section["record"]["verdict"] if section["ok"] else "did not run"


def _summary_rows(report: dict) -> list[list]:
    return [[title(s["name"]), _verdict(s)] for s in report["sections"]]


def _appendix(name: str) -> Appendix | None:
    return STUDIES[name].appendix if name in STUDIES else None


def _why(name: str) -> str:
    return STUDIES[name].why if name in STUDIES else ""


def render_markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# Why the Wasserstein GAN exists: the claims, reproduced",
        "",
        INTRO,
        "",
        f"- machine: {env['machine']}",
        f"- torch {env['torch']}, python {env['python']}, {env['threads']} threads",
        f"- seed {env['seed']}, scale: {env['scale']}",
        f"- run {env['date']}, {env['seconds']} s in all",
        "",
        *([QUICK_NOTE, ""] if env["scale"].startswith("quick") else []),
        "| study | verdict |",
        "| --- | --- |",
    ]
    lines += [
        f"| [{_cell(t)}](#{s['name']}) | **{v}** |" for (t, v), s in zip(_summary_rows(report), report["sections"])
    ]
    for s in report["sections"]:
        name = s["name"]
        lines += ["", f'<a id="{name}"></a>', "", f"## {title(name)}", ""]
        if not s["ok"]:
            lines += [f"**Verdict: did not run.** `earthmover study {name}` failed: `{s['error']}`", ""]
            continue
        rec = s["record"]
        lines += [
            f"**Claim.** {rec['claim']}",
            "",
            f"**Paper.** {rec['paper']}",
            "",
            _why(name),
            "",
            f"![{name}]({s['figure']})",
            "",
            "| measure | value | the claim needs | holds |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {_cell(c['what'])} | {_cell(_fmt(c['value']))} | {_cell(c['threshold'])} | "
            + ("yes |" if c["holds"] else "**no** |")
            for c in rec["checks"]
        ]
        lines += [
            "",
            f"**Verdict: {rec['verdict']}.** `earthmover study {name} --seed {rec['seed']}"
            f"{' --quick' if rec['quick'] else ''}` ({rec['seconds']:.1f} s); numbers in [{name}.json]({name}.json).",
        ]
        notes = rec.get("notes") or []
        if notes:
            lines += [""] + [f"- {n}" for n in notes]
        appendix = _appendix(name)
        if appendix is not None:
            lines += [
                "",
                appendix.caveat,
                "",
                f"| {' | '.join(appendix.header)} |",
                "|" + " --- |" * len(appendix.header),
            ]
            lines += [f"| {' | '.join(_cell(c) for c in r)} |" for r in appendix.rows(rec["result"])]
    return "\n".join(lines) + "\n"


CSS = """
body { font: 16px/1.55 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d232a;
       background: #fafafa; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 1.9em; margin: 0.4em 0 0.3em; }
h2 { font-size: 1.35em; margin: 2.2em 0 0.5em; padding-top: 0.6em; border-top: 1px solid #e3e6ea; }
p.lead { font-size: 1.08em; }
.env { color: #4a5560; font-size: 0.92em; margin: 0.6em 0 1.2em; }
.env span { display: inline-block; margin-right: 1.4em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; width: 100%; }
th, td { border: 1px solid #dde1e5; padding: 5px 9px; text-align: left; vertical-align: top; }
th { background: #f2f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600; font-size: 0.92em;
           white-space: nowrap; }
.holds { background: #dff3e4; color: #175c2c; }
.fails { background: #fbe3e1; color: #8a1f17; }
.norun { background: #eceff1; color: #50595f; }
.claim { font-size: 1.05em; border-left: 4px solid #3b7dd8; padding: 4px 12px; background: #f4f8fd; margin: 0.6em 0; }
.paper { color: #4a5560; font-size: 0.95em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6ea; display: block; margin: 0 auto; }
code { font-size: 0.9em; background: #f2f4f6; padding: 1px 4px; border-radius: 3px; }
.caveat { color: #4a5560; font-size: 0.95em; }
.cmd { color: #4a5560; font-size: 0.9em; }
"""


def _badge(verdict: str) -> str:
    cls = {"holds": "holds", "does not hold": "fails"}.get(verdict, "norun")
    return f'<span class="verdict {cls}">{html.escape(verdict)}</span>'


def _table(header: list[str], rows: list[list], numeric: frozenset[int] | set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict) -> str:
    e = html.escape
    env = report["environment"]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>earthmover: why the Wasserstein GAN exists</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<h1>Why the Wasserstein GAN exists: the claims, reproduced</h1>",
        f'<p class="lead">{e(INTRO)}</p>',
        '<div class="env">'
        + "".join(
            f"<span><b>{k}</b> {e(str(v))}</span>"
            for k, v in (
                ("machine", env["machine"]),
                ("torch", env["torch"]),
                ("python", env["python"]),
                ("threads", env["threads"]),
                ("seed", env["seed"]),
                ("scale", env["scale"]),
                ("run", env["date"]),
                ("time taken", f"{env['seconds']} s"),
            )
        )
        + "</div>",
    ]
    if env["scale"].startswith("quick"):
        parts.append(f'<p class="caveat">{e(QUICK_NOTE)}</p>')
    rows = [
        [f'<a href="#{s["name"]}">{e(t)}</a>', _badge(v)]
        for (t, v), s in zip(_summary_rows(report), report["sections"])
    ]
    parts.append(_table(["study", "verdict"], rows))
    for s in report["sections"]:
        name = s["name"]
        parts.append(f'<section id="{e(name)}"><h2>{e(title(name))} {_badge(_verdict(s))}</h2>')
        if not s["ok"]:
            parts.append(
                f"<p><code>earthmover study {e(name)}</code> failed: <code>{e(s['error'])}</code></p></section>"
            )
            continue
        rec = s["record"]
        parts += [
            f'<p class="claim"><b>Claim.</b> {e(rec["claim"])}</p>',
            f'<p class="paper"><b>Paper.</b> {e(rec["paper"])}</p>',
            f"<p>{e(_why(name))}</p>",
            f'<figure><img src="{e(s["figure"])}" alt="figure of the {e(name)} study"></figure>',
        ]
        rows = [
            [e(c["what"]), e(_fmt(c["value"])), e(c["threshold"]), _badge("holds" if c["holds"] else "does not hold")]
            for c in rec["checks"]
        ]
        parts.append(_table(["measure", "value", "the claim needs", "holds"], rows, numeric={1}))
        notes = rec.get("notes") or []
        if notes:
            parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
        appendix = _appendix(name)
        if appendix is not None:
            parts.append(f'<p class="caveat">{e(appendix.caveat)}</p>')
            rows = [[e(x) for x in r] for r in appendix.rows(rec["result"])]
            parts.append(_table(appendix.header, rows, numeric=set(range(1, len(appendix.header) - 1))))
        parts.append(
            f'<p><b>Verdict:</b> {_badge(rec["verdict"])} <span class="cmd"><code>earthmover study {e(name)} '
            f"--seed {rec['seed']}{' --quick' if rec['quick'] else ''}</code>, {rec['seconds']:.1f} s; numbers in "
            f'<a href="{e(name)}.json">{e(name)}.json</a></span></p></section>'
        )
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
