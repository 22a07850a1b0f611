"""The one loop: every preset on a toy, every toy with WGAN-GP, and the peer-code traps."""
import pytest
import torch

from earthmover.config import Config
from earthmover.data.toy import TOY_DISTRIBUTIONS
from earthmover.errors import EarthmoverError
from earthmover.presets import PRESETS
from earthmover.train.loop import Trainer
from helpers import tiny_config


def tiny(preset="wgan-gp", data="8gaussians", **values) -> Config:
    return tiny_config(preset, **{"data.name": data, "model.width": 16, "model.depth": 2, "run.measure_n": 100, **values})


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_trains_and_stays_finite(preset):
    trainer = Trainer(tiny(preset), quiet=True)
    first = {k: float(v) for k, v in trainer.train_step().items()}
    for _ in range(2):
        values = trainer.train_step()
    assert trainer.step == 3
    assert trainer.critic_iterations == 3 * trainer.config.optim.n_critic
    assert all(torch.isfinite(v) for v in values.values())
    assert "loss/critic" in first and "loss/generator" in first


@pytest.mark.parametrize("data", list(TOY_DISTRIBUTIONS))
def test_every_toy_distribution_trains(data):
    trainer = Trainer(tiny("wgan-gp", data), quiet=True)
    trainer.train_step()
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
    from earthmover.constraints import largest_singular_values

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
    from earthmover.objectives import pulling_away_term

    trainer = Trainer(tiny("ebgan"), quiet=True)
    codes = []
    hook = trainer.critic.register_forward_hook(lambda m, i, out: codes.append(out.features.detach().clone()))
    terms = trainer.generator_step()
    hook.remove()
    assert len(codes) == 1
    pt_weight = trainer.config.objective.pt_weight
    assert pt_weight > 0
    assert float(terms["loss/pulling_away"]) == pytest.approx(pt_weight * float(pulling_away_term(codes[0])), rel=1e-5)
