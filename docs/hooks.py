"""mkdocs hooks: the pages that are generated from the code at build time, so they cannot go stale.

* ``guides/presets.md``: one table from the preset registry (each preset's paper and values);
* ``reference/configuration.md``: every config field from the declared parameters (default, range, doc);
* ``reference/cli.md``: every command's ``--help`` from ``earthmover.cli.build_parser()``;
* ``tutorials/wgan-story.md`` (+ ``wgan_story.ipynb`` and its figures): the jupytext notebook
  ``docs/tutorials/wgan_story.py`` executed with nbclient, its asserts included;
* ``guides/benchmarks.md``: ``benchmarks/RESULTS.md`` with its figures;
* ``studies/report.md``: the committed output of ``earthmover study all --quick --out docs/studies/report``
  (its figures, numbers and verdicts), or of ``earthmover study all --out DIR`` when
  ``EARTHMOVER_DOCS_STUDIES=DIR`` names another folder.

Environment: ``EARTHMOVER_DOCS_SCALE=quick|full`` (the notebook's scale, default quick),
``EARTHMOVER_DOCS_CACHE=DIR|off`` (executed notebooks are cached by the hash of the notebook and of
``src/``; default ``.cache/docs``), ``EARTHMOVER_DOCS_STUDIES=DIR``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import os
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # document this tree, whatever is installed
STORY = ROOT / "docs" / "tutorials" / "wgan_story.py"
EDIT = "<!-- generated at build time by docs/hooks.py; edit the code it reads, not this page -->\n\n"


def _cell(text) -> str:
    """Text for a Markdown table cell: pipes, stars and newlines would break or restyle it."""
    return str(text).replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


WIDE = "---\nhide:\n  - navigation\n---\n"  # front matter: no left navigation, for wide tables and code


# ------------------------------------------------------------------ presets


def preset_registry():
    """The presets by name: ``earthmover.registry.KINDS["preset"]`` when presets are a Registry, else the dict."""
    from earthmover import registry

    kinds = getattr(registry, "KINDS", {})
    if "preset" in kinds:
        return kinds["preset"]
    from earthmover import presets

    return presets.PRESETS


def presets_page() -> str:
    rows = ["| preset | paper and its defaults | values set |", "|---|---|---|"]
    for name, preset in preset_registry().items():
        values = ", ".join(f"`{k} = {v}`" for k, v in preset.values.items())
        rows.append(f"| `{name}` | {_cell(preset.paper)} | {values} |")
    return (
        WIDE + EDIT + "# Presets and their papers\n\n"
        "A preset names a paper's defaults: a set of dotted config values that a config file and flags can "
        "still override (`earthmover train --preset NAME`, `Config.from_preset(NAME)`). Precedence: library "
        "defaults < preset < `--config FILE` < flags. With no `--preset`, `earthmover train` uses "
        "`quickstart`. Values a paper does not give keep the library default "
        "(see the [configuration reference](../reference/configuration.md)).\n\n"
        "This table is read from the preset registry when the site is built.\n\n" + "\n".join(rows) + "\n"
    )


# ------------------------------------------------------------------ configuration


def config_page() -> str:
    from earthmover import Config

    params = Config().params()
    out = [
        EDIT + "# Configuration reference\n",
        "Every field of a run's configuration, read from the parameters the code declares "
        "(`earthmover.registry.param`) when the site is built. A field is set as a flag "
        '`--section.field` (dashes or underscores), as `Config.set("section.field", value)`, '
        "`Config.from_preset(name, section__field=value)`, or in a TOML file under `[section]`. "
        "Defaults are the library's; a preset changes some of them "
        "(the [presets](../guides/presets.md)), and `earthmover train` with no `--preset` applies `quickstart`. "
        "Fields of an objective, penalty, constraint or head apply only when that entry is in use; "
        "setting one for an entry the run does not use is an error.\n",
        f"{len(params)} fields.\n",
    ]
    section = None
    for p in params.values():
        plugin = p.section in ("objective", "penalty", "constraint", "head")
        if p.section != section:
            section = p.section
            owned = "| applies to " if plugin else ""
            out.append(f"\n## `{section}`\n\n| field | default | allowed {owned}| what it does |")
            out.append("|---|---|---" + ("|---" if plugin else "") + "|---|")
        owners = (", ".join(f"`{o}`" for o in p.owners) or "all") + " | " if plugin else ""
        default = repr(p.default) if isinstance(p.default, str) else p.default
        out.append(f"| `{p.dotted}` | `{_cell(default)}` | {_cell(p.range_text())} | {owners}{_cell(p.doc)} |")
    return WIDE + "\n".join(out) + "\n"


# ------------------------------------------------------------------ CLI


def cli_page() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width: fix it for a stable page
    from earthmover.cli import build_parser

    parser = build_parser()
    out = [
        EDIT + "# Command-line reference\n",
        "The `--help` of every command, from `earthmover.cli.build_parser()` when the site is built. "
        "A bad value stops before any work, on one line, with exit status 2 "
        "(see [reproducibility, resume and exit statuses](../guides/reproducibility.md)).\n",
        "```text\n" + parser.format_help().rstrip() + "\n```\n",
    ]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(f"## `earthmover {name}`\n\n```text\n{sub.format_help().rstrip()}\n```\n")
    return "\n".join(out)


# ------------------------------------------------------------------ the story notebook


def _source_hash() -> str:
    h = hashlib.sha256(STORY.read_bytes())
    h.update(os.environ.get("EARTHMOVER_DOCS_SCALE", "quick").encode())
    for path in sorted((ROOT / "src").rglob("*.py")):
        h.update(path.as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def execute_story():
    """The story notebook, executed (from the cache when neither it nor src/ changed)."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    cache = os.environ.get("EARTHMOVER_DOCS_CACHE", str(ROOT / ".cache" / "docs"))
    cached = None if cache == "off" else Path(cache) / f"wgan_story-{_source_hash()}.ipynb"
    if cached is not None and cached.is_file():
        return nbformat.read(cached, as_version=4)
    nb = jupytext.read(STORY)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env_path] if p)
    client = NotebookClient(
        nb,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()  # a failing cell (an assert) raises CellExecutionError: the build fails
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, cached)
    return nb


