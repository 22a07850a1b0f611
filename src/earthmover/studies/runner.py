"""Run one registered study and write its figure and JSON record (the library side of ``earthmover study``).

NAME.json is strict JSON: ``{"study", "seed", "quick", "seconds", "claim", "paper", "verdict",
"checks", "notes", "result"}`` with the study's numbers under "result" and each threshold its claim
sets under "checks"; an infinite value (KL between disjoint lines) is written as the string "inf".
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from earthmover.errors import EarthmoverError
from earthmover.paths import output_dir
from earthmover.studies.common import finite_json, verdict
from earthmover.studies.registry import STUDIES, Study


def get_study(name: str) -> Study:
    """The registered study ``name`` (one-line error naming the nearest one when unknown)."""
    return STUDIES[name]


def run_study(name: str, out: str | Path = "runs/studies", seed: int = 0, quick: bool = False):
    """Run study ``name``, write ``out/name.png`` and ``out/name.json``; return (result, png, json)."""
    study = get_study(name)
    if int(seed) < 0:
        raise EarthmoverError(f"seed = {seed} is invalid; pass an integer >= 0")
    out = output_dir(out, "--out")  # before the study runs: it may take a minute
    start = time.perf_counter()
    result = study.run(seed=int(seed), quick=bool(quick))
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    png = study.draw(result, out / f"{name}.png")
    checks = study.checks(result)
    record = {
        "study": name,
        "seed": int(seed),
        "quick": bool(quick),
        "seconds": round(seconds, 3),
        "claim": study.claim,
        "paper": study.paper,
        "verdict": verdict(checks),
        "checks": [c.to_dict() for c in checks],
        "notes": list(result.notes()) if hasattr(result, "notes") else [],
        "result": finite_json(result.to_dict()),
    }
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
    return result, Path(png), json_path
