"""The resume policy: which fields a resumed run may change, and the checkpoint it continues from.

A resumed run may change how long it runs, what it logs and keeps, and where it computes
(:data:`RESUME_SAFE`); every other field (and the preset) is part of what the checkpoint means, and
changing one is refused, naming the field and how to start a new run from the checkpoint instead.
"""

from __future__ import annotations

from pathlib import Path

from earthmover.errors import EarthmoverError
from earthmover.train.config import Config, all_fields
from earthmover.train.state import latest_loadable_checkpoint, list_checkpoints

# Fields a resumed run may change: how long it runs, what it logs and keeps, where it computes.
# Every other field (and the preset) is part of what the checkpoint means; changing one at resume
# is refused, naming the field and how to start a new run from the checkpoint instead.
RESUME_SAFE = frozenset(
    {
        "run.steps",
        "run.log_every",
        "run.sample_every",
        "run.checkpoint_every",
        "run.keep_checkpoints",
        "run.on_nan",
        "run.rollback_lr_factor",
        "run.eval_every",
        "run.eval_metrics",
        "run.eval_n",
        "run.measure_n",
        "run.threads",
        "run.device",
    }
)


def resume_differences(saved, config) -> list[tuple[str, object, object]]:
    """(field, the run's value, the new value) for each field that changes what the checkpoint means."""
    out = []
    if saved.preset != config.preset:
        out.append(("preset", saved.preset, config.preset))
    for dotted in all_fields():
        if dotted not in RESUME_SAFE and saved.get(dotted) != config.get(dotted):
            out.append((dotted, saved.get(dotted), config.get(dotted)))
    return out


def checkpoint_config(state: dict):
    """The config a checkpoint was written with, or None (an old checkpoint, another schema)."""
    data = state.get("config")
    if not isinstance(data, dict):
        return None
    try:
        return Config.from_dict(data)
    except (EarthmoverError, TypeError, AttributeError):
        return None


def check_run_dir(run: str | Path, flag: str) -> Path:
    """A folder that a train run wrote (it holds config.toml)."""
    run_dir = Path(run)
    if not (run_dir / "config.toml").is_file():
        what = "a file" if run_dir.is_file() else ("a folder without config.toml" if run_dir.is_dir() else "missing")
        raise EarthmoverError(
            f"{flag} {str(run_dir)!r} is not a run directory ({what}); pass the DIR a train run wrote"
        )
    return run_dir


def checked_resume_state(run_dir: Path, saved, config, skipped: list) -> tuple[Path | None, dict | None]:
    """The newest loadable checkpoint of `run_dir` and its state (None, None when it has none yet),
    after checking the resume policy: no field outside :data:`RESUME_SAFE` differs between the new
    `config` and the run's (`saved`, or the checkpoint's own when config.toml was edited since), and
    ``run.steps`` is not below the checkpoint's step. Unloadable checkpoints are appended to `skipped`."""
    if not list_checkpoints(run_dir):
        return None, None
    path, state = latest_loadable_checkpoint(run_dir, skipped)
    differences, holder = resume_differences(saved, config), "the run's config.toml"
    written = checkpoint_config(state)
    if not differences and written is not None:  # config.toml edited by hand since the checkpoint
        differences, holder = resume_differences(written, config), path.name
    if differences:
        field, old, new = differences[0]
        more = (
            f" (and {len(differences) - 1} more: {', '.join(d[0] for d in differences[1:])})"
            if len(differences) > 1
            else ""
        )
        flag = "--preset" if field == "preset" else f"--{field.replace('_', '-')}"
        raise EarthmoverError(
            f"--resume {str(run_dir)!r}: {field} = {new!r} differs from {old!r} in {holder}{more}, which changes what "
            f"the checkpoint means; resume with the values it was written with, or start a new run from it: "
            f"earthmover train --config {run_dir / 'config.toml'} --init {path} {flag} {new} --out NEW_DIR"
        )
    if int(state["step"]) > config.run.steps:
        raise EarthmoverError(
            f"run.steps = {config.run.steps} is below the step of {path.name} ({state['step']}); --steps is the "
            f"run's total, so pass --steps {int(state['step']) + 1} or more to continue"
        )
    return path, state
