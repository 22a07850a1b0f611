"""Issue 22 wired into the run: augmentation of every critic input, ADA's p, gradient accumulation.

A plain run draws exactly what it drew before (no augmentation unless asked); an augmented run stopped
and resumed logs what one that never stopped logs, aug/p included; two torchrun processes match one;
``--run.accumulate K`` gives the step's gradients; the memory estimate counts B/K samples."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from earthmover.cli import main
from earthmover.errors import EarthmoverError
from earthmover.train import memory
from earthmover.train import state as ckpt
from earthmover.train.command import check_training_memory
from earthmover.train.loop import Trainer
from helpers import tiny_config

sys.path.insert(0, str(Path(__file__).parent))
from test_train_distributed import one_process, torchrun  # noqa: E402

MNIST = str(Path(__file__).parent / "data" / "mnist_small.npz")
IMAGE_FLAGS = ["--width", "8", "--batch-size", "16", "--log-every", "1", "--device", "cpu", "--run.threads", "1"]
IMAGE_FLAGS += ["--run.eval-metrics", "none", "--run.measure-n", "16", "--quiet"]


def records(run_dir) -> list[dict]:
    out = []
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "loss/critic" in r:
            out.append({k: v for k, v in r.items() if k != "steps_per_second"})
    return out


def rgb_folder(path: Path, n: int = 24) -> Path:
    from PIL import Image

    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def test_a_plain_run_is_the_run_with_an_empty_policy(tmp_path):
    """No augmentation unless asked: --augment.policy "" is the default, trains the same numbers, and adds
    nothing to the checkpoint (the augmentation generator is built only when asked)."""
    flags = ["--steps", "3", "--width", "16", "--batch-size", "32", "--run.threads", "1", "--device", "cpu"]
    flags += ["--run.measure-n", "64", "--log-every", "1", "--quiet"]
    assert main(["train", "--out", str(tmp_path / "a"), *flags]) == 0
    assert main(["train", "--out", str(tmp_path / "b"), "--augment.policy", "", *flags]) == 0
    assert records(tmp_path / "a") == records(tmp_path / "b")
    assert not any(k.startswith("aug/") for k in records(tmp_path / "a")[-1])
    a, b = (ckpt.load_checkpoint(ckpt.checkpoint_path(tmp_path / r, 3)) for r in "ab")
    assert "augment" not in a
    for key in ("generator", "critic"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])


@pytest.mark.parametrize(
    "data, preset, extra",
    [
        ("folder", "wgan-gp", []),  # the check: small RGB images, WGAN-GP, target 0.6
        ("mnist", "lsgan", ["--augment.kimg", "0.05", "--augment.interval", "3"]),  # p moves at step 6
        ("mnist", "wgan-gp", ["--augment.target", "0"]),  # DiffAugment, p = 1: every draw used from step 1
    ],
)
def test_augmented_run_resumed_at_4_logs_what_an_unstopped_run_logs(tmp_path, data, preset, extra):
    source = str(rgb_folder(tmp_path / "imgs")) if data == "folder" else MNIST
    flags = ["--preset", preset, "--data", source, "--image-size", "32" if data == "folder" else "0", *IMAGE_FLAGS]
    flags += ["--augment.policy", "translation,cutout,color", "--augment.target", "0.6", *extra]
    assert main(["train", "--out", str(tmp_path / "whole"), "--steps", "8", *flags]) == 0
    assert main(["train", "--out", str(tmp_path / "cut"), "--steps", "4", *flags]) == 0
    assert main(["train", "--resume", str(tmp_path / "cut"), "--steps", "8", *flags]) == 0
    whole, cut = records(tmp_path / "whole"), records(tmp_path / "cut")
    assert [r["step"] for r in whole] == list(range(1, 9))
    assert whole == cut  # losses, aug/p and aug/rt, bit for bit
    assert all("aug/p" in r for r in whole)
    assert ("aug/rt" in whole[-1]) == ("0" not in extra)
    if preset == "lsgan":
        assert whole[4]["aug/p"] == 0.0 and whole[5]["aug/p"] > 0.5  # the interval ending mid-resume moved p


def test_changed_policy_at_resume_is_one_line_and_changes_nothing(tmp_path, capsys):
    flags = ["--data", MNIST, "--preset", "wgan-gp", *IMAGE_FLAGS]
    assert main(["train", "--out", str(tmp_path / "run"), "--steps", "2", "--augment", "translation", *flags]) == 0
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    capsys.readouterr()
    code = main(["train", "--resume", str(tmp_path / "run"), "--steps", "4", "--augment", "cutout", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "augment.policy = 'cutout' differs" in err
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == before


class _SecondOfTwo:
    """Rank 1 of 2 torchrun processes, simulated in one: its half of each global batch (and of every draw),
    without the process group (no wrapping; the gradients compared are this process's own)."""

    def __new__(cls):
        from earthmover.train.distributed import DistributedContext

        class Rank1(DistributedContext):
            def wrap(self, module, device):
                return module

        return Rank1(rank=1, world_size=2)


def _critic_and_generator_grads(config, context=None):
    trainer = Trainer(config, quiet=True, context=context)
    critic_values = trainer._critic_phase()
    critic = [p.grad.clone() for p in trainer.critic.parameters()]
    generator_values = trainer._generator_phase()
    generator = [p.grad.clone() for p in trainer.generator.parameters()]
    logged = {k: v for k, v in {**critic_values, **generator_values}.items() if not k.startswith("grad_norm")}
    return critic, generator, trainer, logged


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("case", ["toy", "images", "conditional", "second-of-two"])
def test_accumulated_step_has_the_whole_batch_gradients(k, case):
    """A penalized WGAN-GP step through the Trainer: K micro-batches give the gradients of one batch (1e-6), the
    penalty's interpolation draws and (on images) the augmentation's being the whole batch's; the logged terms
    (loss/critic, loss/gradient_penalty, the estimate, loss/generator) are the whole batch's too. `conditional`: each
    micro-batch takes its rows of the labels; `second-of-two`: rank 1 of 2 processes takes its rows of the global
    batch's draws (offset B/2, global size B) and its losses are means over its own B/2 rows."""
    values: dict = {"model.width": 8} if case != "toy" else {}
    if case in ("images", "conditional"):
        values["data.name"] = MNIST
    if case == "images":
        values["augment.policy"] = "translation,cutout,color"
    if case == "conditional":
        values["model.conditional"] = "projection"
    if case == "second-of-two":
        values["augment.policy"] = "translation,cutout,color"
        values["data.name"] = MNIST
    context = _SecondOfTwo() if case == "second-of-two" else None
    one = _critic_and_generator_grads(tiny_config("wgan-gp", **values), context)
    many = _critic_and_generator_grads(tiny_config("wgan-gp", **values, **{"run.accumulate": k}), context)
    for a, b in zip(one[:2], many[:2]):
        assert len(a) == len(b)
        for ga, gb in zip(a, b):
            assert torch.allclose(ga, gb, atol=1e-6, rtol=1e-5), (ga - gb).abs().max()
    assert (
        one[3].keys() == many[3].keys()
        and {"loss/critic", "loss/gradient_penalty", "wasserstein_estimate", "loss/generator"} <= one[3].keys()
    )
    for key, value in one[3].items():
        assert torch.allclose(value, many[3][key], atol=1e-6, rtol=1e-5), (key, value, many[3][key])
    assert torch.equal(one[2].penalty_rng.get_state(), many[2].penalty_rng.get_state())
    if "augment.policy" in values:
        assert torch.equal(one[2].augment.rng.get_state(), many[2].augment.rng.get_state())


def test_an_accumulated_step_under_a_grad_scaler_unscales_to_the_whole_batch_gradients():
    """With a loss scaler on (fp16's recipe; a CPU GradScaler here), each micro-batch's loss is scaled before
    its backward, so the one unscale before the step gives the whole batch's gradients."""

    def grads_with_scaler(config):
        trainer = Trainer(config, quiet=True)
        trainer.scaler_d = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0**10)
        trainer.scaler_g = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0**10)
        trainer._critic_phase()
        critic = [p.grad.clone() for p in trainer.critic.parameters()]
        trainer._generator_phase()
        return critic + [p.grad.clone() for p in trainer.generator.parameters()]

    one = grads_with_scaler(tiny_config("wgan-gp"))
    many = grads_with_scaler(tiny_config("wgan-gp", **{"run.accumulate": 2}))
    for ga, gb in zip(one, many, strict=True):
        assert torch.allclose(ga, gb, atol=1e-6, rtol=1e-5), (ga - gb).abs().max()


