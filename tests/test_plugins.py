"""Plug-ins (issue 8): a new objective, a new penalty and a new critic head, defined in this file
and nowhere under src/, register themselves and then train, resume bit-identically, and run under 2-process
torchrun exactly as one process; their parameters are config fields with ranges, flags with
help, TOML keys; a parameter set for an entry the run does not use is an error.

The plug-in's source is the string below. It is written to a module in tmp_path so that
torchrun's worker processes import it too (``--plugins test_em_plugin``, which config.toml
records, so ``--resume`` and ``--config`` load it again)."""

import importlib
import sys

import pytest
import torch

from earthmover import cli, registry
from earthmover.errors import EarthmoverError
from earthmover.train import state as ckpt
from earthmover.train.config import Config, load_toml, validate
from helpers import TINY_FLAGS
from test_train_distributed import assert_same_curves, torchrun
from test_train_resume import assert_same_state

PLUGIN = '''
"""A smooth hinge objective, a zero-centred gradient penalty at jittered data points, and a head
that reads each sample back from the critic's features."""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from earthmover.losses.heads import Head
from earthmover.losses.objectives import Objective
from earthmover.losses.penalties import Penalty, critic_input_gradient
from earthmover.registry import HEADS, OBJECTIVES, PENALTIES, param


@OBJECTIVES.register("soft-hinge")
@dataclass(frozen=True)
class SoftHinge(Objective):
    """E softplus(s (1 - D(x))) / s + E softplus(s (1 + D(x~))) / s; the hinge as s grows."""

    estimate_name = "soft_hinge_gap"
    sharpness: float = param(2.0, "how close to the hinge", above=0.0)

    def critic_loss(self, real, fake):
        s = self.sharpness
        return {"critic": F.softplus(s * (1 - real.score)).mean() / s + F.softplus(s * (1 + fake.score)).mean() / s}

    def generator_loss(self, fake):
        return {"generator": -fake.score.mean()}


@PENALTIES.register("jitter_gp")
@dataclass(frozen=True)
class JitterGP(Penalty):
    """weight * E ||grad D(x + spread * (2u - 1))||^2 with u ~ U[0, 1) per element of the real batch."""

    weight: float = param(0.0, "weight (0 = off)", min=0.0)
    spread: float = param(0.1, "half-width of the jitter", min=0.0, max=1.0)

    def __call__(self, critic, real, fake, *, weight, generator=None):
        u = generator.rand(tuple(real.shape)).to(real)  # the loop's draws: this process's slice under torchrun
        grad = critic_input_gradient(critic, real + self.spread * (2 * u - 1))
        return weight * grad.flatten(1).pow(2).sum(dim=1).mean()


@HEADS.register("input_probe")
@dataclass(frozen=True)
class InputProbe(Head):
    """A linear probe P on the critic's features: weight * (E ||P(f(x)) - x||^2 + the same on fakes)
    in the critic's loss; generator_weight * the fakes' term in the generator's loss."""

    weight: float = param(0.0, "the probe's weight in the critic's loss (0 = off)", min=0.0)
    generator_weight: float = param(0.0, "the probe's weight on fakes in the generator's loss", min=0.0)
    provides = ("probe",)
    needs = ("features",)

    def module(self, feature_dim, data):
        return torch.nn.Linear(feature_dim, math.prod(data.sample_shape))

    def critic_terms(self, real, fake):
        return {"probe": self.weight * (probe_error(real) + probe_error(fake))}

    def generator_terms(self, fake):
        return {"probe_generator": self.generator_weight * probe_error(fake)} if self.generator_weight else {}


def probe_error(scored):
    return (scored.out.extras["probe"] - scored.x.flatten(1)).pow(2).sum(dim=1).mean()
'''
MODULE = "test_em_plugin"
PLUGIN_FLAGS = [
    "--plugins",
    MODULE,
    "--objective",
    "soft-hinge",
    "--objective.sharpness",
    "3",
    "--penalty.gp",
    "0",
    "--penalty.jitter-gp",
    "2",
    "--penalty.jitter-gp-spread",
    "0.2",
    "--head.input-probe",
    "0.5",
    "--head.input-probe-generator-weight",
    "0.1",
]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plug-in module on sys.path and PYTHONPATH (for subprocesses); unregistered afterwards,
    so the other tests' configs never see it."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", f"{folder}:{__import__('os').environ.get('PYTHONPATH', '')}")
    sys.modules.pop(MODULE, None)
    importlib.invalidate_caches()
    yield folder
    registry.OBJECTIVES.unregister("soft-hinge")
    registry.PENALTIES.unregister("jitter_gp")
    registry.HEADS.unregister("input_probe")
    sys.modules.pop(MODULE, None)


