"""torchrun on CPU (gloo, 2 processes) gives the losses of one process with the same global batch
and seed (issue 5): the double backward of the gradient penalty, R1, clipping and spectral
normalization all run under DistributedDataParallel; only rank 0 writes the run directory."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from earthmover.train import state as ckpt
from earthmover.train.config import Config
from earthmover.train.loop import Trainer
from earthmover.train.presets import preset_values

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, out, quiet=True):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--nnodes=1",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "earthmover",
        "train",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--run.threads",
        "1",
        "--run.measure-n",
        "64",
        "--log-every",
        "1",
        *(["--quiet"] if quiet else []),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def one_process(preset, values, run_dir) -> None:
    config = Config(preset=preset)
    for k, v in preset_values(preset).items():
        config.set(k, v)
    for k, v in {"run.device": "cpu", "run.threads": 1, "run.measure_n": 64, "run.log_every": 1, **values}.items():
        config.set(k, v)
    threads = torch.get_num_threads()
    try:
        Trainer(config, run_dir, quiet=True).fit()
    finally:
        torch.set_num_threads(threads)


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def records_of(run_dir) -> list[dict]:
    return [r for r in records(run_dir) if "loss/critic" in r]


def assert_same_curves(two, one, tol=1e-5, skip=()):
    a, b = records(two), records(one)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        keys = set(ra) - {"steps_per_second"}
        assert keys == set(rb) - {"steps_per_second"}
        for key in keys - set(skip):
            if isinstance(
                rb[key], str
            ):  # "inf"/"nan" (JSON has no infinities), e.g. the reverse KL with no mode covered
                assert ra[key] == rb[key], (ra["step"], key, ra[key], rb[key])
                continue
            assert ra[key] == pytest.approx(rb[key], abs=tol, rel=tol), (ra["step"], key, ra[key], rb[key])


def critic_at(run_dir, step):
    from earthmover.train.build import build_critic
    from earthmover.train.config import load_toml

    config = Config.from_dict(load_toml(run_dir / "config.toml"))
    critic = build_critic(config, (2,))
    critic.load_state_dict(ckpt.load_checkpoint(ckpt.checkpoint_path(run_dir, step))["critic"])
    return critic.eval()


def scores(critic, x):
    with torch.no_grad():
        return critic(x).score.double()


@pytest.mark.distributed
def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    """20 steps of WGAN-GP on toy data: the penalty's interpolation draws are each rank's slice of
    the global draws, so the two shards together are the one-process batch."""
    values = {
        "data.name": "8gaussians",
        "data.batch_size": 64,
        "model.width": 16,
        "model.depth": 2,
        "run.steps": 20,
        "run.checkpoint_every": 10,
    }
    result = torchrun(
        [
            "--preset",
            "wgan-gp",
            "--data",
            "8gaussians",
            "--batch-size",
            "64",
            "--width",
            "16",
            "--model.depth",
            "2",
            "--steps",
            "20",
            "--checkpoint-every",
            "10",
        ],
        tmp_path / "two",
        quiet=False,
    )
    one_process("wgan-gp", values, tmp_path / "one")
    # Every logged value agrees within 1e-5 at every step -- all loss terms, the penalty, the
    # Wasserstein estimate, both gradient norms -- except the generator's Wasserstein loss -E D(G(z)),
    # which depends on an additive constant of the critic that the Wasserstein objective leaves free:
    # the critic's loss has zero gradient along it, and Adam turns the rounding noise there (which
    # differs between a batch of 64 and two of 32) into steps. Checked below: the two critics differ
    # by a constant, and the generator losses differ by exactly that constant.
    assert_same_curves(tmp_path / "two", tmp_path / "one", skip={"loss/generator"})
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(0)) * 2
    by_step = (
        {r["step"]: r for r in records(tmp_path / "one") if "loss/generator" in r},
        {r["step"]: r for r in records(tmp_path / "two") if "loss/generator" in r},
    )
    for step in (10, 20):
        shift = scores(critic_at(tmp_path / "two", step), x) - scores(critic_at(tmp_path / "one", step), x)
        assert float(shift.std()) < 1e-5 and abs(float(shift.mean())) < 1e-3  # a constant shift, and a small one
        gap = by_step[1][step]["loss/generator"] - by_step[0][step]["loss/generator"]
        assert gap == pytest.approx(-float(shift.mean()), abs=1e-5)
    assert len(records(tmp_path / "two")) == 21  # 20 steps + the final measures: one writer, not two

    # the startup line states the global batch, once (rank 0)
    assert result.stdout.count("global batch 64 over 2 processes") == 1

    # a complete run directory, written by rank 0 alone
    run = tmp_path / "two"
    for name in ("config.toml", "metrics.jsonl", "summary.json", "plots/losses.png", "samples/step_0000020.png"):
        assert (run / name).is_file(), name
    assert [p.name for p in ckpt.list_checkpoints(run)][-1] == "step_0000020.pt"
    assert len(list((run / "tensorboard").iterdir())) == 1
    assert not list((run / "checkpoints").glob(".*"))  # no temporary files left behind

    # the checkpoints of both runs hold the same generator (the critics: the same up to the constant above)
    two = ckpt.latest_loadable_checkpoint(run)[1]
    one = ckpt.latest_loadable_checkpoint(tmp_path / "one")[1]
    for key, value in one["generator"].items():
        torch.testing.assert_close(two["generator"][key], value, atol=1e-5, rtol=1e-5)


@pytest.mark.distributed
def test_r1_clipping_spectral_norm_and_batch_norm_on_images_under_ddp(tmp_path, monkeypatch):
    """dcgan on the MNIST fixture across 2 CPU processes with R1 (a double backward through the
    convolutions on real data), weight clipping after each step and spectral norm's u, v buffers.
    SyncBatchNorm is CUDA-only, so on gloo the generator keeps plain batch norm (each process
    normalizes its shard; per-shard statistics are why this run is not compared with one process)."""
    monkeypatch.setenv("EARTHMOVER_MNIST", str(Path(__file__).parent / "data" / "mnist_small.npz"))
    out = tmp_path / "img"
    torchrun(
        [
            "--data",
            "mnist",
            "--arch",
            "dcgan",
            "--width",
            "4",
            "--model.latent-dim",
            "8",
            "--steps",
            "2",
            "--n-critic",
            "2",
            "--batch-size",
            "32",
            "--objective",
            "non-saturating",
            "--penalty.gp",
            "0",
            "--penalty.r1",
            "1",
            "--penalty.every",
            "1",
            "--constraint.clip",
            "0.5",
            "--constraint.spectral-norm",
            "true",
            "--run.eval-metrics",
            "none",
        ],
        out,
    )  # no digit-FID at the end: speed
    state = ckpt.latest_loadable_checkpoint(out)[1]
    assert state["step"] == 2 and state["data"]["position"] == 4 * 32  # the global batch, drawn once per critic step
    records = records_of(out)
    assert all("loss/r1" in r and 0 < r["loss/r1"] < float("inf") for r in records)
    assert any("running_mean" in k for k in state["generator"])
    critic = state["critic"]
    u = [k for k in critic if k.endswith("_u")]
    assert u and all(float(critic[k].norm()) == pytest.approx(1.0, abs=1e-4) for k in u)
    weights = [v for k, v in critic.items() if k.endswith("original") or k.endswith("bias")]
    assert max(float(w.abs().max()) for w in weights) <= 0.5
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())
    assert (out / "samples" / "step_0000002.png").is_file()


@pytest.mark.distributed
@pytest.mark.parametrize(
    "preset, flags",
    [
        ("dragan", []),  # draws per element and per sample, and the batch's standard deviation
        ("wgan-gp", ["--penalty.gp-points", "near-data"]),
    ],
)
def test_penalties_that_draw_or_use_batch_statistics_match_one_process(tmp_path, preset, flags):
    """Each process's draws are its slice of one process's draws, and DRAGAN's std(x) is the
    global batch's (a shard's own std differs: 1.0042 / 1.0045 against 1.0019 on 8gaussians)."""
    args = [
        "--preset",
        preset,
        "--data",
        "8gaussians",
        "--batch-size",
        "64",
        "--width",
        "16",
        "--model.depth",
        "2",
        "--steps",
        "4",
        "--checkpoint-every",
        "4",
        "--n-critic",
        "2",
        *flags,
    ]
    torchrun(args, tmp_path / "two")
    values = {
        "data.name": "8gaussians",
        "data.batch_size": 64,
        "model.width": 16,
        "model.depth": 2,
        "run.steps": 4,
        "run.checkpoint_every": 4,
        "optim.n_critic": 2,
    }
    if flags:
        values["penalty.gp_points"] = "near-data"
    one_process(preset, values, tmp_path / "one")
    assert_same_curves(tmp_path / "two", tmp_path / "one", tol=1e-6, skip={"loss/generator"})


def test_batch_std_over_shards_is_the_global_std():
    from earthmover.losses.penalties import Shard, batch_std

    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 1.3 + 0.2

    class TwoShards(Shard):  # the all-reduce of two processes, simulated: add the other half's statistics
        def sum(self, value):
            other = x[32:] if self.rank == 0 else x[:32]
            o = other.double()
            return value + torch.stack([o.new_tensor(float(o.numel())), o.sum(), o.pow(2).sum()])

    std = batch_std(x[:32], TwoShards(torch.Generator(), rank=0, world_size=2))
    assert float(std) == pytest.approx(float(x.std()), rel=1e-6) and float(x[:32].std()) != pytest.approx(
        float(x.std()), rel=1e-3
    )