def story_pages(nb) -> dict[str, bytes | str]:
    """tutorials/wgan-story.md, its figures and the executed .ipynb, as {path: content}."""
    import nbformat

    files: dict[str, bytes | str] = {}
    md: list[str] = []
    figures = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            first = not any(c.cell_type == "code" for c in nb.cells[: nb.cells.index(cell)])
            if first and cell.source.startswith("# "):  # the title, then where to get the notebook
                title, _, rest = cell.source.partition("\n")
                md.append(title)
                md.append(
                    '!!! tip "Open it as a notebook"\n'
                    "    [wgan_story.ipynb](wgan_story.ipynb) (executed, with its outputs) or "
                    "[wgan_story.py](wgan_story.py), its jupytext text form. This page ran it at the "
                    f"**{os.environ.get('EARTHMOVER_DOCS_SCALE', 'quick')}** scale.\n"
                )
                md.append(rest)
            else:
                md.append(cell.source)
            continue
        if cell.cell_type != "code":
            continue
        md.append(f"```python\n{cell.source}\n```")
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                if md and md[-1].startswith("```text\n") and md[-1].endswith("\n```"):  # one block per cell
                    md[-1] = md[-1][: -len("\n```")] + "\n" + output["text"].rstrip() + "\n```"
                else:
                    md.append(f"```text\n{output['text'].rstrip()}\n```")
            elif kind in ("display_data", "execute_result"):
                data = output.get("data", {})
                if "image/png" in data:
                    figures += 1
                    name = f"wgan_story_files/figure_{figures}.png"
                    files[f"tutorials/{name}"] = base64.b64decode(data["image/png"])
                    md.append(f"![figure {figures}]({name})")
                elif "text/plain" in data:
                    md.append(f"```text\n{data['text/plain'].rstrip()}\n```")
    files["tutorials/wgan-story.md"] = WIDE + EDIT + "\n\n".join(md) + "\n"
    files["tutorials/wgan_story.ipynb"] = nbformat.writes(nb)
    return files


# ------------------------------------------------------------------ benchmarks and studies


def benchmark_pages() -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {}
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    files["guides/benchmarks.md"] = EDIT + re.sub(r"\]\(MUTATION\.md\)", "](mutation.md)", text)
    files["guides/mutation.md"] = EDIT + (ROOT / "benchmarks" / "MUTATION.md").read_text()
    for png in sorted((ROOT / "benchmarks" / "figures").glob("*.png")):
        files[f"guides/figures/{png.name}"] = png.read_bytes()
    return files


def studies_table() -> str:
    """Each study's name, paper and claim, from the study registry (a module, or its import name)."""
    from earthmover import registry

    kinds = getattr(registry, "KINDS", {})
    if "study" in kinds:
        studies = kinds["study"]
    else:
        from earthmover.studies import STUDIES as studies
    rows = ["| study | paper | the claim |", "|---|---|---|"]
    for name, entry in studies.items():
        module = importlib.import_module(entry) if isinstance(entry, str) else entry
        rows.append(f"| `{name}` | {_cell(getattr(module, 'PAPER', ''))} | {_cell(getattr(module, 'CLAIM', ''))} |")
    return "\n".join(rows) + "\n"


STUDIES_COMMAND = "earthmover study all --quick --out docs/studies/report"
STUDIES_REPORT = ROOT / "docs" / "studies" / "report"
"""The committed report (the output of STUDIES_COMMAND); EARTHMOVER_DOCS_STUDIES=DIR shows another one."""


