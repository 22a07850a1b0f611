"""Issue 10's pieces plugged into the one loop (no branch on their names): concat and projection
conditioning, AC-GAN's class head and InfoGAN's codes train with each objective, resume exactly,
run under 2-process torchrun as one process; a source without labels is one line; `sample` draws
a class (--label), a grid with one row per class (--per-label) and InfoGAN's code sweep."""

import json
from pathlib import Path

import pytest
import torch

from earthmover import cli
from earthmover.losses.objectives import Scored
from earthmover.nets.critic_output import CriticOutput
from earthmover.train import state as ckpt
from earthmover.train.config import Config, validate
from earthmover.train.loop import Trainer
from earthmover.train.sampler import load_sampler
from test_train_distributed import assert_same_curves, torchrun
from test_train_resume import assert_same_state

FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")
PIECES = {
    "concat": ["--model.conditional", "concat"],
    "projection": ["--model.conditional", "projection"],
    "acgan": ["--head.acgan", "1"],
    "infogan": ["--head.infogan", "1", "--head.infogan-noise-dim", "8"],
}
SMALL = [
    "--data",
    "mnist",
    "--width",
    "4",
    "--batch-size",
    "16",
    "--n-critic",
    "1",
    "--run.threads",
    "1",
    "--device",
    "cpu",
    "--log-every",
    "1",
    "--sample-every",
    "1000",
    "--quiet",
    "--run.eval-metrics",
    "",
]


@pytest.fixture
def mnist(monkeypatch):
    monkeypatch.setenv("EARTHMOVER_MNIST", FIXTURE)


def _config(preset, piece, **values):
    config = Config.from_preset(preset)
    flags = dict(zip(PIECES[piece][::2], PIECES[piece][1::2]))
    for key, value in {
        "data.name": "mnist",
        "model.width": 4,
        "data.batch_size": 16,
        "optim.n_critic": 1,
        "run.threads": 1,
        "run.device": "cpu",
        **{k[2:].replace("-", "_"): v for k, v in flags.items()},
        **values,
    }.items():
        config.set(key, value)
    return validate(config)


@pytest.mark.parametrize("piece", list(PIECES))
@pytest.mark.parametrize("preset", ["wgan-gp", "dcgan", "lsgan", "sngan"])
def test_each_piece_takes_training_steps_with_each_objective(mnist, piece, preset):
    trainer = Trainer(_config(preset, piece), quiet=True)
    for _ in range(2):
        values = trainer.train_step()
    assert all(torch.isfinite(v).all() for v in values.values())
    if piece == "acgan":
        assert {"loss/acgan_real", "loss/acgan_fake", "loss/acgan_generator"} <= set(values)
    if piece == "infogan":
        assert {"loss/info_categorical", "loss/info_continuous", "loss/info_categorical_generator"} <= set(values)


@pytest.mark.parametrize("piece", list(PIECES))
def test_each_piece_resumes_bit_identically(mnist, tmp_path, piece):
    assert_resumes_exactly(tmp_path, [*SMALL, "--preset", "wgan-gp", *PIECES[piece]])


def assert_resumes_exactly(tmp_path, common, stop=2, steps=4):
    """A run stopped at `stop` and resumed ends in the state of the run that never stopped."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert (
        cli.main(["train", "--out", str(whole), "--steps", str(steps), "--checkpoint-every", str(stop), *common]) == 0
    )
    assert cli.main(["train", "--out", str(parts), "--steps", str(stop), "--checkpoint-every", str(stop), *common]) == 0
    assert cli.main(["train", "--resume", str(parts), "--steps", str(steps), "--quiet"]) == 0
    assert_same_state(
        ckpt.load_checkpoint(ckpt.checkpoint_path(whole, steps)),
        ckpt.load_checkpoint(ckpt.checkpoint_path(parts, steps)),
    )
    return whole, parts


@pytest.mark.distributed
def test_acgan_under_torchrun_is_one_process(mnist, tmp_path):
    """Each process takes its rows of the global batch and of its labels; the fakes of the critic
    step are asked for the real batch's classes. (wgan-gp-mnist: a generator without batch norm,
    which on CPU normalizes each process's shard apart.)"""
    args = [
        "--preset",
        "wgan-gp",
        "--data",
        "mnist",
        "--arch",
        "wgan-gp-mnist",
        "--width",
        "4",
        "--batch-size",
        "16",
        "--n-critic",
        "2",
        "--steps",
        "3",
        "--checkpoint-every",
        "3",
        "--sample-every",
        "1000",
        "--run.eval-metrics",
        "",
        "--head.acgan",
        "1",
        "--model.conditional",
        "projection",
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
                "--log-every",
                "1",
                "--quiet",
                *args,
            ]
        )
        == 0
    )
    assert_same_curves(tmp_path / "two", tmp_path / "one", tol=1e-4)


