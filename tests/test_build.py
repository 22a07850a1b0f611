"""The builder wires entries by what they declare (issue 8): the critic EBGAN needs comes from the
head that provides an energy, not from the objective's name; batch statistics are refused in a
penalized critic by reading the built module; spectral normalization is measured right on
transposed convolutions; the config says what a plain run uses."""

import pytest
import torch

from earthmover import cli
from earthmover.errors import EarthmoverError
from earthmover.losses.constraints import apply_spectral_norm, largest_singular_values
from earthmover.losses.heads import Reconstruction
from earthmover.train.build import batch_statistics_layers, build_critic, build_plan
from earthmover.train.config import Config, validate
from earthmover.train.loop import Trainer
from helpers import tiny_config


def test_the_auto_encoder_critic_comes_from_what_the_objective_needs(monkeypatch):
    plan = build_plan(Config.from_preset("ebgan"))
    assert [type(h) for h in plan.heads] == [Reconstruction]
    assert build_plan(Config.from_preset("wgan-gp")).heads == []
    # an objective under another name that needs an energy gets the same critic
    from earthmover.losses.objectives import EnergyBased
    from earthmover.registry import OBJECTIVES

    OBJECTIVES.register("energy-renamed")(type("Renamed", (EnergyBased,), {}))
    try:
        config = Config.from_preset("ebgan", objective__name="energy-renamed")
        critic = build_critic(config, (2,))
        assert type(critic).__name__ == "AutoEncoderCritic"
    finally:
        OBJECTIVES.unregister("energy-renamed")


def test_batch_norm_in_the_built_critic_is_refused_with_a_penalty():
    """The check reads the built module, whatever model.critic_norm says: an architecture whose
    critic hides a batch norm (as EBGAN's dcgan decoder did) is refused with a penalty."""
    from dataclasses import replace

    from earthmover.nets import registry as nets

    def hidden_bn_critic(spec):
        return torch.nn.Sequential(nets.ARCHITECTURES["mlp"].critic(spec), _WithBatchNorm())

    nets.register(replace(nets.ARCHITECTURES["mlp"], name="test-hidden-bn", critic=hidden_bn_critic))
    try:
        config = tiny_config("wgan-gp", model__arch="test-hidden-bn")
        validate(config)  # the configuration alone cannot tell
        with pytest.raises(EarthmoverError, match=r"batch statistics in 1 layer\(s\).*BatchNorm1d.*penalty.gp"):
            Trainer(config, quiet=True)
        # without a penalty the same critic is allowed (the original DCGAN's setting)
        Trainer(tiny_config("wgan", model__arch="test-hidden-bn"), quiet=True)
    finally:
        nets.ARCHITECTURES.unregister("test-hidden-bn")
    # EBGAN's dcgan auto-encoder with a gradient penalty: its decoder now has no batch norm
    config = Config.from_preset(
        "ebgan",
        penalty__gp=10,
        model__arch="dcgan",
        data__name="digits",
        data__image_size=28,
        model__width=4,
        run__device="cpu",
    )
    assert batch_statistics_layers(Trainer(validate(config), quiet=True).critic) == []
    # and a batch-norm layer is found anywhere in a module
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Sequential(torch.nn.SyncBatchNorm(4)))
    assert batch_statistics_layers(net) == ["1.0 (SyncBatchNorm)"]


class _WithBatchNorm(torch.nn.Module):
    """Passes a CriticOutput through, with its score normalized over the batch."""

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(1)

    def forward(self, out):
        return type(out)(self.norm(out.score[:, None])[:, 0], out.features)


def test_largest_singular_values_of_a_normalized_transposed_convolution_are_one():
    torch.manual_seed(0)
    layer = apply_spectral_norm(torch.nn.ConvTranspose2d(8, 4, 4, 2, 1))
    for _ in range(30):
        layer(torch.randn(2, 8, 4, 4))
    layer.eval()
    (sigma,) = largest_singular_values(layer)
    assert sigma == pytest.approx(1.0, abs=1e-3)


def test_a_plain_config_is_the_quickstart_run_and_valid():
    config = validate(Config())
    assert config == Config.from_preset("quickstart")
    assert config.penalty.gp > 0 and config.run.steps == Config.from_preset("quickstart").run.steps


def test_a_wasserstein_critic_without_lipschitz_control_is_refused():
    with pytest.raises(
        EarthmoverError,
        match="objective 'wasserstein' needs a Lipschitz critic.*--penalty.gp.*"
        "--constraint.clip.*--constraint.spectral-norm",
    ):
        validate(Config.from_preset("wgan-gp", penalty__gp=0))
    for fix in ({"penalty.gp": 1.0}, {"constraint.clip": 0.01}, {"constraint.spectral_norm": True}):
        validate(Config.from_preset("wgan-gp", penalty__gp=0).apply(fix))


def test_help_shows_what_a_plain_run_uses(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: quickstart)" in out and "wgan-gp)" not in out
    gp = Config().penalty.gp
    assert (
        "--penalty.gp V [penalty gp] Gradient penalty weight lambda (WGAN-GP; 0 = off); "
        f"a finite value >= 0 (default {gp!r})" in out
    )
    assert "(default 0.0)" not in out.split("--penalty.gp V")[1].split("--")[0]
    assert "--optim.lr-d V Critic learning rate; a learning rate > 0 (default 0.001)" in out