def test_the_second_of_two_processes_augments_its_rows_with_its_slice_of_the_global_draws():
    """Rank 1 of 2 (simulated) augments rows B/2..B of the global batch exactly as one process augments them,
    and both leave the augmentation generator where one process leaves it."""
    config = tiny_config(
        "wgan-gp", **{"data.name": MNIST, "model.width": 8, "augment.policy": "translation,cutout,color"}
    )
    one, second = Trainer(config, quiet=True), Trainer(config, quiet=True, context=_SecondOfTwo())
    x = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    whole, half = one._augmented(x), second._augmented(x[16:])
    assert not torch.equal(whole, x) and torch.equal(half, whole[16:])
    assert torch.equal(one.augment.rng.get_state(), second.augment.rng.get_state())


def test_accumulation_beside_batch_statistics_is_refused():
    with pytest.raises(EarthmoverError, match="refused beside model.minibatch"):
        Trainer(tiny_config("wgan-gp", **{"model.minibatch": "stddev", "run.accumulate": 2}), quiet=True)
    with pytest.raises(EarthmoverError, match="does not divide data.batch_size = 32"):
        Trainer(tiny_config("wgan-gp", **{"run.accumulate": 3}), quiet=True)


def test_a_batch_too_large_today_runs_accumulated(monkeypatch):
    config = tiny_config("wgan-gp", **{"data.batch_size": 4096})
    whole = memory.training_memory(config, (2,), batch_size=4096)
    quarter = memory.training_memory(config, (2,), batch_size=1024)
    assert quarter < whole
    monkeypatch.setattr(memory, "available_memory", lambda device=None: int((whole + quarter) / 2))
    with pytest.raises(EarthmoverError, match="--run.accumulate K"):
        check_training_memory(config, (2,), "cpu")
    config.set("run.accumulate", 4)
    check_training_memory(config, (2,), "cpu")  # fits: one micro-batch of 1024 is alive at a time