def test_a_source_without_labels_is_one_line_and_writes_nothing(tmp_path, capsys):
    for piece in ("concat", "acgan"):
        out = tmp_path / piece
        assert (
            cli.main(["train", "--data", "8gaussians", "--out", str(out), "--steps", "2", "--quiet", *PIECES[piece]])
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "needs class labels, but the data source '8gaussians' has none" in err
        assert not out.exists()


def test_the_critic_steps_fakes_share_the_real_batchs_labels(mnist):
    """Interpolates between real and fake samples are only meaningful within a class: the critic
    step's fakes are generated for the real batch's labels, and the penalty sees those labels."""
    trainer = Trainer(_config("wgan-gp", "concat"), quiet=True)
    seen = []
    generator_forward = trainer.generator.forward
    trainer.generator.forward = lambda z, labels: (seen.append(labels.clone()), generator_forward(z, labels))[1]
    stream_state = trainer.stream.state_dict()
    _, real_labels = trainer.stream.next_labelled_batch()
    trainer.stream.load_state_dict(stream_state)
    trainer._critic_phase()
    assert torch.equal(seen[0], real_labels)


def test_the_registered_acgan_terms_are_the_class_cross_entropies():
    from earthmover.losses.conditional_heads import ACGAN

    torch.manual_seed(0)
    real_logits, fake_logits = torch.randn(6, 4), torch.randn(6, 4)
    real_y, fake_y = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([3, 3, 2, 1, 0, 0])
    real = Scored(torch.zeros(6, 2), CriticOutput(torch.zeros(6), None, {"class_logits": real_logits}), labels=real_y)
    fake = Scored(torch.zeros(6, 2), CriticOutput(torch.zeros(6), None, {"class_logits": fake_logits}), labels=fake_y)
    head = ACGAN(weight=1.0, fake_weight=0.5, generator_weight=0.1)

    def by_hand(logits, y):
        return -torch.stack([logits[i].log_softmax(0)[y[i]] for i in range(6)]).mean()

    terms = head.critic_terms(real, fake)
    assert float(terms["acgan_real"]) == pytest.approx(float(by_hand(real_logits, real_y)), rel=1e-6)
    assert float(terms["acgan_fake"]) == pytest.approx(0.5 * float(by_hand(fake_logits, fake_y)), rel=1e-6)
    assert float(head.generator_terms(fake)["acgan_generator"]) == pytest.approx(
        0.1 * float(by_hand(fake_logits, fake_y)), rel=1e-6
    )


def test_the_infogan_term_reaches_the_generator_in_the_loop(mnist):
    """The known trap: the generator step must not detach the fakes on their way to Q. With the
    bound's weight doubled, the generator's gradient changes (same draws, same weights)."""
    grads = []
    for weight in (1.0, 2.0):
        trainer = Trainer(_config("wgan-gp", "infogan", **{"head.infogan": weight}), quiet=True)
        trainer._generator_phase()
        grads.append(torch.cat([p.grad.flatten() for p in trainer.generator.parameters() if p.grad is not None]))
    assert not torch.allclose(grads[0], grads[1])


def _trained(tmp_path, piece) -> Path:
    run = tmp_path / piece
    assert cli.main(["train", "--out", str(run), "--steps", "2", "--preset", "wgan-gp", *SMALL, *PIECES[piece]]) == 0
    return run


def test_sample_label_and_per_label_ask_the_generator_for_those_classes(mnist, tmp_path):
    run = _trained(tmp_path, "concat")
    sampler = load_sampler(run)
    assert sampler.num_classes == 10
    x = sampler.sample(5, seed=3, labels=torch.full((5,), 7))
    z = torch.Generator().manual_seed(3)
    by_hand = sampler.generator(torch.randn(5, sampler.latent_dim, generator=z), torch.full((5,), 7))
    assert torch.equal(x, by_hand)
    assert (
        cli.main(
            [
                "sample",
                "--run",
                str(run),
                "--per-label",
                "3",
                "--npz",
                str(tmp_path / "grid.npz"),
                "--out",
                str(tmp_path / "grid.png"),
            ]
        )
        == 0
    )
    import numpy as np

    grid = torch.from_numpy(np.load(tmp_path / "grid.npz")["samples"])
    assert grid.shape == (30, 1, 28, 28)  # 10 rows of 3
    labels = torch.arange(10).repeat_interleave(3)
    assert torch.equal(grid, sampler.sample(30, seed=0, labels=labels))
    # the picture is 10 rows of 3 columns
    from PIL import Image

    width, height = Image.open(tmp_path / "grid.png").size
    assert height > 3 * width


def test_sample_refuses_labels_for_an_unconditional_run_and_a_class_it_has_not(mnist, tmp_path, capsys):
    run = _trained(tmp_path, "infogan")
    assert cli.main(["sample", "--run", str(run), "--label", "3"]) == 2
    assert "--label needs a run whose generator is conditioned on labels" in capsys.readouterr().err
    conditional = _trained(tmp_path, "acgan")
    assert cli.main(["sample", "--run", str(conditional), "--label", "10"]) == 2
    assert "--label 10 is not a class of this run; pick one from 0 to 9" in capsys.readouterr().err
    assert cli.main(["sample", "--run", str(conditional), "--code-sweep"]) == 2
    assert "--code-sweep needs an InfoGAN run" in capsys.readouterr().err


def test_code_sweep_rows_are_the_categorical_codes_values(mnist, tmp_path):
    run = _trained(tmp_path, "infogan")
    assert (
        cli.main(
            [
                "sample",
                "--run",
                str(run),
                "--code-sweep",
                "--npz",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    import numpy as np

    from earthmover.data.codes import code_sweep
    from earthmover.data.latent import Draw

    sampler = load_sampler(run)
    sweep = code_sweep(sampler.latent.codes, generator=torch.Generator().manual_seed(0))
    assert sweep.categorical[:, 0].tolist() == [r for r in range(10) for _ in range(9)]
    assert torch.equal(
        torch.from_numpy(np.load(tmp_path / "s.npz")["samples"]), sampler.generate(Draw(sweep.latent(), None, sweep))
    )


# ---------------------------------------------------------------------------------------- minibatch layers


@pytest.mark.parametrize("layer", ["discrimination", "stddev"])
@pytest.mark.parametrize(
    "preset,arch", [("dcgan", "mlp"), ("lsgan", "mlp"), ("wgan", "mlp"), ("hinge", "dcgan"), ("dcgan", "resnet")]
)
def test_a_minibatch_layer_trains_in_each_critic_and_objective(mnist, layer, preset, arch):
    values = {
        "model.minibatch": layer,
        "model.arch": arch,
        "model.width": 8,
        "data.batch_size": 16,
        "optim.n_critic": 1,
        "run.threads": 1,
        "run.device": "cpu",
    }
    if arch != "mlp":
        values["data.name"] = "mnist"
    else:
        values.update({"data.name": "8gaussians", "model.depth": 2})
    config = Config.from_preset(preset)
    for key, value in values.items():
        config.set(key, value)
    trainer = Trainer(validate(config), quiet=True)
    assert any(getattr(m, "couples_samples", False) for m in trainer.critic.modules())
    for _ in range(2):
        assert all(torch.isfinite(v).all() for v in trainer.train_step().values())


def test_a_minibatch_layer_beside_a_penalty_is_refused_unless_asked_for(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--preset", "wgan-gp", "--model.minibatch", "stddev", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1 and "model.minibatch = 'stddev' makes each sample's score depend on the rest" in err
    )
    assert "--model.minibatch-with-penalty true" in err and not out.exists()
    config = Config.from_preset(
        "wgan-gp",
        model__minibatch="stddev",
        model__minibatch_with_penalty=True,
        data__batch_size=16,
        model__width=8,
        run__device="cpu",
    )
    Trainer(validate(config), quiet=True).train_step()


@pytest.mark.parametrize("layer", ["none", "discrimination"])
def test_a_critic_that_couples_samples_scores_real_and_fake_apart(layer):
    """Minibatch statistics over real and fake together would let each batch see the other: with a
    minibatch layer the critic step makes two passes of one batch each, else one pass of both."""
    config = Config.from_preset(
        "dcgan", model__minibatch=layer, data__batch_size=16, model__width=8, run__device="cpu", run__threads=1
    )
    trainer = Trainer(validate(config), quiet=True)
    sizes = []
    trainer.critic.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    trainer._critic_phase()
    assert sizes == ([16, 16] if layer != "none" else [32])


def test_a_minibatch_run_resumes_bit_identically(tmp_path):
    common = [
        "--preset",
        "dcgan",
        "--model.minibatch",
        "discrimination",
        "--data",
        "8gaussians",
        "--width",
        "8",
        "--model.depth",
        "2",
        "--batch-size",
        "16",
        "--run.threads",
        "1",
        "--device",
        "cpu",
        "--quiet",
        "--sample-every",
        "1000",
    ]
    assert_resumes_exactly(tmp_path, common)


# ---------------------------------------------------------------------------------------- progressive growing

GROW = {
    "data.name": "mnist",
    "data.image_size": 16,
    "model.arch": "progressive",
    "model.width": 8,
    "model.grow": True,
    "model.grow_fade": 32,
    "model.grow_stabilize": 16,
    "model.grow_batch_sizes": "4:16,8:16,16:8",
    "data.batch_size": 8,
    "optim.n_critic": 1,
    "run.threads": 1,
    "run.device": "cpu",
    "run.eval_metrics": "",
}
GROW_FLAGS = [
    "--data",
    "mnist",
    "--data.image-size",
    "16",
    "--arch",
    "progressive",
    "--width",
    "8",
    "--model.grow",
    "true",
    "--model.grow-fade",
    "32",
    "--model.grow-stabilize",
    "16",
    "--model.grow-batch-sizes",
    "4:16,8:16,16:8",
    "--batch-size",
    "8",
    "--n-critic",
    "1",
    "--run.threads",
    "1",
    "--device",
    "cpu",
    "--quiet",
    "--log-every",
    "1",
    "--sample-every",
    "1000",
    "--run.eval-metrics",
    "",
]


def _grown(preset, **values):
    config = Config.from_preset(preset)
    for key, value in {**GROW, **values}.items():
        config.set(key, value)
    return Trainer(validate(config), quiet=True)


@pytest.mark.parametrize(
    "preset,extra", [("wgan-gp", {"penalty.drift": 0.001}), ("dcgan", {}), ("lsgan", {}), ("hinge", {})]
)
def test_progressive_growing_trains_through_its_stages(mnist, preset, extra):
    trainer = _grown(preset, **extra)
    seen = []
    for _ in range(8):  # 4x4 (1 step), fade to 8 (2), 8x8 (1), fade to 16 (4 of batch 8)
        seen.append((trainer.growth.stage.resolution, trainer.growth.stage.phase))
        assert all(torch.isfinite(v).all() for v in trainer.train_step().values())
    assert seen[:4] == [(4, "stabilize"), (8, "fade"), (8, "fade"), (8, "stabilize")] and seen[4] == (16, "fade")
    assert trainer.batch_size == 8 and trainer.growth.stage.resolution == 16


def test_the_critic_sees_the_real_images_at_the_current_resolution_and_fade(mnist):
    from earthmover.nets.progressive import progressive_reals

    trainer = _grown("wgan-gp")
    for _ in range(2):
        trainer.train_step()  # now in the fade to 8x8, alpha 0.5
    stage = trainer.growth.stage
    assert (stage.resolution, stage.phase, stage.alpha) == (8, "fade", 0.5)
    trainer.growth.before_step(trainer)
    inputs = []
    trainer.critic.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    state = trainer.stream.state_dict()
    real = trainer.stream.next_batch()
    trainer.stream.load_state_dict(state)
    trainer._critic_phase()
    assert inputs[0].shape == (32, 1, 8, 8)  # 16 real and 16 fake at 8x8
    assert torch.equal(inputs[0][:16], progressive_reals(real, 8, 0.5))


def test_a_grown_run_resumes_bit_identically_in_the_middle_of_a_fade(mnist, tmp_path):
    common = [*GROW_FLAGS, "--preset", "wgan-gp", "--penalty.drift", "0.001"]
    whole, parts = assert_resumes_exactly(tmp_path, common, stop=6, steps=7)
    state = ckpt.load_checkpoint(ckpt.checkpoint_path(parts, 6))
    assert state["growth"]["images_seen"] == 16 + 32 + 16 + 2 * 8  # stopped in the fade to 16x16
    records = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    assert [r["growth/resolution"] for r in records if "growth/resolution" in r][:5] == [8, 8, 8, 16, 16]
    kept = sorted(p.name for p in (whole / "samples").glob("step_*.png"))
    assert {"step_0000001.png", "step_0000003.png", "step_0000004.png"} <= set(kept)  # the last grid of each stage


@pytest.mark.distributed
def test_a_grown_run_under_torchrun_is_one_process(mnist, tmp_path):
    """Pixel norm and no minibatch layer: nothing couples the samples, so two processes with half
    the batch each reproduce one process, through the 4x4 stage and a fade."""
    args = [
        "--preset",
        "wgan-gp",
        "--steps",
        "4",
        "--checkpoint-every",
        "4",
        "--data",
        "mnist",
        "--data.image-size",
        "16",
        "--arch",
        "progressive",
        "--width",
        "8",
        "--model.grow",
        "true",
        "--model.grow-fade",
        "32",
        "--model.grow-stabilize",
        "16",
        "--model.grow-batch-sizes",
        "4:16,8:16,16:8",
        "--batch-size",
        "8",
        "--n-critic",
        "1",
        "--sample-every",
        "1000",
        "--run.eval-metrics",
        "",
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
                "--quiet",
                "--log-every",
                "1",
                *args,
            ]
        )
        == 0
    )
    assert_same_curves(tmp_path / "two", tmp_path / "one", tol=1e-4)


@pytest.mark.parametrize(
    "flags,message",
    [
        (
            ["--data", "8gaussians", "--model.grow", "true", "--arch", "progressive"],
            "model.arch = 'progressive' needs image data",
        ),
        (
            ["--data", "mnist", "--data.image-size", "16", "--model.grow", "true"],
            "model.grow needs the progressive networks",
        ),
        ([*GROW_FLAGS, "--model.grow-batch-sizes", "4-16"], "model.grow_batch_sizes = '4-16' is invalid"),
        (
            [*GROW_FLAGS, "--model.grow-lrs", "64:1e-3"],
            "model.grow_lrs names resolution 64, which the schedule never reaches",
        ),
    ],
)
def test_bad_growth_settings_are_one_line(mnist, tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--steps", "2", "--quiet", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_the_drift_term_is_epsilon_times_the_mean_squared_real_score():
    from earthmover.losses.penalties import DriftTerm

    critic = torch.nn.Linear(3, 1)
    real = torch.randn(5, 3)
    expected = 0.001 * critic(real).squeeze(1).pow(2).mean()
    term = DriftTerm(weight=0.001)(critic, real, real, weight=0.001)
    assert float(term.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)


def test_growth_sets_each_resolutions_learning_rate_on_both_optimizers(mnist):
    """model.grow_lrs: 8x8 trains at 5e-4, the other resolutions at the optimizers' own rates."""
    trainer = _grown("wgan-gp", **{"model.grow_lrs": "8:5e-4", "optim.lr_g": 1e-4, "optim.lr_d": 3e-4})
    rates = []
    for _ in range(5):
        rates.append(
            (trainer.growth.stage.resolution, trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"])
        )
        trainer.train_step()
    assert rates[0] == (4, 1e-4, 3e-4)
    assert all(g == pytest.approx(5e-4) and d == pytest.approx(5e-4) for r, g, d in rates if r == 8)
    assert rates[4][0] == 16 and rates[4][1:] == (1e-4, 3e-4)


@pytest.mark.parametrize("coupling", [{"model__minibatch": "discrimination"}, {"model__critic_norm": "batch"}])
def test_with_a_minibatch_layer_each_batch_is_scored_on_its_own(coupling):
    """The two passes: the real batch's scores are what the critic says of the real batch alone, for a
    minibatch layer and for batch norm (whose statistics would otherwise mix real and fake, while the
    generator step normalizes fakes alone)."""
    config = Config.from_preset(
        "dcgan", **coupling, data__batch_size=16, model__width=8, run__device="cpu", run__threads=1
    )
    trainer = Trainer(validate(config), quiet=True)
    real, fake = torch.randn(16, 2), torch.randn(16, 2) + 3
    real_out, fake_out = trainer._score_real_and_fake(real, fake, trainer._draw())
    with torch.no_grad():
        assert torch.allclose(real_out.score, trainer.critic(real).score)
        assert torch.allclose(fake_out.score, trainer.critic(fake).score)


def test_a_conditional_critic_with_a_minibatch_layer_scores_each_batch_with_its_labels(mnist):
    """The two passes of a coupling critic that takes labels: each batch is scored alone, with its own labels
    (a projection critic's score moves with the label, so labels left out or swapped show)."""
    trainer = Trainer(_config("dcgan", "projection", **{"model.minibatch": "discrimination"}), quiet=True)
    real, fake = torch.randn(8, 1, 28, 28), torch.randn(8, 1, 28, 28)
    draw = trainer._draw(torch.arange(8))
    real_out, fake_out = trainer._score_real_and_fake(real, fake, draw)
    with torch.no_grad():
        assert torch.allclose(real_out.score, trainer.critic(real, draw.labels).score, atol=1e-6)
        assert torch.allclose(fake_out.score, trainer.critic(fake, draw.labels).score, atol=1e-6)
        assert not torch.allclose(real_out.score, trainer.critic(real, draw.labels.flip(0)).score, atol=1e-6)
