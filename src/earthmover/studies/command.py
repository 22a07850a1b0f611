"""Run one study: write DIR/NAME.png and DIR/NAME.json and print a short table.

Usage: ``earthmover study NAME [--out DIR] [--seed S] [--quick] [--threads N]``;
``earthmover study all [--quick] --out DIR`` runs every study and writes DIR/index.html and
DIR/index.md (see :mod:`earthmover.studies.report`).

The studies are the entries of :data:`earthmover.studies.registry.STUDIES` (``earthmover study --help``
lists them; ``--plugins`` adds more). ``--quick`` runs the small version: seconds for the first five (the
tests use them), minutes for the three that train GANs. The full versions take from seconds to
hours of CPU (see the README).

NAME.json is described in :mod:`earthmover.studies.runner`, which runs a study; this module only parses
the command line and prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from earthmover.arguments import int_at_least
from earthmover.errors import EarthmoverError, unknown
from earthmover.paths import output_dir
from earthmover.studies.registry import STUDIES
from earthmover.studies.runner import get_study, run_study

load_study = get_study  # the registered Study (run, checks, draw, claim, ...): kept for scripts
__all__ = ["load_study", "register", "run_study"]


def _only(text: str | None) -> list[str] | None:
    """The study names of ``--only a,b`` (checked against the registry), or None for all."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise EarthmoverError("--only '': expected a comma list of study names, e.g. --only parallel-lines,duality")
    for name in names:
        if name not in STUDIES:
            raise unknown("study", name, STUDIES)
    return names


def _cmd_study(args: argparse.Namespace) -> int:
    import torch

    from earthmover.studies.common import format_table

    if args.name != "all":
        get_study(args.name)
        if args.only is not None:
            raise EarthmoverError(f"--only applies to `study all`, not to one study ({args.name!r}); drop --only")
    only = _only(args.only)
    output_dir(args.out, "--out")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.name == "all":
        from earthmover.studies.report import run_all

        report = run_all(args.out, args.seed, args.quick, names=only, echo=print)
        bad = [s["name"] for s in report["sections"] if not s["ok"]]
        print(
            f"wrote {Path(args.out) / 'index.html'} and index.md ({report['environment']['seconds']} s)"
            + (f"; failed: {', '.join(bad)}" if bad else "")
        )
        return 0
    result, png, json_path = run_study(args.name, args.out, args.seed, args.quick)
    print(format_table(*result.rows()))
    print()
    for line in result.summary():
        print(line)
    record = json.loads(json_path.read_text())
    print()
    print(f"claim ({record['paper']}): {record['claim']}")
    print(
        format_table(
            ["measure", "value", "claim needs", "holds"],
            [[c["what"], c["value"], c["threshold"], "yes" if c["holds"] else "NO"] for c in record["checks"]],
        )
    )
    print(f"verdict: {record['verdict']}")
    print(f"wrote {png} and {json_path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "study",
        help="reproduce a claim of the WGAN literature: numbers, a figure and a JSON record",
        description=__doc__.splitlines()[0],
    )
    p.add_argument(
        "name",
        metavar="NAME",
        help=f"one of: {', '.join(STUDIES)}; or all (every study, and "
        "DIR/index.html and DIR/index.md: one page with each claim, figure, numbers and verdict)",
    )
    p.add_argument(
        "--out", metavar="DIR", default="runs/studies", help="where NAME.png and NAME.json go (default: runs/studies)"
    )
    p.add_argument(
        "--seed", type=int_at_least(0), default=0, help="seed of the data, the networks and the sampling (default 0)"
    )
    p.add_argument("--quick", action="store_true", help="the small version (seconds), as in the tests")
    p.add_argument(
        "--only",
        metavar="A,B",
        default=None,
        help="with all: run and report only these studies (in the registry's order of the page), e.g. "
        "--only parallel-lines,duality",
    )
    p.add_argument(
        "--plugins",
        metavar="MODULES",
        default="",
        help="comma-separated modules to import first: plug-in studies (also $EARTHMOVER_PLUGINS)",
    )
    p.add_argument(
        "--threads", type=int_at_least(1, 2), default=None, help="torch CPU threads (default: torch's choice)"
    )
    p.set_defaults(func=_cmd_study)
