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
    approx(
        O.minimax_critic_loss(REAL, FAKE),
        (0.31326168751822286 + 0.9740769841801067 + 0.1269280110429725) / 3
        + (0.7981388693815918 + 0.31326168751822286 + 3.048587351573742) / 3,
    )


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
    approx(O.least_squares_generator_loss(FAKE), 0.5 * (0.64 + 4.0 + 4.0) / 3)  # default c = 1


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
    # the default margin is the preset's, in per-element energy units
    approx(O.energy_critic_loss(real_e, torch.tensor([0.25, 3.0], dtype=torch.float64)), 1.0 + (0.75 + 0.0) / 2)


def test_pulling_away_term_equals_direct_double_loop():
    torch.manual_seed(0)
    codes = torch.randn(6, 4, dtype=torch.float64)
    n = codes.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                cos = float(codes[i] @ codes[j] / (codes[i].norm() * codes[j].norm()))
                total += cos**2
    approx(O.pulling_away_term(codes), total / (n * (n - 1)), tol=1e-12)
    # identical codes: every cosine is 1; orthogonal codes: 0
    approx(O.pulling_away_term(torch.ones(4, 3)), 1.0, tol=1e-6)
    approx(O.pulling_away_term(torch.eye(3)), 0.0, tol=1e-12)
    # two codes: the one pair's cos^2 (1/2 at 45 degrees); one code: nothing to repel, a 0-dim zero
    approx(O.pulling_away_term(torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)), 0.5)
    single = O.pulling_away_term(torch.ones(1, 3))
    assert single.shape == () and float(single) == 0.0


