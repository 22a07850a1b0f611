"""Config (issue 5): dataclasses <-> TOML round trip, a run's config.toml reproduces the run,
unknown keys and flags suggest the nearest valid name, invalid values name the field and the
allowed range, and the CLI says so in one line with status 2."""

import json
from pathlib import Path

import pytest

from earthmover import cli
from earthmover.errors import EarthmoverError
from earthmover.train.config import Config, load_toml, validate
from helpers import TINY_FLAGS

MNIST_FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")
TINY = [*TINY_FLAGS, "--quiet", "--sample-every", "1000"]


def a_config_with_every_section_changed() -> Config:
    config = Config(preset="ct-gan")
    values = {
        "run.seed": 7,
        "run.steps": 123,
        "run.on_nan": "rollback",
        "run.rollback_lr_factor": 0.25,
        "run.eval_metrics": "fid,kid",
        "data.name": "mnist",
        "data.batch_size": 48,
        "data.image_size": 32,
        "model.arch": "dcgan",
        "model.dropout": 0.5,
        "model.ema": 0.999,
        "objective.name": "loss-sensitive",
        "objective.margin_scale": 3e-4,
        "penalty.gp": 10.0,
        "penalty.gp_one_sided": True,
        "penalty.consistency": 2.0,
        "constraint.spectral_norm": True,
        "optim.lr_d": 3.3e-4,
        "optim.beta2": 0.99,
        "optim.lr_decay": "linear",
    }
    for dotted, value in values.items():
        config.set(dotted, value)
    return validate(config)


def test_toml_round_trip_is_exact(tmp_path):
    config = a_config_with_every_section_changed()
    path = tmp_path / "config.toml"
    config.save(path)
    again = Config.from_dict(load_toml(path))
    assert again == config
    assert again.to_dict() == config.to_dict()
    assert again.optim.lr_d == 3.3e-4 and isinstance(again.run.rollback_lr_factor, float)
    assert again.penalty.gp_one_sided is True and again.run.seed == 7
    assert Config.from_dict(load_toml(path)).to_toml() == path.read_text()  # a fixed point
    # every field the run uses is in the file (and every penalty and constraint switch, off ones
    # too), so the file alone reproduces the run, laid over any preset; nothing else is
    file_fields = {f"{s}.{k}" for s, table in load_toml(path).items() if isinstance(table, dict) for k in table}
    assert file_fields == set(config.applicable())
    assert {
        "objective.margin_scale",
        "objective.lam",
        "penalty.gp_one_sided",
        "penalty.consistency_margin",
        "penalty.r1",
        "constraint.clip",
    } <= file_fields
    assert not file_fields & {"objective.margin", "objective.a", "penalty.dragan_target"}
    assert Config.from_preset("wgan", **{"penalty.gp": 0}) != Config.from_preset("wgan", **{"penalty.gp": 1})
    # laid over another preset (whose penalty this run switched off), the file still gives this run
    other = Config("r1").apply(load_toml(path))
    assert other.to_dict() == {**config.to_dict(), "preset": "ct-gan"}