def test_a_plugin_trains_and_resumes_bit_identically(tmp_path, plugin):
    common = [*TINY_FLAGS, "--quiet", "--sample-every", "1000", "--preset", "wgan-gp", *PLUGIN_FLAGS]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert cli.main(["train", "--out", str(whole), "--steps", "4", "--checkpoint-every", "2", *common]) == 0
    assert cli.main(["train", "--out", str(parts), "--steps", "2", "--checkpoint-every", "2", *common]) == 0
    assert cli.main(["train", "--resume", str(parts), "--steps", "4", "--quiet"]) == 0  # config.toml names the plug-in

    written = load_toml(whole / "config.toml")
    assert written["plugins"] == MODULE
    assert written["objective"] == {"name": "soft-hinge", "sharpness": 3.0}
    assert written["penalty"]["jitter_gp"] == 2.0 and written["penalty"]["jitter_gp_spread"] == 0.2
    assert written["head"]["input_probe"] == 0.5 and written["head"]["input_probe_generator_weight"] == 0.1
    records = [
        r
        for r in (__import__("json").loads(x) for x in (whole / "metrics.jsonl").read_text().splitlines())
        if "loss/critic" in r
    ]
    assert len(records) == 4 and all(r["loss/jitter_gp"] > 0 for r in records)
    assert all(r["loss/probe"] > 0 and r["loss/probe_generator"] > 0 for r in records)
    assert all("soft_hinge_gap" in r and "wasserstein_estimate" not in r for r in records)
    a = ckpt.load_checkpoint(ckpt.checkpoint_path(whole, 4))
    b = ckpt.load_checkpoint(ckpt.checkpoint_path(parts, 4))
    assert_same_state(a, b)
    assert {"heads.input_probe.weight", "heads.input_probe.bias"} <= set(
        a["critic"]
    )  # the head's layers are the critic's


@pytest.mark.distributed
def test_a_plugin_runs_under_torchrun_as_one_process(tmp_path, plugin):
    """The jitter draws one number per element: each process gets its slice of one process's draws."""
    args = [
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
        "6",
        "--checkpoint-every",
        "6",
        "--n-critic",
        "2",
        *PLUGIN_FLAGS,
    ]
    torchrun(args, tmp_path / "two")
    assert (
        cli.main(
            [
                "train",
                "--out",
                str(tmp_path / "one"),
                "--device",
                "cpu",
                "--run.threads",
                "1",
                "--run.measure-n",
                "64",
                "--log-every",
                "1",
                "--quiet",
                *args,
            ]
        )
        == 0
    )
    assert_same_curves(tmp_path / "two", tmp_path / "one", tol=1e-4, skip={"loss/generator"})


