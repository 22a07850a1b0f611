"""Experiment trackers a run reports to, beside metrics.jsonl (always written): ``--run.log tensorboard,wandb,mlflow``.

Each tracker is one class registered in :data:`LOGGERS` (the one registry mechanism, kind ``"logger"``). It is
made as ``cls(run_dir, resume_id, start_step)`` on rank 0 only and offers ``log_scalars(step, values)``,
``log_image(tag, image, step)`` (a PNG path or an array, CHW or HWC, float in [0, 1] or uint8),
``log_config(values)`` (the resolved config, as the run's hyperparameters), ``rewind(step)`` (after a
rollback; a no-op where the service keeps history) and ``close()``. Its ``resume_id`` is kept in
``RUN_DIR/trackers.json``, so ``--resume`` continues the same W&B or MLflow run.

W&B and MLflow are optional extras: ``pip install -e ".[wandb]"`` / ``pip install -e ".[mlflow]"``
(mlflow-skinny is enough: the tracking client and file store, no server or UI). :func:`check_loggers`
names the missing extra before anything trains. W&B follows its own environment (``WANDB_MODE=offline``
writes an offline run under ``RUN_DIR/wandb``; ``WANDB_PROJECT``, default ``earthmover``); MLflow writes to
``MLFLOW_TRACKING_URI``, default the file store ``RUN_DIR/mlruns`` (experiment ``MLFLOW_EXPERIMENT_NAME``,
default ``earthmover``); for a ``file:`` store ``MLFLOW_ALLOW_FILE_STORE=true`` is set unless already set, since
MLflow 3 refuses that store otherwise and mlflow-skinny has no database backend.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np

from earthmover.errors import EarthmoverError, did_you_mean
from earthmover.registry import Registry

LOGGERS: Registry[type] = Registry("logger", "experiment trackers for --run.log")
IDS_FILE = "trackers.json"


def parse_loggers(text: str) -> list[str]:
    """``"tensorboard,wandb"`` -> names, each checked against LOGGERS (nearest-name error); ``none`` or "" -> []."""
    names = [n.strip().lower() for n in text.split(",") if n.strip() and n.strip().lower() != "none"]
    for name in names:
        if name not in LOGGERS:
            raise EarthmoverError(
                f"run.log = {text!r}: unknown logger {name!r}; expected a comma list of "
                f"{', '.join(LOGGERS.names())}{did_you_mean(name, LOGGERS.names())}"
            )
    return list(dict.fromkeys(names))


def check_loggers(text: str) -> list[str]:
    """Names in ``text`` whose packages import; a missing one is one line naming its extra (before training)."""
    names = parse_loggers(text)
    for name in names:
        package, extra = getattr(LOGGERS[name], "package", None), getattr(LOGGERS[name], "extra", None)
        if package and importlib.util.find_spec(package) is None:
            raise EarthmoverError(
                f"run.log {name}: the {package!r} package is not installed; install the extra with "
                f'`pip install -e ".[{extra}]"` or drop {name} from --run.log'
            )
        if name == "wandb" and not wandb_credentials():
            raise EarthmoverError(
                "run.log wandb: no W&B login found (WANDB_API_KEY, ~/.netrc, wandb settings); run `wandb login`, "
                "set WANDB_MODE=offline to log locally, or drop wandb from --run.log"
            )
    return names


def wandb_credentials() -> bool:
    """Whether W&B can start without prompting: offline or disabled mode, or an API key where ``wandb login``
    and W&B's docs put it (checked before training, so a missing login fails before the run folder is written)."""
    env = os.environ
    if env.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun") or env.get("WANDB_API_KEY"):
        return True
    host = (env.get("WANDB_BASE_URL") or "https://api.wandb.ai").split("://")[-1].split("/")[0].split(":")[0]
    config_dir = Path(env.get("WANDB_CONFIG_DIR") or Path("~/.config/wandb").expanduser())
    for path, needle in (
        (Path(env.get("NETRC") or "~/.netrc").expanduser(), host),
        (config_dir / "settings", "api_key"),
    ):
        try:
            if needle in path.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def open_loggers(text: str, run_dir: Path, start_step: int, config: dict[str, Any] | None = None) -> list:
    """The trackers named in ``text`` for ``run_dir``, resuming the runs recorded in trackers.json."""
    names = check_loggers(text)
    path = Path(run_dir) / IDS_FILE
    ids = json.loads(path.read_text()) if path.is_file() else {}
    out = []
    for name in names:
        tracker = LOGGERS[name](Path(run_dir), ids.get(name), start_step)
        if config is not None:
            tracker.log_config(config)
        out.append(tracker)
        if tracker.resume_id is not None:
            ids[name] = tracker.resume_id
    if ids:
        tmp = path.with_name(f".{IDS_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(ids, indent=1) + "\n")
        os.replace(tmp, path)
    return out


def finite_scalars(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{section: {field: value}} -> {"section.field": value}."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= flat_config(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def as_hwc(image) -> np.ndarray:
    """A PNG path or a CHW/HWC array (float [0, 1] or uint8) -> uint8 HWC."""
    if isinstance(image, (str, os.PathLike)):
        from PIL import Image

        return np.asarray(Image.open(image).convert("RGB"))
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.transpose(a, (1, 2, 0))
    if a.dtype != np.uint8:
        a = (np.clip(a, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return a


@LOGGERS.register("tensorboard")
class TensorBoardLogger:
    """TensorBoard event files in ``RUN_DIR/tensorboard``; on resume, events after the checkpoint are purged."""

    package = "tensorboard"
    extra = "tensorboard"

    def __init__(self, run_dir: Path, resume_id: str | None, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._cls, self.folder, self.resume_id = SummaryWriter, str(run_dir / "tensorboard"), None
        self.writer = SummaryWriter(self.folder, purge_step=start_step + 1 if start_step else None)

    def log_scalars(self, step: int, values: dict[str, Any]) -> None:
        for key, value in finite_scalars(values).items():
            self.writer.add_scalar(key, value, step)

    def log_image(self, tag: str, image, step: int) -> None:
        self.writer.add_image(tag, as_hwc(image), step, dataformats="HWC")

    def log_config(self, config: dict[str, Any]) -> None:
        self.writer.add_text("config", json.dumps(config, indent=1, default=str).replace("\n", "  \n"), 0)

    def rewind(self, step: int) -> None:
        self.writer.close()
        self.writer = self._cls(self.folder, purge_step=step + 1)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


@LOGGERS.register("wandb")
class WandbLogger:
    """A Weights & Biases run; its id is kept so a resumed earthmover run continues it."""

    package = "wandb"
    extra = "wandb"

    def __init__(self, run_dir: Path, resume_id: str | None, start_step: int) -> None:
        import wandb

        self._wandb = wandb
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "earthmover"),
            name=run_dir.name,
            dir=str(run_dir),
            id=resume_id or secrets.token_hex(4),
            resume="allow",
            reinit="create_new",
        )
        self.resume_id = self.run.id

    def log_scalars(self, step: int, values: dict[str, Any]) -> None:
        self.run.log(finite_scalars(values), step=step)

    def log_image(self, tag: str, image, step: int) -> None:
        self.run.log({tag: self._wandb.Image(as_hwc(image))}, step=step)

    def log_config(self, config: dict[str, Any]) -> None:
        self.run.config.update(flat_config(config), allow_val_change=True)

    def rewind(self, step: int) -> None:
        """W&B keeps history; steps after a rollback are logged again."""

    def close(self) -> None:
        self.run.finish()


@LOGGERS.register("mlflow")
class MlflowLogger:
    """An MLflow run (``mlflow-skinny`` suffices) through MlflowClient, so no global MLflow state is touched."""

    package = "mlflow"
    extra = "mlflow"

    def __init__(self, run_dir: Path, resume_id: str | None, start_step: int) -> None:
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI") or (run_dir / "mlruns").resolve().as_uri()
        if uri.startswith("file:"):  # MLflow 3 keeps the file store but refuses it unless asked (needs no database)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        if resume_id is None:
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "earthmover")
            experiment = self.client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
            resume_id = self.client.create_run(experiment_id, run_name=run_dir.name).info.run_id
        else:
            self.client.update_run(resume_id, status="RUNNING")
        self.resume_id = resume_id

    def log_scalars(self, step: int, values: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in finite_scalars(values).items()]
        if metrics:
            self.client.log_batch(self.resume_id, metrics=metrics)

    def log_image(self, tag: str, image, step: int) -> None:
        self.client.log_image(self.resume_id, as_hwc(image), artifact_file=f"{tag}/step_{step:08d}.png")

    def log_config(self, config: dict[str, Any]) -> None:
        from mlflow.entities import Param

        logged = self.client.get_run(self.resume_id).data.params
        params = [Param(k, str(v)) for k, v in flat_config(config).items() if k not in logged]
        if params:  # a resumed run keeps its first values (MLflow refuses to change a parameter)
            self.client.log_batch(self.resume_id, params=params)

    def rewind(self, step: int) -> None:
        """MLflow keeps history; steps after a rollback are logged again."""

    def close(self) -> None:
        self.client.set_terminated(self.resume_id)