def test_presets_and_config_do_not_import_each_other():
    import ast

    import earthmover.train.presets

    tree = ast.parse(open(earthmover.train.presets.__file__).read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "earthmover.train.config" not in imported and imported & {"earthmover.errors", "earthmover.registry"}


def test_an_old_style_config_toml_with_every_field_still_loads(tmp_path):
    """config.toml of earlier versions lists every field, parameters of unused objectives included."""
    old = """preset = "wgan-gp"
[run]
seed = 3
steps = 7
[objective]
name = "wasserstein"
margin = 10.0
pt_weight = 0.1
a = 0.0
b = 1.0
c = 1.0
lam = 1.0
margin_scale = 0.0002
[penalty]
gp = 10.0
gp_target = 1.0
gp_one_sided = false
gp_points = "between"
r1 = 0.0
r2 = 0.0
dragan = 0.0
consistency = 0.0
consistency_margin = 0.0
every = 1
[constraint]
clip = 0.0
spectral_norm = false
"""
    from earthmover.train.config import load_toml

    (tmp_path / "config.toml").write_text(old)
    config = validate(Config.from_dict(load_toml(tmp_path / "config.toml")))
    assert (config.run.seed, config.penalty.gp, config.objective.name) == (3, 10.0, "wasserstein")
    again = Config.from_dict(load_toml(tmp_path / "config.toml"))
    config.save(tmp_path / "new.toml")
    assert Config.from_dict(load_toml(tmp_path / "new.toml")) == again


def test_the_estimate_is_named_for_what_it_estimates():
    for preset, name in (
        ("wgan-gp", "wasserstein_estimate"),
        ("hinge", "score_gap"),
        ("ebgan", "energy_gap"),
        ("loss-sensitive", "loss_gap"),
    ):
        values = Trainer(tiny_config(preset), quiet=True).train_step()
        others = {"wasserstein_estimate", "score_gap", "energy_gap", "loss_gap"} - {name}
        assert name in values and not others & set(values), preset


def test_an_entry_that_reads_features_is_refused_by_a_critic_that_returns_none():
    """The consistency term reads the critic's features: a critic that returns only a score is
    refused when it is built (the configuration cannot tell), naming the entry and the fix."""
    from dataclasses import replace

    from earthmover.nets import registry as nets

    def score_only(spec):
        critic = nets.ARCHITECTURES["mlp"].critic(spec)
        return _ScoreOnly(critic)

    nets.register(replace(nets.ARCHITECTURES["mlp"], name="test-score-only", critic=score_only))
    try:
        config = validate(tiny_config("ct-gan", model__arch="test-score-only"))
        with pytest.raises(
            EarthmoverError,
            match=r"penalty.consistency needs the critic's features, but the critic built for "
            r"model.arch = 'test-score-only' returns only a score; choose",
        ):
            Trainer(config, quiet=True)
        Trainer(tiny_config("wgan-gp", model__arch="test-score-only"), quiet=True)  # nothing reads features
    finally:
        nets.ARCHITECTURES.unregister("test-score-only")


class _ScoreOnly(torch.nn.Module):
    def __init__(self, critic):
        super().__init__()
        self.critic = critic

    def forward(self, x):
        return self.critic(x).score


def test_reading_the_critics_feature_width_changes_nothing():
    """The builder's look at the features runs the critic once in eval mode: batch-norm statistics,
    spectral-norm vectors, the training flag and the global RNG are as before."""
    from earthmover.losses.constraints import apply_spectral_norm
    from earthmover.losses.heads import feature_dim
    from earthmover.nets.critic_output import CriticOutput

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = apply_spectral_norm(torch.nn.Linear(2, 8))
            self.bn = torch.nn.BatchNorm1d(8)
            self.drop = torch.nn.Dropout(0.5)

        def forward(self, x):
            h = self.drop(self.bn(self.a(x + 1)))
            return CriticOutput(h.sum(1), h)

    torch.manual_seed(0)
    net = Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    assert feature_dim(net, (2,)) == 8
    assert net.training and torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_heads_needs_are_checked_like_the_others():
    from dataclasses import dataclass
    from typing import ClassVar

    from earthmover.losses.heads import Head
    from earthmover.registry import HEADS, param

    @HEADS.register("test_needs_dropout")
    @dataclass(frozen=True)
    class NeedsDropout(Head):
        weight: float = param(0.0, "weight", min=0.0)
        needs: ClassVar[tuple[str, ...]] = ("dropout",)

    try:
        with pytest.raises(
            EarthmoverError, match="head.test_needs_dropout needs dropout in the critic; set model.dropout"
        ):
            validate(tiny_config("wgan-gp", **{"head.test_needs_dropout": 1.0}))
        validate(tiny_config("wgan-gp", **{"head.test_needs_dropout": 1.0, "model.dropout": 0.5}))
    finally:
        HEADS.unregister("test_needs_dropout")


@pytest.mark.parametrize("phase", ["critic", "generator"])
def test_a_head_term_that_clashes_with_another_entrys_is_refused(phase):
    from dataclasses import dataclass

    from earthmover.losses.heads import Head
    from earthmover.registry import HEADS, param

    @HEADS.register("test_clash")
    @dataclass(frozen=True)
    class Clash(Head):
        weight: float = param(0.0, "weight", min=0.0)

        def critic_terms(self, real, fake):
            return {"critic": real.score.mean()} if phase == "critic" else {}

        def generator_terms(self, fake):
            return {"generator": fake.score.mean()} if phase == "generator" else {}

    try:
        trainer = Trainer(validate(tiny_config("wgan-gp", **{"head.test_clash": 1.0})), quiet=True)
        with pytest.raises(
            EarthmoverError, match=f"head.test_clash returns the loss term '{phase}', which another entry already uses"
        ):
            trainer.critic_step() if phase == "critic" else trainer.generator_step()
    finally:
        HEADS.unregister("test_clash")