def test_loss_sensitive_values():
    x_real = torch.tensor([[0.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    x_fake = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    margin = O.l1_margin(x_real, x_fake, scale=1.0)
    assert margin.tolist() == [0.5, 2.0]  # mean |difference| per element: 1/2, 4/2
    real_l = torch.tensor([1.0, 0.5], dtype=torch.float64)
    fake_l = torch.tensor([1.2, 3.0], dtype=torch.float64)
    # E L(x) + lam E relu(Delta + L(x) - L(x~)) = 0.75 + 2 * mean(relu(0.3), relu(-0.5))
    approx(O.loss_sensitive_critic_loss(real_l, fake_l, margin, lam=2.0), 0.75 + 2 * (0.3 + 0.0) / 2)
    approx(O.loss_sensitive_generator_loss(fake_l), 2.1)
    approx(O.loss_sensitive_critic_loss(real_l, fake_l, margin), 0.75 + (0.3 + 0.0) / 2)  # default lambda = 1


@pytest.mark.parametrize(
    "fn",
    [
        lambda r, f: O.minimax_critic_loss(r, f),
        lambda r, f: O.minimax_generator_loss(f),
        lambda r, f: O.non_saturating_generator_loss(f),
        lambda r, f: O.least_squares_critic_loss(r, f, 0.0, 1.0),
        lambda r, f: O.least_squares_generator_loss(f, 1.0),
        lambda r, f: O.wasserstein_critic_loss(r, f),
        lambda r, f: O.hinge_critic_loss(r, f),
        lambda r, f: O.energy_critic_loss(r.abs(), f.abs(), 2.0),
    ],
    ids=["minimax-d", "minimax-g", "ns-g", "ls-d", "ls-g", "w-d", "hinge-d", "energy-d"],
)
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
        assert type(obj) is cls  # the name builds its registered class
        terms = obj.critic_loss(real, fake)
        assert all(t.dim() == 0 for t in terms.values())
        assert all(t.dim() == 0 for t in obj.generator_loss(fake).values())
    approx(
        O.make_objective("wasserstein").critic_loss(real, fake)["critic"], float(O.wasserstein_critic_loss(REAL, FAKE))
    )
    ebgan = O.make_objective("energy", margin=3.0, pt_weight=0.5)
    assert set(ebgan.generator_loss(fake)) == {"generator", "pulling_away"}
    approx(ebgan.generator_loss(fake)["pulling_away"], 0.5 * float(O.pulling_away_term(fake.out.features)))


def test_energy_generator_loss_is_the_mean_energy_plus_weighted_pulling_away():
    codes = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    # cos^2 between rows: (0, 1/2), (1, 2) = 1/2, (0, 2) = 0; twice each over n (n - 1) = 6 ordered pairs
    approx(O.pulling_away_term(codes), (0.5 + 0.5 + 0.0) * 2 / 6)
    fake = O.Scored(torch.zeros(3, 2), CriticOutput(torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64), features=codes))
    terms = O.EnergyBased(margin=1.0, pt_weight=0.3).generator_loss(fake)
    approx(terms["generator"], 1.5)
    approx(terms["pulling_away"], 0.3 / 3)
    assert set(O.EnergyBased(pt_weight=0.0).generator_loss(fake)) == {"generator"}


def test_loss_sensitive_objective_uses_the_per_element_margin_and_softplus_losses():
    x_real = torch.tensor([[0.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    x_fake = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    scores_r = torch.tensor([0.3, -0.2], dtype=torch.float64)
    scores_f = torch.tensor([1.5, 0.1], dtype=torch.float64)
    obj = O.LossSensitive(lam=2.0, margin_scale=0.5)
    terms = obj.critic_loss(O.Scored(x_real, CriticOutput(scores_r)), O.Scored(x_fake, CriticOutput(scores_f)))
    l_r, l_f = [sp(v) for v in scores_r.tolist()], [sp(v) for v in scores_f.tolist()]
    delta = [0.25, 1.0]
    expected = mean(l_r) + 2.0 * mean([max(0.0, d + r - f) for d, r, f in zip(delta, l_r, l_f)])
    approx(terms["critic"], expected)
    approx(obj.generator_loss(O.Scored(x_fake, CriticOutput(scores_f)))["generator"], mean(l_f))


# --- units of the EBGAN and loss-sensitive margins (issue 8, defects 1 and 2) ---------------------------


def _square_images(n, generator):
    """Binary images in {-1, 1}: a bright 14x14 square at a random place on a dark 28x28 field."""
    images = -torch.ones(n, 1, 28, 28)
    for i, (a, b) in enumerate(torch.randint(0, 14, (n, 2), generator=generator).tolist()):
        images[i, :, a : a + 14, b : b + 14] = 1.0
    return images


def _train_energy_critic(critic, real_draw, fake_draw, steps, margin):
    """A few EBGAN critic steps, scoring reals and fakes in one batch as the loop does; then eval mode,
    so that each sample's energy is its own (the image decoder has batch norm)."""
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for _ in range(steps):
        real, fake = real_draw(), fake_draw()
        energy = critic(torch.cat([real, fake])).score
        loss = O.energy_critic_loss(energy[: len(real)], energy[len(real) :], margin)
        opt.zero_grad()
        loss.backward()
        opt.step()
    critic.eval()


def _hinge_activity(fake_energy, margin):
    """Which fakes the hinge still pushes on: d loss / d E(x~_i) is -1/N where active, 0 where not."""
    e = fake_energy.detach().clone().requires_grad_(True)
    O.energy_critic_loss(torch.zeros(1), e, margin).backward()
    active = e.grad != 0
    assert torch.equal(e.grad[active], torch.full_like(e.grad[active], -1.0 / len(e)))
    return active


def test_ebgan_margin_is_in_the_units_of_the_energy_on_images():
    """The image energy (squared reconstruction error per value of a tanh decoder against data in [-1, 1])
    is at most 4, so the paper's margin of 10 could never switch the hinge off. With the preset's margin,
    after a few EBGAN critic steps, fakes unlike the data (the negative of a data image) sit above the margin
    and get no gradient, while fakes close to the data are still pushed up."""
    from earthmover.nets.dcgan import DCGANAutoEncoderCritic
    from earthmover.train.presets import preset_values

    margin = preset_values("ebgan")["objective.margin"]
    assert margin == O.EnergyBased().margin
    assert 0 < margin < 4.0  # inside the range the image energy can take
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    critic = DCGANAutoEncoderCritic(image_size=28, channels=1, width=8, code_dim=16)
    blank = -torch.ones(32, 1, 28, 28)  # a collapsed generator
    _train_energy_critic(critic, lambda: _square_images(32, g), lambda: blank, steps=30, margin=margin)
    unlike = -_square_images(16, g)
    near = (_square_images(16, g) + 0.1 * torch.randn(16, 1, 28, 28, generator=g)).clamp(-1, 1)
    with torch.no_grad():
        energy = critic(torch.cat([2 * torch.rand(16, 1, 28, 28, generator=g) - 1, unlike, near])).score
    assert float(energy.max()) <= 4.0
    active = _hinge_activity(energy[16:], margin)
    assert not active[:16].any(), energy[16:32]  # hinge inactive
    assert active[16:].all(), energy[32:]  # still pushed
    # under the paper's m = 10 every fake would still be pushed: the defect this test guards
    assert _hinge_activity(energy[16:], 10.0).all()


def test_ebgan_margin_is_in_the_units_of_the_energy_on_toy_data():
    from earthmover.data.toy import TOY_DISTRIBUTIONS
    from earthmover.nets.mlp import AutoEncoderCritic

    margin = O.EnergyBased().margin
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    grid = TOY_DISTRIBUTIONS["25gaussians"]()  # inside [-1.42, 1.42]^2
    critic = AutoEncoderCritic(in_dim=2, width=32, depth=2)
    wide = lambda n: 1.5 * torch.randn(n, 2, generator=g)  # noqa: E731  a generator spread wider than the grid
    _train_energy_critic(critic, lambda: grid.sample(64, generator=g), lambda: wide(64), steps=200, margin=margin)
    with torch.no_grad():
        energy = critic(torch.cat([wide(256), grid.sample(32, generator=g)])).score
    active = _hinge_activity(energy, margin)
    inactive_fakes = float((~active[:256]).float().mean())
    assert 0.05 <= inactive_fakes <= 0.95, inactive_fakes  # some fakes off the hinge, others on it
    assert active[256:].all(), energy[256:]  # fakes on the data are all still pushed


def _mean_margin(x_real, x_fake):
    from earthmover.train.presets import preset_values

    return float(O.l1_margin(x_real, x_fake, preset_values("loss-sensitive")["objective.margin_scale"]).mean())


def test_loss_sensitive_margin_is_the_authors_on_their_images_and_independent_of_size():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 3, 64, 64, generator=g, dtype=torch.float64) * 2 - 1
    b = torch.rand(4, 3, 64, 64, generator=g, dtype=torch.float64) * 2 - 1
    scale = O.LossSensitive().margin_scale
    # guojunq/lsgan: 2e-4 x summed L1 over 64x64 RGB images
    assert torch.allclose(O.l1_margin(a, b, scale), 2e-4 * (a - b).flatten(1).abs().sum(dim=1), rtol=1e-12, atol=0)
    # the same images at twice the resolution (each value repeated 4 times) get the same margin
    up = torch.nn.functional.interpolate
    assert torch.allclose(
        O.l1_margin(up(a, scale_factor=2), up(b, scale_factor=2), scale), O.l1_margin(a, b, scale), rtol=1e-12, atol=0
    )


def test_loss_sensitive_margin_is_of_order_one_on_toy_and_image_data():
    """Delta for typical real/fake pairs is O(1) in the loss's units on the 25-gaussian grid and on images;
    the summed-L1 x 2e-4 definition gave 4e-4 on the grid."""
    from earthmover.data.toy import TOY_DISTRIBUTIONS
    from earthmover.nets.dcgan import DCGANGenerator
    from earthmover.nets.mlp import MLPGenerator

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    real = TOY_DISTRIBUTIONS["25gaussians"]().sample(512, generator=g)
    with torch.no_grad():
        fake = MLPGenerator().eval()(torch.randn(512, 2, generator=g))
    toy = _mean_margin(real, fake)
    assert 0.5 <= toy <= 5.0, toy
    assert 0.5 <= _mean_margin(real, real.roll(1, dims=0)) <= 5.0  # two real points from different modes
    assert 2e-4 * float((real - fake).abs().sum(dim=1).mean()) < 1e-2  # the old definition: no margin at all
    with torch.no_grad():
        images = DCGANGenerator(latent_dim=16, image_size=28, channels=1, width=8).eval()(
            torch.randn(64, 16, generator=g)
        )
    image = _mean_margin(_square_images(64, g), images)
    assert 0.5 <= image <= 5.0, image


def test_each_objective_class_returns_its_pure_functions_under_their_names():
    """The loop sums and logs the terms by name: the critic's term is "critic", the generator's
    "generator", each the family's pure function with the class's own parameters."""
    real = O.Scored(torch.zeros(3, 2), CriticOutput(REAL))
    fake = O.Scored(torch.ones(3, 2), CriticOutput(FAKE))
    expected = {
        O.Minimax(): (O.minimax_critic_loss(REAL, FAKE), O.minimax_generator_loss(FAKE)),
        O.NonSaturating(): (O.minimax_critic_loss(REAL, FAKE), O.non_saturating_generator_loss(FAKE)),
        O.LeastSquares(a=-1.0, b=0.5, c=0.25): (
            O.least_squares_critic_loss(REAL, FAKE, -1.0, 0.5),
            O.least_squares_generator_loss(FAKE, 0.25),
        ),
        O.Wasserstein(): (O.wasserstein_critic_loss(REAL, FAKE), O.wasserstein_generator_loss(FAKE)),
        O.Hinge(): (O.hinge_critic_loss(REAL, FAKE), O.wasserstein_generator_loss(FAKE)),
        O.EnergyBased(margin=2.5, pt_weight=0.0): (O.energy_critic_loss(REAL, FAKE, 2.5), FAKE.mean()),
    }
    for obj, (critic, generator) in expected.items():
        d, g = obj.critic_loss(real, fake), obj.generator_loss(fake)
        assert list(d) == ["critic"] and list(g) == ["generator"], obj
        approx(d["critic"], float(critic))
        approx(g["generator"], float(generator))
    # parameters that change the value (not the defaults): a, b, c and the margin are really used
    assert float(O.LeastSquares(a=-1.0, b=0.5).critic_loss(real, fake)["critic"]) != float(
        O.LeastSquares().critic_loss(real, fake)["critic"]
    )


def test_critic_gap_is_mean_real_minus_mean_fake():
    approx(O.critic_gap(REAL, FAKE), mean(REAL.tolist()) - mean(FAKE.tolist()))
    approx(O.critic_gap(REAL, FAKE), 2.5 / 3 - 2.2 / 3)


def test_unknown_objective_suggests_the_nearest():
    with pytest.raises(EarthmoverError, match="did you mean 'wasserstein'"):
        O.make_objective("wasserstien")
    with pytest.raises(EarthmoverError) as info:
        O.make_objective("zzz")  # nothing close: no suggestion
    assert str(info.value) == (
        "unknown objective 'zzz'; expected one of minimax, non-saturating, least-squares, "
        "wasserstein, hinge, energy, loss-sensitive"
    )


def test_each_objective_estimates_what_its_name_says():
    """The logged estimate, by hand on REAL = [1, -0.5, 2], FAKE = [0.2, -1, 3]: E D(x) - E D(x~) for
    score-gap objectives (and W for Wasserstein), E E(x~) - E E(x) for EBGAN's energies, and
    E L(x~) - E L(x) with L = softplus(D) for the loss-sensitive GAN."""
    real = O.Scored(torch.zeros(3, 2), CriticOutput(REAL))
    fake = O.Scored(torch.ones(3, 2), CriticOutput(FAKE))
    gap = mean([1.0, -0.5, 2.0]) - mean([0.2, -1.0, 3.0])
    for obj in (O.Minimax(), O.NonSaturating(), O.LeastSquares(), O.Wasserstein(), O.Hinge()):
        approx(obj.estimate(real, fake), gap)
    approx(O.EnergyBased().estimate(real, fake), -gap)
    approx(
        O.LossSensitive().estimate(real, fake), mean([sp(0.2), sp(-1.0), sp(3.0)]) - mean([sp(1.0), sp(-0.5), sp(2.0)])
    )
    assert (
        O.Wasserstein.estimate_name,
        O.EnergyBased.estimate_name,
        O.LossSensitive.estimate_name,
        O.Minimax.estimate_name,
    ) == ("wasserstein_estimate", "energy_gap", "loss_gap", "score_gap")


def test_a_parameter_the_objective_does_not_take_is_named_with_those_it_takes():
    with pytest.raises(EarthmoverError) as info:
        O.make_objective("loss-sensitive", margin=1.0, pt_weight=0.1)
    assert str(info.value) == "objective 'loss-sensitive' takes no parameter 'margin'; it takes lam, margin_scale"
    with pytest.raises(EarthmoverError) as info:
        O.make_objective("wasserstein", c=1.0)
    assert str(info.value) == "objective 'wasserstein' takes no parameter 'c'; it takes none"
    assert O.make_objective("least-squares", a=-1.0, c=0.5) == O.LeastSquares(a=-1.0, b=1.0, c=0.5)
    assert O.make_objective("energy") == O.EnergyBased()
