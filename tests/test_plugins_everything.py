"""Issue 21: one module OUTSIDE src/ adds an architecture, a toy distribution, an image source, a metric
and a study, each by one register call, and the real CLI (a subprocess, ``--plugins``) runs them all:
``train`` on the new source with the new architecture and the new metric, ``train`` on the new toy,
``study NAME``, and ``study all`` whose report carries the new study after the built-ins.

The plug-in writes what it is asked to do (built networks, sampled toy points, metric values) to the
file named by $EM_PLUGIN_LOG, so the test sees the subprocess use each entry, not just accept its name.
"""

import json
import os
import subprocess
import sys

import pytest

MODULE = "em_everything_plugin"

PLUGIN = '''
"""Everything a user can add, in one file."""
import json
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from earthmover.data.sources.registry import ImageSource, register as register_source
from earthmover.data.toy import TOY_DISTRIBUTIONS
from earthmover.metrics.registry import METRICS, Metric
from earthmover.nets.registry import Architecture, NetSpec, register as register_arch
from earthmover.studies.common import at_least
from earthmover.studies.registry import Study, register as register_study


def log(**record):
    with open(os.environ["EM_PLUGIN_LOG"], "a") as fh:
        fh.write(json.dumps(record) + "\\n")


# ---- an architecture: one linear layer each way
class TinyGenerator(nn.Module):
    def __init__(self, spec: NetSpec):
        super().__init__()
        self.shape = spec.sample_shape
        self.tiny_linear = nn.Linear(spec.latent_dim, spec.numel)

    def forward(self, z):
        return torch.tanh(self.tiny_linear(z)).view(-1, *self.shape)


class TinyCritic(nn.Module):
    def __init__(self, spec: NetSpec):
        super().__init__()
        self.tiny_score = nn.Linear(spec.numel, 1)

    def forward(self, x):
        return self.tiny_score(x.flatten(1)).squeeze(1)


def build_generator(spec):
    log(kind="generator", latent=spec.latent_dim, shape=list(spec.sample_shape))
    return TinyGenerator(spec)


register_arch(Architecture("tiny-linear", "one linear layer each way", build_generator, TinyCritic,
                           latent_dim=6, width=1, variants=False))


# ---- a toy distribution: a single point with a little noise
@TOY_DISTRIBUTIONS.register("corner")
@dataclass(frozen=True)
class Corner:
    name: str = "corner"

    def sample(self, n, generator=None):
        log(kind="toy", n=n)
        return torch.tensor([0.75, -0.25]) + 0.01 * torch.randn(n, 2, generator=generator)


# ---- an image source: 8x8 horizontal (train) or vertical (test) stripes, labelled by phase
def load_stripes(split, cache_dir=None, limit=None, argument=""):
    rows = (np.arange(8) % 2).astype(np.uint8) * 255
    train = np.broadcast_to(rows[None, :, None], (64, 8, 8)).copy()
    images = train if split == "train" else train.transpose(0, 2, 1)[:32].copy()
    return images, np.zeros(len(images), dtype=np.int64), f"stripes:{split}", ["stripe"]


register_source(ImageSource("stripes", load_stripes, "8x8 stripes", splits=("train", "test"), test_split="test",
                            checksum="generated"))


# ---- a metric on the samples themselves
def brightness(x):
    value = float(x.samples.mean())
    log(kind="metric", value=value, n=len(x.samples))
    return [x.result("brightness", value)]


METRICS.register("brightness", Metric("brightness", brightness, "mean pixel value", needs=("features", "samples")))


# ---- a study
@dataclass
class Result:
    total: float

    def to_dict(self):
        return {"total": self.total}

    def rows(self):
        return ["measure", "value"], [["total", self.total]]

    def summary(self):
        return [f"total {self.total}"]


def run(seed=0, quick=False):
    return Result(float(sum(range(seed + 5))))


def checks(result):
    return [at_least("sum of 0..4", result.total, 10)]


def draw(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.bar([0], [result.total])
    fig.savefig(path)
    plt.close(fig)
    return path


register_study(Study("plugin-sum", "A plug-in's claim: 0 + 1 + 2 + 3 + 4 is at least 10", "The sum holds.",
                     "arithmetic", "Shows that a study defined outside src/ joins the report. " * 3,
                     run, checks, draw))
'''


@pytest.fixture
def env(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(PLUGIN)
    log = tmp_path / "plugin.log"
    environ = dict(os.environ)
    environ["PYTHONPATH"] = f"{folder}{os.pathsep}{environ.get('PYTHONPATH', '')}"
    environ["EM_PLUGIN_LOG"] = str(log)
    environ.pop("EARTHMOVER_PLUGINS", None)
    return environ, log


def earthmover(environ, *args):
    done = subprocess.run(
        [sys.executable, "-m", "earthmover", *args, "--plugins", MODULE],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def records(log, kind):
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["kind"] == kind]


def test_a_plugin_architecture_source_and_metric_train_through_the_cli(tmp_path, env):
    environ, log = env
    out = tmp_path / "run"
    earthmover(
        environ, "train", "--data", "stripes", "--model.arch", "tiny-linear", "--run.eval-metrics", "brightness",
        "--run.eval-n", "20", "--steps", "3", "--batch-size", "16", "--out", str(out), "--quiet",
    )  # fmt: skip
    gens = records(log, "generator")
    assert gens and gens[0] == {"kind": "generator", "latent": 6, "shape": [1, 8, 8]}  # the plug-in's default latent
    metric = records(log, "metric")
    assert metric and metric[-1]["n"] == 20
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = [r["final/metrics/brightness"] for r in rows if "final/metrics/brightness" in r]
    assert logged and logged[-1] == pytest.approx(metric[-1]["value"], abs=1e-6)
    assert -1.0 <= logged[-1] <= 1.0
    assert "brightness" in (out / "summary.json").read_text()
    import torch

    state = torch.load(next((out / "checkpoints").glob("*.pt")), weights_only=True)
    text = json.dumps({k: list(v) if isinstance(v, dict) else None for k, v in state.items()})
    assert "tiny_linear.weight" in text and "tiny_score.weight" in text  # the plug-in's networks were trained


def test_a_plugin_toy_distribution_feeds_the_run(tmp_path, env):
    environ, log = env
    out = tmp_path / "toy"
    earthmover(environ, "train", "--data", "corner", "--steps", "2", "--batch-size", "32", "--width", "8",
               "--out", str(out), "--quiet")  # fmt: skip
    drawn = records(log, "toy")
    assert drawn and sum(r["n"] for r in drawn) >= 2 * 32  # at least the two steps' real batches came from it


def test_a_plugin_study_runs_alone_and_joins_the_report(tmp_path, env):
    environ, _ = env
    out = tmp_path / "studies"
    done = earthmover(environ, "study", "plugin-sum", "--out", str(out))
    assert "verdict: holds" in done.stdout
    record = json.loads((out / "plugin-sum.json").read_text())
    assert record["result"] == {"total": 10.0} and record["checks"][0]["holds"] is True
    earthmover(environ, "study", "all", "--quick", "--only", "parallel-lines,plugin-sum", "--out", str(out))
    md = (out / "index.md").read_text()
    assert md.index("## 1. Disjoint supports") < md.index("## 9. A plug-in's claim")  # after the 8 built-ins
    assert "**Verdict: holds.** `earthmover study plugin-sum" in md
