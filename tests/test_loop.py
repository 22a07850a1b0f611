"""The one loop: every preset on a toy, every toy with WGAN-GP, and the peer-code traps."""

import copy
from pathlib import Path

import pytest
import torch

from earthmover.data.toy import TOY_DISTRIBUTIONS, make_toy
from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import as_critic_output
from earthmover.train.config import Config
from earthmover.train.loop import Trainer
from earthmover.train.presets import PRESETS
from helpers import tiny_config


def tiny(preset="wgan-gp", data="8gaussians", **values) -> Config:
    return tiny_config(
        preset, **{"data.name": data, "model.width": 16, "model.depth": 2, "run.measure_n": 100, **values}
    )


MNIST_FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_trains_and_stays_finite(preset):
    # an image preset (its own networks) on the MNIST fixture, every other on a toy
    images = PRESETS[preset].values.get("data.name") == "mnist"
    trainer = Trainer(tiny(preset, data=MNIST_FIXTURE, model__width=8) if images else tiny(preset), quiet=True)
    first = {k: float(v) for k, v in trainer.train_step().items()}
    for _ in range(2):
        values = trainer.train_step()
    assert trainer.step == 3
    assert trainer.critic_iterations == 3 * trainer.config.optim.n_critic
    assert all(torch.isfinite(v) for v in values.values())
    assert "loss/critic" in first and "loss/generator" in first


@pytest.mark.parametrize("data", list(TOY_DISTRIBUTIONS))
def test_every_toy_distribution_trains(data):
    """One WGAN-GP step on each toy distribution: the critic's real batch is that distribution's sample
    (drawn again here from the stream generator's state), the logged critic loss is E D(fake) - E D(real)
    on the step's own batches at the critic before its update, and both networks' weights move."""
    trainer = Trainer(tiny("wgan-gp", data, optim__n_critic=1), quiet=True)
    state = trainer.stream.generator.get_state()
    critic_before = copy.deepcopy(trainer.critic)
    before_g = [p.detach().clone() for p in trainer.generator.parameters()]
    reals, fakes = [], []
    next_batch = trainer.stream.next_batch
    trainer.stream.next_batch = lambda: reals.append(next_batch()) or reals[-1]
    trainer.generator.register_forward_hook(lambda module, args, out: fakes.append(out.detach().clone()))
    values = trainer.train_step()

    batch = trainer.config.data.batch_size
    assert len(reals) == 1 and reals[0].shape == (batch, 2)
    assert torch.equal(reals[0], make_toy(data).sample(batch, torch.Generator().set_state(state)))
    with torch.no_grad():
        scores = [as_critic_output(critic_before(x)).score for x in (reals[0], fakes[0])]
    assert values["loss/critic"].item() == pytest.approx((scores[1].mean() - scores[0].mean()).item(), rel=1e-5)
    assert all(not torch.equal(a, b) for a, b in zip(before_g, trainer.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(critic_before.parameters(), trainer.critic.parameters()))
    assert trainer.sample(10).shape == (10, 2)


def test_critic_step_does_not_reach_the_generator():
    """Fakes are detached in the critic step: the generator gets no gradient from it."""
    trainer = Trainer(tiny("wgan-gp"), quiet=True)
    trainer.critic_step()
    assert all(p.grad is None for p in trainer.generator.parameters())
    assert any(p.grad is not None for p in trainer.critic.parameters())


def test_generator_step_leaves_the_critic_untouched():
    trainer = Trainer(tiny("wgan-gp"), quiet=True)
    before = [p.detach().clone() for p in trainer.critic.parameters()]
    trainer.generator_step()
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.critic.parameters()))
    assert all(p.grad is None for p in trainer.critic.parameters())
    assert all(p.requires_grad for p in trainer.critic.parameters())


def test_weights_are_clipped_after_each_critic_step():
    trainer = Trainer(tiny("wgan", optim__lr_d=0.5), quiet=True)  # a step large enough to leave the box
    for _ in range(3):
        trainer.critic_step()
        assert all(float(p.detach().abs().max()) <= 0.01 + 1e-12 for p in trainer.critic.parameters())


def test_spectral_norm_preset_normalizes_the_critic():
    from earthmover.losses.constraints import largest_singular_values

    trainer = Trainer(tiny("sngan", model__width=8), quiet=True)
    for _ in range(40):
        trainer.critic_step()
    trainer.critic.eval()
    assert all(abs(s - 1) < 2e-2 for s in largest_singular_values(trainer.critic))


def test_lazy_penalty_runs_every_k_steps_scaled_by_k():
    """Lazy regularization (stylegan2-ada): the penalty runs every k critic steps and the term applied
    is k x weight x the raw penalty. A critic with all weights zero has zero input gradient everywhere,
    so the raw gradient penalty with target t is exactly (sqrt(eps) - t)^2, whatever the batch."""
    k, weight, target = 3, 10.0, 3.0
    trainer = Trainer(tiny("wgan-gp", penalty__every=k, penalty__gp=weight, penalty__gp_target=target), quiet=True)
    raw = (1e-6 - target) ** 2  # NORM_EPS = 1e-12 inside the square root
    seen = []
    for _ in range(6):
        with torch.no_grad():
            for p in trainer.critic.parameters():
                p.zero_()
        terms = trainer.critic_step()
        seen.append("loss/gradient_penalty" in terms)
        if seen[-1]:
            assert float(terms["loss/gradient_penalty"]) == pytest.approx(k * weight * raw, rel=1e-6)
    assert seen == [True, False, False, True, False, False]


def test_batch_norm_critic_with_a_gradient_penalty_is_refused():
    with pytest.raises(EarthmoverError, match="couples samples"):
        Trainer(tiny("wgan-gp", model__critic_norm="batch"), quiet=True)