def test_plugin_parameters_are_config_fields_with_ranges_and_help(plugin, capsys):
    registry.load_plugins(MODULE)
    config = Config.from_preset("wgan-gp", objective__name="soft-hinge", penalty__jitter_gp=1.0)
    assert config.objective.sharpness == 2.0 and config.penalty.jitter_gp_spread == 0.1
    with pytest.raises(
        EarthmoverError, match=r"penalty.jitter_gp_spread = 2.0 is invalid; expected a value in \[0, 1\]"
    ):
        validate(Config.from_preset("wgan-gp", penalty__jitter_gp=1.0, penalty__jitter_gp_spread=2.0))
    with pytest.raises(EarthmoverError, match="objective.sharpness = 0.0 is invalid; expected a value > 0"):
        validate(Config.from_preset("wgan-gp", objective__name="soft-hinge", objective__sharpness=0))
    # a parameter of an entry the run does not use is refused, naming what applies
    with pytest.raises(
        EarthmoverError,
        match="penalty.jitter_gp_spread = 0.3 is set, but penalty.jitter_gp is off.*"
        "--penalty.jitter-gp.*on now: penalty.gp",
    ):
        validate(Config.from_preset("wgan-gp", penalty__jitter_gp_spread=0.3))
    with pytest.raises(
        EarthmoverError, match="objective.sharpness = 5.0 is set, but objective 'wasserstein' does not use it"
    ):
        validate(Config.from_preset("wgan-gp", objective__sharpness=5.0))
    with pytest.raises(SystemExit):
        cli.main(["train", "--plugins", MODULE, "--help"])
    out = capsys.readouterr().out
    assert "--penalty.jitter-gp-spread" in out and "half-width of the jitter" in out and "--objective.sharpness" in out


def test_an_unknown_plugin_module_is_one_line(capsys):
    assert cli.main(["train", "--plugins", "no_such_em_plugin"]) == 2
    err = capsys.readouterr().err
    assert "plug-in module 'no_such_em_plugin' was not found" in err and len(err.strip().splitlines()) == 1


def test_a_plugin_head_is_part_of_the_critic_and_its_terms_are_the_loss(plugin):
    """The head's layers sit on the critic's features (trained by the critic's optimizer, never by
    the generator's), and each phase's loss holds its terms, equal to a hand computation on the
    phase's own batch."""
    from earthmover.train.loop import Trainer
    from helpers import tiny_config

    registry.load_plugins(MODULE)
    config = tiny_config("wgan-gp", **{"head.input_probe": 0.5, "head.input_probe_generator_weight": 0.1})
    trainer = Trainer(validate(config), quiet=True)
    probe = trainer.critic.heads["input_probe"]
    assert probe.in_features == 16 and probe.out_features == 2  # model.width features in, a 2-D sample out
    assert any(p is probe.weight for group in trainer.opt_d.param_groups for p in group["params"])

    # the critic phase: replay its draws by hand, then run it from the same state
    stream_state, latent_state = trainer.stream.state_dict(), trainer.latent_rng.get_state()
    real = trainer.stream.next_batch()
    with torch.no_grad():
        fake = trainer.generator(trainer._latents())
        out = trainer.critic(torch.cat([real, fake]))
        n = len(real)
        by_hand = 0.5 * (
            (out.extras["probe"][:n] - real).pow(2).sum(1).mean()
            + (out.extras["probe"][n:] - fake).pow(2).sum(1).mean()
        )
    trainer.stream.load_state_dict(stream_state)
    trainer.latent_rng.set_state(latent_state)
    before = probe.weight.detach().clone()
    values = trainer._critic_phase()
    assert float(values["loss/probe"]) == pytest.approx(float(by_hand), rel=1e-5)
    assert not torch.equal(probe.weight, before)  # stepped with the critic

    latent_state = trainer.latent_rng.get_state()
    with torch.no_grad():
        fake = trainer.generator(trainer._latents())
        by_hand = 0.1 * (trainer.critic(fake).extras["probe"] - fake).pow(2).sum(1).mean()
    trainer.latent_rng.set_state(latent_state)
    before = probe.weight.detach().clone()
    values = trainer._generator_phase()
    assert float(values["loss/probe_generator"]) == pytest.approx(float(by_hand), rel=1e-5)
    assert torch.equal(probe.weight, before)  # the generator's step leaves the critic's head alone
