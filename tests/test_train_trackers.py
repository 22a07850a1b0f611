"""--run.log: W&B (offline) and MLflow (file store) receive the same scalars as metrics.jsonl, --resume continues
the same tracker run, and a missing package is one line naming its extra before anything trains. No network."""

import importlib.util
import json
import re

import pytest
import torch

from earthmover import cli
from earthmover.errors import EarthmoverError
from earthmover.train import trackers
from helpers import TINY_FLAGS

TINY = list(TINY_FLAGS)
HAVE_MLFLOW = importlib.util.find_spec("mlflow") is not None
HAVE_WANDB = importlib.util.find_spec("wandb") is not None


def train(out, steps, *extra, resume=False):
    threads = torch.get_num_threads()
    try:
        where = ["--resume", str(out)] if resume else ["--out", str(out)]
        return cli.main(["train", *where, "--steps", str(steps), "--sample-every", "2", "--quiet", *TINY, *extra])
    finally:
        torch.set_num_threads(threads)


def jsonl(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.skipif(not HAVE_MLFLOW, reason='mlflow is not installed (pip install -e ".[mlflow]")')
def test_mlflow_file_store_holds_the_scalars_of_metrics_jsonl_and_resume_continues_the_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    run = tmp_path / "run"
    assert train(run, 4, "--run.log", "mlflow") == 0
    run_id = json.loads((run / "trackers.json").read_text())["mlflow"]
    assert not (run / "tensorboard").exists()  # only the trackers asked for
    assert train(run, 6, "--run.log", "mlflow", resume=True) == 0
    assert json.loads((run / "trackers.json").read_text())["mlflow"] == run_id  # the same MLflow run
    client = MlflowClient(tracking_uri=uri)
    records = [r for r in jsonl(run) if "loss/critic" in r]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    for name in ("loss/critic", "loss/generator", "wasserstein_estimate", "grad_norm/critic"):
        history = {m.step: m.value for m in client.get_metric_history(run_id, name)}
        assert sorted(history) == [1, 2, 3, 4, 5, 6], name
        for record in records:
            assert history[record["step"]] == pytest.approx(record[name], rel=1e-12, abs=1e-15), name
    logged = client.get_run(run_id)
    assert logged.data.params["run.log"] == "mlflow" and logged.data.params["run.steps"] == "4"
    assert logged.info.status == "FINISHED"
    images = [f.path for f in client.list_artifacts(run_id, "samples")]
    assert "samples/step_00000002.png" in images and "samples/step_00000006.png" in images


@pytest.mark.skipif(not HAVE_WANDB, reason='wandb is not installed (pip install -e ".[wandb]")')
def test_wandb_offline_run_beside_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for key in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_DIR"):
        monkeypatch.delenv(key, raising=False)
    run = tmp_path / "run"
    assert train(run, 4, "--run.log", "tensorboard,wandb") == 0
    run_id = json.loads((run / "trackers.json").read_text())["wandb"]
    assert (run / "tensorboard").is_dir()
    folders = list((run / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(folders) == 1
    # wandb 0.2x+ writes the offline run as a protobuf log that only its Go core reads; each history item
    # stores its key and then the value as JSON text, so every logged value is found right after its key
    data = next(folders[0].glob("*.wandb")).read_bytes()
    records = [r for r in jsonl(run) if "loss/critic" in r]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    for record in records:
        for name in ("loss/critic", "wasserstein_estimate", "grad_norm/generator"):
            value = re.escape(json.dumps(record[name]).encode())
            assert re.search(re.escape(name.encode()) + b".{1,4}" + value, data, re.S), (name, record["step"])


def test_a_missing_tracker_package_is_one_line_naming_the_extra_before_training(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    assert train(tmp_path / "run", 2, "--run.log", "tensorboard,wandb") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install -e ".[wandb]"' in err and "earthmover[" not in err
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_logger_names_come_from_the_registry():
    assert {"tensorboard", "wandb", "mlflow"} <= set(trackers.LOGGERS.names())
    assert trackers.parse_loggers("TensorBoard, mlflow,tensorboard") == ["tensorboard", "mlflow"]
    assert trackers.parse_loggers("none") == []
    with pytest.raises(EarthmoverError, match="unknown logger 'wandbb'.*tensorboard, wandb, mlflow"):
        trackers.parse_loggers("wandbb")
