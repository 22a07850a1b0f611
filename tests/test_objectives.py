"""Objectives against hand-computed values, finite differences, and the minimax optimum."""
import math

import pytest
import torch

from earthmover import objectives as O
from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput

REAL = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
FAKE = torch.tensor([0.2, -1.0, 3.0], dtype=torch.float64)


def sp(x):  # log(1 + e^x), by definition
    return math.log(1.0 + math.exp(x))


def mean(values):
    return sum(values) / len(values)


def approx(value, expected, tol=1e-12):
    value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
    assert abs(value - expected) <= tol, (value, expected)


def test_minimax_critic_is_the_negated_log_likelihood():
    # -[E log sigma(D(x)) + E log(1 - sigma(D(x~)))], written from the definition of sigma.
    sig = lambda t: 1.0 / (1.0 + math.exp(-t))  # noqa: E731
    expected = -mean([math.log(sig(r)) for r in REAL.tolist()]) - mean([math.log(1 - sig(f)) for f in FAKE.tolist()])
    approx(O.minimax_critic_loss(REAL, FAKE), expected)
    approx(O.minimax_critic_loss(REAL, FAKE), (0.31326168751822286 + 0.9740769841801067 + 0.1269280110429725) / 3 + (0.7981388693815918 + 0.31326168751822286 + 3.048587351573742) / 3)


def test_saturating_and_non_saturating_generator_values():
    sig = lambda t: 1.0 / (1.0 + math.exp(-t))  # noqa: E731
    approx(O.minimax_generator_loss(FAKE), mean([math.log(1 - sig(f)) for f in FAKE.tolist()]))
    approx(O.non_saturating_generator_loss(FAKE), -mean([math.log(sig(f)) for f in FAKE.tolist()]))


def test_softplus_forms_are_stable_for_huge_scores():
    big = torch.tensor([1e4, -1e4])
    for value in (O.minimax_critic_loss(big, big), O.minimax_generator_loss(big), O.non_saturating_generator_loss(big)):
        assert torch.isfinite(value)
    approx(O.non_saturating_generator_loss(torch.tensor([-1e4])), 1e4, tol=1e-3)


def test_least_squares_values():
    a, b, c = -1.0, 1.0, 0.0
    expected = 0.5 * mean([(r - b) ** 2 for r in REAL.tolist()]) + 0.5 * mean([(f - a) ** 2 for f in FAKE.tolist()])
    approx(O.least_squares_critic_loss(REAL, FAKE, a, b), expected)
    approx(O.least_squares_critic_loss(REAL, FAKE), 0.5 * (0 + 2.25 + 1) / 3 + 0.5 * (0.04 + 1 + 9) / 3)
    approx(O.least_squares_generator_loss(FAKE, c), 0.5 * mean([(f - c) ** 2 for f in FAKE.tolist()]))


def test_wasserstein_and_hinge_values():
    approx(O.wasserstein_critic_loss(REAL, FAKE), mean(FAKE.tolist()) - mean(REAL.tolist()))
    approx(O.wasserstein_generator_loss(FAKE), -mean(FAKE.tolist()))
    expected = mean([max(0, 1 - r) for r in REAL.tolist()]) + mean([max(0, 1 + f) for f in FAKE.tolist()])
    approx(O.hinge_critic_loss(REAL, FAKE), expected)
    approx(O.hinge_critic_loss(REAL, FAKE), (0 + 1.5 + 0) / 3 + (1.2 + 0 + 4) / 3)


def test_energy_critic_with_margin():
    real_e = torch.tensor([0.5, 1.5], dtype=torch.float64)
    fake_e = torch.tensor([4.0, 12.0], dtype=torch.float64)
    approx(O.energy_critic_loss(real_e, fake_e, margin=10.0), 1.0 + (6.0 + 0.0) / 2)


def test_pulling_away_term_equals_direct_double_loop():
    torch.manual_seed(0)
    codes = torch.randn(6, 4, dtype=torch.float64)
    n = codes.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                cos = float(codes[i] @ codes[j] / (codes[i].norm() * codes[j].norm()))
                total += cos ** 2
    approx(O.pulling_away_term(codes), total / (n * (n - 1)), tol=1e-12)
    # identical codes: every cosine is 1; orthogonal codes: 0
    approx(O.pulling_away_term(torch.ones(4, 3)), 1.0, tol=1e-6)
    approx(O.pulling_away_term(torch.eye(3)), 0.0, tol=1e-12)