@pytest.mark.distributed
def test_two_processes_match_one_with_augmentation(tmp_path):
    """Each process augments its rows with its slice of the global batch's draws, and ADA's p is moved from
    the signs of both: the curves of 2 processes are those of one (aug/p and aug/rt included)."""
    flags = ["--augment.policy", "translation,cutout,color", "--augment.target", "0.6"]
    flags += ["--augment.kimg", "0.05", "--augment.interval", "2"]
    values = {"augment.policy": "translation,cutout,color", "augment.target": 0.6, "augment.kimg": 0.05}
    values |= {"augment.interval": 2, "data.name": MNIST, "data.batch_size": 16, "model.width": 8}
    values |= {"run.steps": 6, "run.eval_metrics": "none", "model.arch": "wgan-gp-mnist"}
    # the WGAN-GP paper's MNIST networks: no batch norm, which gloo would take per shard (see test_train_distributed)
    args = ["--preset", "lsgan", "--data", MNIST, "--batch-size", "16", "--width", "8", "--steps", "6"]
    args += ["--arch", "wgan-gp-mnist"]
    torchrun([*args, "--run.eval-metrics", "none", *flags], tmp_path / "two")
    one_process("lsgan", values, tmp_path / "one")
    two, one = records(tmp_path / "two"), records(tmp_path / "one")
    assert [r["aug/p"] for r in two] == [r["aug/p"] for r in one]
    assert any(r["aug/p"] > 0 for r in one)
    for a, b in zip(two, one):
        for key in b:
            assert a[key] == pytest.approx(b[key], abs=1e-5, rel=1e-5), (b["step"], key)


def test_adaptive_p_adds_no_host_read_to_a_step():
    """ADA's signs are read with the step's finiteness flags: still one read per step, the interval's end included
    (interval 2: steps 2 and 4 move p)."""
    from test_train_syncs import counting_syncs

    values = {"data.name": MNIST, "model.width": 8, "data.batch_size": 16}
    values |= {"augment.policy": "translation,cutout,color", "augment.target": 0.6, "augment.interval": 2}
    trainer = Trainer(tiny_config("lsgan", **values, **{"augment.kimg": 0.05}), quiet=True)
    trainer.train_step()
    with counting_syncs() as calls:
        for _ in range(3):
            trainer.train_step()
    assert len(calls) <= 3, calls
    assert trainer.augment.adaptive.rt is not None and trainer.augment.adaptive._steps == 4
