"""Run one study: write DIR/NAME.png and DIR/NAME.json and print a short table.

Usage: ``earthmover study NAME [--out DIR] [--seed S] [--quick] [--threads N]``;
``earthmover study all [--quick] --out DIR`` runs every study and writes DIR/index.html and
DIR/index.md (see :mod:`earthmover.studies.report`).

The studies (see :mod:`earthmover.studies`): parallel-lines, vanishing-gradients,
critic-vs-discriminator, duality, clipping-vs-penalty, critic-tracks-quality, mode-collapse,
architecture-robustness. ``--quick`` runs the small version: seconds for the first five (the
tests use them), minutes for the three that train GANs. The full versions take from seconds to
hours of CPU (see the README).

NAME.json is strict JSON: ``{"study", "seed", "quick", "seconds", "claim", "paper", "verdict",
"checks", "result"}`` with the study's numbers under "result" and each threshold its claim sets
under "checks"; an infinite value (KL between disjoint lines) is written as the string "inf".
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

from earthmover.arguments import int_at_least
from earthmover.errors import EarthmoverError, unknown
from earthmover.paths import output_dir
from earthmover.studies import STUDIES


def load_study(name: str):
    """The module of study ``name`` (with ``run``, ``draw`` and ``NAME``)."""
    if name not in STUDIES:
        raise unknown("study", name, STUDIES)
    return importlib.import_module(STUDIES[name])


def run_study(name: str, out: str | Path = "runs/studies", seed: int = 0, quick: bool = False):
    """Run study ``name``, write ``out/name.png`` and ``out/name.json``; return (result, png, json)."""
    from earthmover.studies.common import finite_json

    module = load_study(name)
    if int(seed) < 0:
        raise EarthmoverError(f"seed = {seed} is invalid; pass an integer >= 0")
    out = output_dir(out, "--out")  # before the study runs: it may take a minute
    start = time.perf_counter()
    result = module.run(seed=int(seed), quick=bool(quick))
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    png = module.draw(result, out / f"{name}.png")
    from earthmover.studies.common import verdict

    checks = module.checks(result)
    record = {
        "study": name,
        "seed": int(seed),
        "quick": bool(quick),
        "seconds": round(seconds, 3),
        "claim": module.CLAIM,
        "paper": module.PAPER,
        "verdict": verdict(checks),
        "checks": [c.to_dict() for c in checks],
        "notes": list(result.notes()) if hasattr(result, "notes") else [],
        "result": finite_json(result.to_dict()),
    }
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
    return result, Path(png), json_path


def _cmd_study(args: argparse.Namespace) -> int:
    import torch

    from earthmover.studies.common import format_table

    if args.name != "all":
        load_study(args.name)
    output_dir(args.out, "--out")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.name == "all":
        from earthmover.studies.report import run_all

        report = run_all(args.out, args.seed, args.quick, echo=print)
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
        "--threads", type=int_at_least(1, 2), default=None, help="torch CPU threads (default: torch's choice)"
    )
    p.set_defaults(func=_cmd_study)