def test_same_seed_same_run_other_seed_other_run():
    a, b, c = (Trainer(tiny("wgan-gp", run__seed=s), quiet=True) for s in (1, 1, 2))
    va, vb, vc = (t.train_step()["loss/critic"] for t in (a, b, c))
    assert float(va) == float(vb) and float(va) != float(vc)


def test_ema_generator_is_an_average_of_the_weights():
    trainer = Trainer(tiny("wgan-gp", model__ema=0.5), quiet=True)
    trainer.train_step()
    w1 = [p.detach().clone() for p in trainer.generator.parameters()]
    trainer.train_step()
    w2 = list(trainer.generator.parameters())
    ema = list(trainer.ema.module.parameters())
    # the first update copies, the second averages with the ramped decay (train/ema.py): at most 0.5
    from earthmover.train.ema import ramped_decay

    d = ramped_decay(0.5, 1)
    assert 0 < d <= 0.5
    assert all(torch.allclose(e, d * a + (1 - d) * b) for e, a, b in zip(ema, w1, w2))
    assert not all(torch.equal(e, b) for e, b in zip(ema, w2))


def test_generator_step_hands_the_critics_codes_to_the_objective():
    """EBGAN's generator term reads the critic's codes on the fakes: the pulling-away term the step
    logs is pt_weight x f_PT of exactly those codes (a step that drops the features logs none)."""
    from earthmover.losses.objectives import pulling_away_term

    trainer = Trainer(tiny("ebgan"), quiet=True)
    codes = []
    hook = trainer.critic.register_forward_hook(lambda m, i, out: codes.append(out.features.detach().clone()))
    terms = trainer.generator_step()
    hook.remove()
    assert len(codes) == 1
    pt_weight = trainer.config.objective.pt_weight
    assert pt_weight > 0
    assert float(terms["loss/pulling_away"]) == pytest.approx(pt_weight * float(pulling_away_term(codes[0])), rel=1e-5)


class SpyObjective:
    """The run's objective, recording what each phase hands it."""

    def __init__(self, inner):
        self.inner, self.critic_calls, self.generator_calls = inner, [], []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def critic_loss(self, real, fake):
        self.critic_calls.append((real, fake))
        return self.inner.critic_loss(real, fake)

    def generator_loss(self, fake):
        self.generator_calls.append(fake)
        return self.inner.generator_loss(fake)


def test_each_phase_hands_the_objective_the_samples_and_the_critics_outputs_on_them():
    """The critic scores real and fake in one pass: the objective must get each half's own scores and
    features (an auxiliary head reads the features in the critic's loss); the generator phase hands it
    the fakes the generator made, with the critic's output on them."""
    trainer = Trainer(tiny("wgan-gp"), quiet=True)
    spy = trainer.objective = SpyObjective(trainer.objective)
    seen = []
    hooks = [
        trainer.critic.register_forward_hook(lambda m, i, out: seen.append(("critic", i[0], out))),
        trainer.generator.register_forward_hook(lambda m, i, out: seen.append(("generator", i[0], out))),
    ]
    trainer.critic_step()
    ((_, x, both),) = [s for s in seen if s[0] == "critic"][:1]
    n = trainer.config.data.batch_size
    real, fake = spy.critic_calls[0]
    assert torch.equal(real.x, x[:n]) and torch.equal(fake.x, x[n:])
    assert torch.equal(fake.x, [s for s in seen if s[0] == "generator"][0][2])
    assert torch.equal(real.out.score, both.score[:n]) and torch.equal(fake.out.score, both.score[n:])
    assert real.out.features is not None and fake.out.features is not None
    assert torch.equal(real.out.features, both.features[:n]) and torch.equal(fake.out.features, both.features[n:])
    seen.clear()
    trainer.generator_step()
    for h in hooks:
        h.remove()
    (fake,) = spy.generator_calls
    made = [s for s in seen if s[0] == "generator"][0][2]
    scored = [s for s in seen if s[0] == "critic"][0][2]
    assert torch.equal(fake.x, made) and fake.x.requires_grad  # the generator's own output, in its graph
    assert torch.equal(fake.out.score, scored.score) and torch.equal(fake.out.features, scored.features)


def test_a_critic_that_returns_bare_scores_trains():
    """A critic of one's own may return a plain (N,) or (N, 1) tensor: no features, and both phases run."""
    trainer = Trainer(tiny("wgan-gp"), quiet=True)
    torch.manual_seed(0)
    bare = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    trainer.critic = trainer.critic_ddp = bare
    trainer.opt_d = torch.optim.Adam(bare.parameters(), lr=1e-4)
    spy = trainer.objective = SpyObjective(trainer.objective)
    values = {**trainer.critic_step(), **trainer.generator_step()}
    real, fake = spy.critic_calls[0]
    assert real.out.features is None and fake.out.features is None and spy.generator_calls[0].out.features is None
    assert all(torch.isfinite(v) for v in values.values())
    assert float(values["grad_norm/critic"]) > 0 and float(values["grad_norm/generator"]) > 0


def test_the_logged_gradient_norm_is_the_global_l2_norm_over_the_parameters():
    from earthmover.train.loop import _grad_norm

    a, b, c = (torch.nn.Parameter(torch.zeros(s)) for s in ((2, 2), (3,), (1,)))
    a.grad, b.grad = torch.tensor([[1.0, 2.0], [2.0, 0.0]]), torch.tensor([0.0, 4.0, 0.0])  # c: no gradient
    assert float(_grad_norm([a, b, c])) == pytest.approx(5.0)  # sqrt(1 + 4 + 4 + 16)
    none = _grad_norm([c])
    assert none.shape == () and float(none) == 0.0