def test_loss_sensitive_values():
    x_real = torch.tensor([[0.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    x_fake = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    margin = O.l1_margin(x_real, x_fake, scale=0.5)
    assert margin.tolist() == [0.5, 2.0]
    real_l = torch.tensor([1.0, 0.5], dtype=torch.float64)
    fake_l = torch.tensor([1.2, 3.0], dtype=torch.float64)
    # E L(x) + lam E relu(Delta + L(x) - L(x~)) = 0.75 + 2 * mean(relu(0.3), relu(-0.5))
    approx(O.loss_sensitive_critic_loss(real_l, fake_l, margin, lam=2.0), 0.75 + 2 * (0.3 + 0.0) / 2)
    approx(O.loss_sensitive_generator_loss(fake_l), 2.1)


@pytest.mark.parametrize("fn", [
    lambda r, f: O.minimax_critic_loss(r, f),
    lambda r, f: O.minimax_generator_loss(f),
    lambda r, f: O.non_saturating_generator_loss(f),
    lambda r, f: O.least_squares_critic_loss(r, f, 0.0, 1.0),
    lambda r, f: O.least_squares_generator_loss(f, 1.0),
    lambda r, f: O.wasserstein_critic_loss(r, f),
    lambda r, f: O.hinge_critic_loss(r, f),
    lambda r, f: O.energy_critic_loss(r.abs(), f.abs(), 2.0),
], ids=["minimax-d", "minimax-g", "ns-g", "ls-d", "ls-g", "w-d", "hinge-d", "energy-d"])
def test_gradients_match_finite_differences(fn):
    real = torch.tensor([0.7, -0.3, 1.9], dtype=torch.float64, requires_grad=True)
    fake = torch.tensor([0.25, -1.1, 0.6], dtype=torch.float64, requires_grad=True)  # away from hinge kinks
    assert torch.autograd.gradcheck(fn, (real, fake))


def test_pulling_away_gradient_matches_finite_differences():
    codes = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(O.pulling_away_term, (codes,))


def test_minimax_critic_optimum_is_pr_over_pr_plus_pg():
    """On three points with p_r = (.5, .3, .2) and p_g = (.1, .3, .6), a free critic (one logit per point)
    trained on the exact expectation reaches sigma(D*) = p_r / (p_r + p_g)."""
    p_r = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    p_g = torch.tensor([0.1, 0.3, 0.6], dtype=torch.float64)
    # ten "samples" each, in proportion, so the batch means are the expectations exactly
    real_idx = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    fake_idx = torch.tensor([0] * 1 + [1] * 3 + [2] * 6)
    logits = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([logits], lr=1, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = O.minimax_critic_loss(logits[real_idx], logits[fake_idx])
        loss.backward()
        return loss

    opt.step(closure)
    d_star = torch.sigmoid(logits).detach()
    assert torch.allclose(d_star, p_r / (p_r + p_g), atol=1e-6)
    # and the loss at the optimum is log 4 - 2 JS(p_r, p_g)
    m = (p_r + p_g) / 2
    js = 0.5 * (p_r * (p_r / m).log()).sum() + 0.5 * (p_g * (p_g / m).log()).sum()
    approx(O.minimax_critic_loss(logits[real_idx], logits[fake_idx]), float(math.log(4) - 2 * js), tol=1e-8)


def test_objectives_bind_the_pure_functions():
    real = O.Scored(torch.zeros(3, 2), CriticOutput(REAL))
    fake = O.Scored(torch.ones(3, 2), CriticOutput(FAKE, features=torch.randn(3, 4)))
    for name, cls in O.OBJECTIVES.items():
        obj = O.make_objective(name)
        terms = obj.critic_loss(real, fake)
        assert all(t.dim() == 0 for t in terms.values())
        assert all(t.dim() == 0 for t in obj.generator_loss(fake).values())
    approx(O.make_objective("wasserstein").critic_loss(real, fake)["critic"], float(O.wasserstein_critic_loss(REAL, FAKE)))
    ebgan = O.make_objective("energy", margin=3.0, pt_weight=0.5)
    assert set(ebgan.generator_loss(fake)) == {"generator", "pulling_away"}
    approx(ebgan.generator_loss(fake)["pulling_away"], 0.5 * float(O.pulling_away_term(fake.out.features)))


def test_unknown_objective_suggests_the_nearest():
    with pytest.raises(EarthmoverError, match="did you mean 'wasserstein'"):
        O.make_objective("wasserstien")