def studies_pages() -> dict[str, bytes | str]:
    chosen = os.environ.get("EARTHMOVER_DOCS_STUDIES")
    folder = Path(chosen) if chosen else STUDIES_REPORT
    intro = (ROOT / "docs" / "studies" / "_intro.md").read_text().replace("{{ studies_table }}", studies_table())
    index = folder / "index.md"
    if not index.is_file():
        if chosen:
            raise SystemExit(
                f"EARTHMOVER_DOCS_STUDIES={folder}: no index.md there; run earthmover study all --out {folder}"
            )
        return {
            "studies/report.md": EDIT + intro + '\n!!! note "This build did not include a report"\n'
            f"    `{STUDIES_COMMAND}` writes the report this page shows; it is missing from this tree. The "
            "figures of the full-scale runs recorded in the benchmarks are on the "
            "[benchmark results](../guides/benchmarks.md) page.\n"
        }
    report = re.sub(r"^(#+) ", r"#\1 ", index.read_text(), flags=re.M)  # below this page's title
    files: dict[str, bytes | str] = {
        "studies/report.md": EDIT + intro + "\n---\n\n" + _report_provenance(folder, chosen) + report
    }
    for path in folder.iterdir():
        if path.suffix in (".png", ".json") and path.name != "index.json":
            files[f"studies/{path.name}"] = path.read_bytes()
    return files


def _report_provenance(folder: Path, chosen: str | None) -> str:
    """Where the report below comes from: the command, its scale, when and how long (from DIR/index.json)."""
    import json

    env = json.loads((folder / "index.json").read_text())["environment"] if (folder / "index.json").is_file() else {}
    made = (
        f"the output of `earthmover study all --out {folder}` (EARTHMOVER_DOCS_STUDIES)"
        if chosen
        else f"committed in `docs/studies/report/`, the output of `{STUDIES_COMMAND}`; rerun it and commit the "
        "folder to refresh it"
    )
    scale = env.get("scale", "unknown").split(" (")[0]  # "quick" or "full"
    when = f"scale **{scale}**, run {env['date']}, {env['seconds']:.0f} s in all" if env else "scale unknown"
    return f'!!! info "Where this report comes from"\n    This report is {made} ({when}).\n\n'


# ------------------------------------------------------------------ registries


PARAM_KINDS = {  # the declared-parameter registries carry no doc line of their own
    "objective": "how critic scores become the two losses (--objective NAME)",
    "penalty": "terms on the critic's gradients or scores (--penalty.NAME WEIGHT)",
    "constraint": "what happens to the critic's weights (--constraint.NAME)",
    "head": "layers and loss terms on the critic's features (--head.NAME WEIGHT)",
}


def registry_kinds() -> str:
    """Every kind in ``earthmover.registry.KINDS``: where its registry lives, what it holds, its names."""
    import sys

    for module in ("earthmover", "earthmover.augment", "earthmover.cli", "earthmover.export", "earthmover.studies"):
        importlib.import_module(module)  # each registers its built-in entries on import
    from earthmover import registry

    rows = ["| kind | registry | what it holds | registered names |", "|---|---|---|---|"]
    for kind, reg in registry.KINDS.items():
        where = next(
            (
                f"`{mod}.{name}`"
                for mod, module in sorted(sys.modules.items(), key=lambda item: (len(item[0]), item[0]))
                if mod.startswith("earthmover") and module is not None
                for name, value in vars(module).items()
                if value is reg and name.isupper()
            ),
            "",
        )
        names = ", ".join(f"`{n}`" for n in reg.names())
        doc = getattr(reg, "doc", "") or PARAM_KINDS.get(kind, "")
        rows.append(f"| {kind} | {where} | {_cell(doc)} | {names} |")
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "{{ registry_kinds }}" in markdown:
        markdown = markdown.replace("{{ registry_kinds }}", registry_kinds())
    return markdown


# ------------------------------------------------------------------ the hook


def on_files(files: Files, config) -> Files:
    generated: dict[str, bytes | str] = {
        "guides/presets.md": presets_page(),
        "reference/configuration.md": config_page(),
        "reference/cli.md": cli_page(),
        **benchmark_pages(),
        **studies_pages(),
        **story_pages(execute_story()),
    }
    for uri, content in generated.items():
        existing = files.get_file_from_path(uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, uri, content=content))
    return files


_ROLE = re.compile(r":(?:class|func|mod|meth|data|attr|exc):<code>~?([\w.]+)</code>")


def on_page_content(html: str, page, config, files) -> str:
    """Docstrings written with Sphinx roles (``:class:`~x.Y```) read as code: drop the role, keep the name
    (the last part of it for a ``~`` reference, as Sphinx shows it)."""

    def name(match: re.Match) -> str:
        text = match.group(0)
        target = match.group(1)
        return f"<code>{target.rsplit('.', 1)[-1] if '~' in text else target}</code>"

    return _ROLE.sub(name, html)