def test_a_runs_config_toml_reproduces_its_losses(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert (
        cli.main(
            [
                "train",
                "--out",
                str(first),
                "--steps",
                "3",
                "--seed",
                "11",
                "--preset",
                "wgan-lp",
                "--optim.lr-d",
                "3e-4",
                *TINY,
            ]
        )
        == 0
    )
    assert cli.main(["train", "--config", str(first / "config.toml"), "--out", str(second), "--quiet"]) == 0

    def losses(run):
        out = []
        for line in (run / "metrics.jsonl").read_text().splitlines():
            record = json.loads(line)
            record.pop("steps_per_second", None)
            out.append(record)
        return out

    assert losses(first) == losses(second) and len(losses(first)) >= 3
    assert load_toml(first / "config.toml") == load_toml(second / "config.toml")
    # flags still override the file
    from earthmover.train.command import build_config

    args = cli.build_parser().parse_args(
        ["train", "--config", str(first / "config.toml"), "--steps", "2", "--lr-g", "5e-5"]
    )
    config = build_config(args)
    assert (config.run.steps, config.optim.lr_g, config.optim.lr_d, config.preset) == (2, 5e-5, 3e-4, "wgan-lp")
    assert config.penalty.gp_one_sided is True


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[optim]\nlr_dd = 1e-4\n", "unknown config field 'optim.lr_dd'; did you mean 'optim.lr_d'?"),
        ("[optimizer]\nlr_d = 1e-4\n", "unknown config section 'optimizer'; did you mean 'optim'?"),
        ("seed = 3\n", "did you mean 'run.seed'"),
        ('[run]\nsteps = "ten"\n', "run.steps must be an integer, got 'ten'"),
        ("[run]\nsteps = 100\n[run\n", "is not valid TOML"),
    ],
)
def test_bad_config_files_name_the_key_and_the_fix(tmp_path, capsys, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    assert cli.main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--optim.lr-dd", "unknown flag --optim.lr-dd; did you mean --optim.lr-d"),
        ("--stepz", "unknown flag --stepz; did you mean --steps"),
        ("--penalty.gradient-penalty", "did you mean --penalty.gp"),
        ("--optim.n_critc", "did you mean --optim.n-critic"),
    ],
)
def test_unknown_flags_suggest_the_nearest(capsys, flag, message):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", flag, "3"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_field_names_may_be_written_with_underscores(tmp_path):
    from earthmover.train.command import build_config

    parser = cli.build_parser()
    config = build_config(parser.parse_args(["train", "--optim.lr_d", "2e-4", "--run.checkpoint_every", "7"]))
    assert config.optim.lr_d == 2e-4 and config.run.checkpoint_every == 7


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lr-d", "-1e-4"], "optim.lr_d = -0.0001 is invalid; expected a learning rate > 0"),
        (["--lr-g", "nan"], "optim.lr_g = nan is invalid; expected a learning rate > 0"),
        (["--n-critic", "0"], "optim.n_critic = 0 is invalid; expected an integer >= 1"),
        (["--penalty.gp", "-10"], "penalty.gp = -10.0 is invalid; expected a finite value >= 0"),
        (["--penalty.r1", "-1"], "penalty.r1 = -1.0 is invalid; expected a finite value >= 0"),
        (["--constraint.clip", "-0.01"], "constraint.clip = -0.01 is invalid; expected a finite value >= 0"),
        (["--steps", "0"], "run.steps = 0 is invalid; expected an integer >= 1"),
        (["--batch-size", "0"], "data.batch_size = 0 is invalid; expected an integer >= 1"),
        (["--optim.beta1", "1"], "optim.beta1 = 1.0 is invalid; expected a value in [0, 1)"),
        (["--ema", "1.5"], "model.ema = 1.5 is invalid; expected a value in [0, 1)"),
        (["--device", "tpu"], "run.device = 'tpu' is invalid; expected one of auto, cpu, cuda, mps"),
        (["--objective", "wasserstien"], "did you mean 'wasserstein'"),
        (["--steps", "ten"], "run.steps must be an integer, got 'ten'"),
        (["--penalty.gp-one-sided", "maybe"], "penalty.gp_one_sided must be true or false, got 'maybe'"),
        (["--model.critic-norm", "batch"], "model.critic_norm = 'batch' couples samples"),
        (["--run.rollback-lr-factor", "1"], "run.rollback_lr_factor = 1.0 is invalid; expected a value in (0, 1)"),
    ],
)
def test_invalid_values_name_the_field_and_the_range(tmp_path, capsys, flags, message):
    assert cli.main(["train", "--out", str(tmp_path / "run"), *TINY, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing written for a config that does not validate


def test_data_dependent_errors_name_the_field(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EARTHMOVER_MNIST", MNIST_FIXTURE)
    common = ["--out", str(tmp_path / "run"), "--quiet", "--run.threads", "1", "--width", "4", "--device", "cpu"]
    # a batch larger than the dataset (the fixture has 512 training images)
    assert cli.main(["train", "--data", "mnist", "--batch-size", "1000", *common]) == 2
    err = capsys.readouterr().err
    assert "data.batch_size = 1000 is larger than the dataset" in err and "512 images" in err and "<= 512" in err
    # an architecture that cannot take the data's size: dcgan on the 8x8 digits
    assert cli.main(["train", "--data", "digits", "--arch", "dcgan", *common]) == 2
    err = capsys.readouterr().err
    assert "got 8" in err and "data.image_size" in err and "28, 32, 64" in err
    assert len(err.strip().splitlines()) == 1
    # ...which image_size fixes
    config = Config()
    for dotted, value in {
        "data.name": "digits",
        "data.image_size": 32,
        "model.arch": "dcgan",
        "model.width": 4,
        "data.batch_size": 32,
        "run.device": "cpu",
    }.items():
        config.set(dotted, value)
    from earthmover.train.loop import Trainer

    assert Trainer(config, quiet=True).sample_shape == (1, 32, 32)
    # a batch that does not split over the processes
    from earthmover.train.distributed import DistributedContext

    config = Config()
    config.set("data.batch_size", 33)
    with pytest.raises(EarthmoverError, match="data.batch_size = 33 does not split evenly over 2 processes"):
        Trainer(config, quiet=True, context=DistributedContext(rank=0, world_size=2))


def test_validate_accepts_every_preset():
    from earthmover.train.presets import PRESETS, preset_values

    for name in PRESETS:
        config = Config(preset=name)
        for dotted, value in preset_values(name).items():
            config.set(dotted, value)
        validate(config)


def test_did_you_mean_is_the_one_hint_with_case_and_prefix():
    from earthmover.errors import did_you_mean

    assert did_you_mean("mnsit", ["mnist", "digits"]) == "; did you mean 'mnist'?"
    assert did_you_mean("MNSIT", ["mnist", "digits"]) == ""
    assert did_you_mean("MNSIT", ["mnist", "digits"], casefold=True) == "; did you mean 'mnist'?"
    assert (
        did_you_mean("Cifar10", ["CIFAR10", "MNIST"], casefold=True, prefix="torchvision:")
        == "; did you mean 'torchvision:CIFAR10'?"
    )


def test_get_refuses_an_unknown_field_as_set_does():
    """Benchmarks read a field before setting it (to convert a --set value); a typo was an AttributeError."""
    with pytest.raises(EarthmoverError, match="unknown config field 'model.nope'; did you mean"):
        Config().get("model.nope")
    assert Config().get("optim.lr-g") == Config().get("optim.lr_g")
