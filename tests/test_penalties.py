"""Penalties: exact gradient norms on critics whose gradients we know, per-sample draws, no NaN at zero."""

import pytest
import torch
from torch import nn

from earthmover import penalties as P
from earthmover.nets.critic_output import CriticOutput


class Linear(nn.Module):
    """D(x) = w . x over all non-batch dimensions; its input gradient is w for every sample."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


class HalfSquare(nn.Module):
    """D(x) = 0.5 ||x||^2; grad = x, so the per-sample norm is ||x_i||."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def test_linear_critic_gradient_norm_is_norm_of_w():
    w = torch.tensor([3.0, 4.0])
    critic = Linear(w)
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    norms = P.per_sample_norm(P.critic_input_gradient(critic, P.interpolate(real, fake)))
    assert torch.allclose(norms, torch.full((16,), 5.0), atol=1e-6)
    gp = P.gradient_penalty(critic, real, fake, weight=10.0)
    assert abs(float(gp.detach()) - 10.0 * (5.0 - 1.0) ** 2) < 1e-4
    assert abs(float(P.gradient_penalty(critic, real, fake, weight=2.0, target=5.0).detach())) < 1e-6


def test_images_are_normed_per_sample_over_all_dimensions():
    torch.manual_seed(0)
    w = torch.randn(3, 4, 4)
    critic = Linear(w)
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    grad = P.critic_input_gradient(critic, P.interpolate(real, fake))
    assert grad.shape == (5, 3, 4, 4)
    norms = P.per_sample_norm(grad)
    assert norms.shape == (5,)
    assert torch.allclose(norms, w.norm().expand(5), rtol=1e-5)
    # neither per pixel nor over the whole batch
    assert not torch.allclose(norms, grad.norm().expand(5))


def test_penalty_uses_each_samples_own_norm():
    """With D = 0.5||x||^2 the norm at x^_i is ||x^_i||: the penalty is the mean of (||x^_i|| - 1)^2."""
    real, fake = torch.randn(8, 3) * 2, torch.randn(8, 3)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    x_hat = P.interpolate(real, fake, g1)
    expected = 10.0 * ((x_hat.norm(dim=1) - 1.0) ** 2).mean()
    got = P.gradient_penalty(HalfSquare(), real, fake, weight=10.0, generator=g2)
    assert abs(float(got.detach()) - float(expected)) < 1e-5


def test_interpolation_coefficient_is_drawn_per_sample():
    real, fake = torch.ones(64, 3, 2, 2), torch.zeros(64, 3, 2, 2)
    x_hat = P.interpolate(real, fake, torch.Generator().manual_seed(0))
    eps = x_hat.flatten(1)
    assert torch.all(eps == eps[:, :1])  # one coefficient within a sample
    assert eps[:, 0].unique().numel() == 64  # a different one for each sample
    # x^ = eps x + (1 - eps) x~ with eps the generator's own uniform draws, in order
    drawn = torch.rand(64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(eps[:, 0], drawn)
    real, fake = torch.randn(64, 3, dtype=torch.float64), torch.randn(64, 3, dtype=torch.float64)
    x_hat = P.interpolate(real, fake, torch.Generator().manual_seed(0))
    assert x_hat.dtype == torch.float64
    e = drawn.double()[:, None]
    assert torch.allclose(x_hat, e * real + (1 - e) * fake, rtol=0, atol=1e-15)


def test_zero_gradient_gives_no_nan():
    """D(x) = w ||x||^2 at x = 0: the input gradient 2 w x is exactly zero, and d||grad||/dw would be
    0 * inf = NaN without the epsilon inside the square root."""

    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(0.5))

        def forward(self, x):
            return self.w * x.flatten(1).pow(2).sum(1)

    critic = Quadratic()
    zeros = torch.zeros(4, 2)
    gp = P.gradient_penalty(critic, zeros, zeros, weight=10.0)
    assert abs(float(gp.detach()) - 10.0) < 1e-4  # (0 - 1)^2 * 10
    gp.backward()
    assert torch.isfinite(critic.w.grad)


def test_one_sided_penalty_ignores_small_gradients():
    small, large = Linear(torch.tensor([0.3, 0.4])), Linear(torch.tensor([1.2, 1.6]))
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert float(P.gradient_penalty(small, real, fake, one_sided=True).detach()) == 0.0
    assert abs(float(P.gradient_penalty(small, real, fake).detach()) - 10 * 0.25) < 1e-4
    assert abs(float(P.gradient_penalty(large, real, fake, one_sided=True).detach()) - 10 * 1.0) < 1e-4


def test_r1_and_r2_are_half_gamma_squared_norms():
    real, fake = torch.randn(10, 3), torch.randn(10, 3)
    critic = HalfSquare()
    assert abs(float(P.r1_penalty(critic, real, weight=4.0).detach()) - 2.0 * float(real.pow(2).sum(1).mean())) < 1e-4
    assert (
        abs(float(P.r2_penalty(critic, real, fake, weight=4.0).detach()) - 2.0 * float(fake.pow(2).sum(1).mean()))
        < 1e-4
    )


def test_dragan_points_lie_near_the_data():
    real = torch.randn(256, 2)
    pts = P.perturb_near_data(real, torch.Generator().manual_seed(0))
    step = pts - real
    assert float(step.min()) >= 0.0 and float(step.max()) <= 0.5 * float(real.std()) + 1e-6
    gp = P.dragan_penalty(Linear(torch.tensor([0.6, 0.8])), real, weight=10.0)
    assert abs(float(gp.detach())) < 1e-6  # unit-norm linear critic: nothing to penalize


def test_consistency_term_is_zero_without_dropout_and_positive_with_it():
    torch.manual_seed(0)

    class Drop(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(p))
            self.out = nn.Linear(16, 1)

        def forward(self, x):
            h = self.body(x)
            return CriticOutput(self.out(h).squeeze(1), h)

    x = torch.randn(32, 2)
    assert float(P.consistency_term(Drop(0.0), x).detach()) == 0.0
    ct = P.consistency_term(Drop(0.5), x, weight=2.0)
    assert float(ct.detach()) > 0
    assert float(P.consistency_term(Drop(0.5), x, weight=2.0, margin=1e6).detach()) == 0.0


def test_consistency_term_exact_value_on_a_critic_with_known_passes():
    """A critic whose two passes return known scores and features: per sample the term is
    (d score)^2 + 0.1 x mean_k (d feature_k)^2, then weight x E max(0, term - margin)."""

    class TwoPasses(nn.Module):
        def __init__(self, with_features=True):
            super().__init__()
            self.calls = 0
            self.scores = [torch.tensor([0.0, 0.5, 0.0]), torch.tensor([2.0, 0.0, 0.0])]
            self.features = [torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 20.0**0.5]]), torch.zeros(3, 2)]
            if not with_features:
                self.features = [None, None]

        def forward(self, x):
            i, self.calls = self.calls, self.calls + 1
            return CriticOutput(self.scores[i], self.features[i])

    # squared score differences (4, 0.25, 0); mean squared feature differences (2, 0, 10)
    # term = (4.2, 0.25, 1.0); minus margin 0.5 and clamped: (3.7, 0, 0.5); mean 1.4; times weight 2
    critic = TwoPasses()
    ct = P.consistency_term(critic, torch.zeros(3, 2), weight=2.0, margin=0.5)
    assert critic.calls == 2
    assert float(ct.detach()) == pytest.approx(2.8, rel=1e-6)
    # without features only the score part: (4, 0.25, 0) -> (3.5, 0, 0), mean 7/6, times 2
    assert float(
        P.consistency_term(TwoPasses(False), torch.zeros(3, 2), weight=2.0, margin=0.5).detach()
    ) == pytest.approx(7 / 3, rel=1e-6)
    # the defaults are the CT-GAN paper's: lambda_2 = 2, M' = 0
    assert float(P.consistency_term(TwoPasses(), torch.zeros(3, 2)).detach()) == pytest.approx(
        2 * (4.2 + 0.25 + 1.0) / 3, rel=1e-6
    )


def test_per_sample_draws_take_the_samples_dtype_and_broadcast_shape():
    eps = P.uniform_per_sample(torch.zeros(4, 3, 2, dtype=torch.float64), torch.Generator().manual_seed(0))
    assert eps.shape == (4, 1, 1) and eps.dtype == torch.float64
    assert torch.equal(eps.flatten(), torch.rand(4, generator=torch.Generator().manual_seed(0)).double())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_draws_come_from_a_generator_on_the_samples_device():
    """A run on a GPU draws from a CUDA generator: the draws are made on its device, not the CPU."""
    g = torch.Generator(device="cuda").manual_seed(0)
    real, fake = torch.randn(8, 2, device="cuda"), torch.randn(8, 2, device="cuda")
    assert P.uniform_per_sample(real, g).device.type == "cuda"
    assert P.interpolate(real, fake, g).device.type == "cuda"
    assert P.perturb_near_data(real, g).device.type == "cuda"


def test_near_data_points_are_the_generators_draws_in_order():
    """x_p = x + 0.5 std(x) u (u elementwise, drawn first), x^ = x + alpha (x_p - x) (alpha per sample, drawn next),
    all from the given generator, in the data's dtype."""
    real = 3.0 * torch.randn(16, 2, dtype=torch.float64)  # std far from 1
    pts = P.perturb_near_data(real, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    u = torch.rand(16, 2, generator=g).double()
    alpha = torch.rand(16, 1, generator=g).double()
    assert pts.dtype == torch.float64
    assert torch.allclose(pts, real + alpha * 0.5 * real.std() * u, rtol=0, atol=1e-12)


def test_near_data_penalty_and_dragan_are_exact_on_a_known_critic():
    """With D = 0.5 ||x||^2 the gradient norm at x^ is ||x^||: the near-data penalty and DRAGAN are
    weight x E (||x^_i|| - 1)^2 at the points drawn from the generator."""
    real = 2.0 * torch.randn(12, 3)
    x_hat = P.perturb_near_data(real, torch.Generator().manual_seed(3))
    raw = float(((x_hat.norm(dim=1) - 1.0) ** 2).mean())
    fake = torch.randn(12, 3)
    near = P.gradient_penalty(
        HalfSquare(), real, fake, weight=3.0, points="near-data", generator=torch.Generator().manual_seed(3)
    )
    assert float(near.detach()) == pytest.approx(3.0 * raw, rel=1e-5)
    dragan = P.dragan_penalty(HalfSquare(), real, weight=3.0, generator=torch.Generator().manual_seed(3))
    assert float(dragan.detach()) == pytest.approx(3.0 * raw, rel=1e-5)
    # the paper's lambda = 10 is the default
    assert float(
        P.dragan_penalty(HalfSquare(), real, generator=torch.Generator().manual_seed(3)).detach()
    ) == pytest.approx(10 * raw, rel=1e-5)
    with pytest.raises(ValueError, match="points must be 'between' or 'near-data', got 'nowhere'"):
        P.gradient_penalty(HalfSquare(), real, fake, points="nowhere")


def test_r1_r2_default_gamma_is_ten():
    real, fake = torch.randn(10, 3), torch.randn(10, 3)
    assert float(P.r1_penalty(HalfSquare(), real).detach()) == pytest.approx(
        5.0 * float(real.pow(2).sum(1).mean()), rel=1e-5
    )
    assert float(P.r2_penalty(HalfSquare(), real, fake).detach()) == pytest.approx(
        5.0 * float(fake.pow(2).sum(1).mean()), rel=1e-5
    )


class SpyScaler:
    """A GradScaler stand-in that records what the penalty asks of it (scale s = 256)."""

    def __init__(self):
        self.scaled, self.s = 0, 256.0

    def is_enabled(self):
        return True

    def scale(self, t):
        self.scaled += 1
        return t * self.s

    def get_scale(self):
        return self.s


def test_mixed_precision_recipe_scales_before_grad_and_unscales_after():
    """PyTorch's AMP recipe for gradient penalties: the scores are scaled before autograd.grad and the
    gradient unscaled after, so the penalty equals the unscaled one and still reaches the weights."""
    w = torch.tensor([3.0, 4.0])
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    assert torch.allclose(P.critic_input_gradient(Linear(w), real, scaler=scaler), w.expand(6, 2))
    critic = Linear(w.clone())
    gp = P.gradient_penalty(critic, real, fake, weight=10.0, scaler=scaler)
    assert float(gp.detach()) == pytest.approx(10.0 * 16.0, rel=1e-5)
    gp.backward()  # the unscaled gradient keeps its graph
    assert torch.allclose(critic.w.grad, 16.0 * w, rtol=1e-4)
    # every penalty that takes a gradient hands the scaler on
    for name, fn in [
        ("gp", lambda s: P.gradient_penalty(Linear(w), real, fake, scaler=s)),
        ("near-data", lambda s: P.gradient_penalty(Linear(w), real, fake, points="near-data", scaler=s)),
        ("dragan", lambda s: P.dragan_penalty(Linear(w), real, scaler=s)),
        ("r1", lambda s: P.r1_penalty(Linear(w), real, scaler=s)),
        ("r2", lambda s: P.r2_penalty(Linear(w), real, fake, scaler=s)),
    ]:
        spy = SpyScaler()
        fn(spy)
        assert spy.scaled == 1, name


def test_gradient_penalty_gradient_reaches_the_critic_parameters():
    critic = Linear(torch.tensor([3.0, 4.0]))
    P.gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2), weight=10.0).backward()
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w|| = 20 * 4 * w / 5
    assert torch.allclose(critic.w.grad, 16.0 * torch.tensor([3.0, 4.0]), rtol=1e-4)


# --- the registered entries and the torchrun pieces (mutation pass 2) ---------------------------


def _same(generator: torch.Generator) -> torch.Generator:
    out = torch.Generator()
    out.set_state(generator.get_state())
    return out


def _f(t) -> float:
    return float(t.detach()) if isinstance(t, torch.Tensor) else float(t)


class DropoutCritic(nn.Module):
    """A critic with dropout and features, for the consistency term's entry."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5))
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = self.body(x)
        return CriticOutput(self.head(h).squeeze(1), h)


def test_each_penalty_entry_is_its_pure_function_with_its_own_parameters():
    """The entry the loop calls passes on its own fields, the weight it is given (configured x lazy
    interval, not its field) and the generator, to the pure function of the same penalty."""
    torch.manual_seed(0)
    real, fake = torch.randn(8, 2) * 2, torch.randn(8, 2) + 3
    critic = HalfSquare()  # grad = x: norms differ between real, fake and every set of points
    g = torch.Generator().manual_seed(5)
    cases = [
        (
            P.GradientPenaltyTerm(weight=1.0, target=3.0, one_sided=True, points="between"),
            lambda gen: P.gradient_penalty(
                critic, real, fake, weight=3.0, target=3.0, one_sided=True, points="between", generator=gen
            ),
        ),
        (
            P.GradientPenaltyTerm(weight=1.0, target=0.5, one_sided=False, points="near-data"),
            lambda gen: P.gradient_penalty(
                critic, real, fake, weight=3.0, target=0.5, points="near-data", generator=gen
            ),
        ),
        (P.R1Term(weight=1.0), lambda gen: P.r1_penalty(critic, real, fake, weight=3.0)),
        (P.R2Term(weight=1.0), lambda gen: P.r2_penalty(critic, real, fake, weight=3.0)),
        (P.DraganTerm(weight=1.0), lambda gen: P.dragan_penalty(critic, real, fake, weight=3.0, generator=gen)),
    ]
    for entry, pure in cases:
        expected = pure(_same(g))
        got = entry(critic, real, fake, weight=3.0, generator=_same(g))
        assert _f(got) == pytest.approx(_f(expected), rel=1e-6), entry
    # norms on both sides of the target 3 here: one-sided and two-sided differ
    assert _f(P.gradient_penalty(critic, real, fake, weight=3.0, target=3.0, one_sided=True, generator=_same(g))) < _f(
        P.gradient_penalty(critic, real, fake, weight=3.0, target=3.0, generator=_same(g))
    )
    # the pure values themselves differ from one another, so a swapped argument would show
    assert _f(P.r1_penalty(critic, real, fake, weight=3.0)) != pytest.approx(
        _f(P.r2_penalty(critic, real, fake, weight=3.0))
    )
    # R1 by hand: 0.5 x 3 x mean ||x||^2 over the real batch
    assert _f(P.R1Term(weight=1.0)(critic, real, fake, weight=3.0)) == pytest.approx(
        1.5 * _f(real.pow(2).sum(1).mean()), rel=1e-6
    )
    assert _f(P.R2Term(weight=1.0)(critic, real, fake, weight=3.0)) == pytest.approx(
        1.5 * _f(fake.pow(2).sum(1).mean()), rel=1e-6
    )

    ct_critic = DropoutCritic()
    torch.manual_seed(11)
    expected = P.consistency_term(ct_critic, real, fake, weight=3.0, margin=0.05)
    torch.manual_seed(11)
    got = P.ConsistencyTerm(weight=1.0, margin=0.05)(ct_critic, real, fake, weight=3.0)
    torch.manual_seed(11)
    no_margin = P.consistency_term(ct_critic, real, fake, weight=3.0, margin=0.0)
    assert _f(got) == pytest.approx(_f(expected), rel=1e-6)
    assert _f(no_margin) != pytest.approx(_f(expected))  # the margin matters on these draws


def test_the_entries_take_their_draws_from_the_generator_given():
    """Same generator state, same value; another state, another value (not the global RNG)."""
    real, fake = torch.randn(8, 2), torch.randn(8, 2) + 3
    critic = HalfSquare()
    for entry in (P.GradientPenaltyTerm(weight=1.0), P.DraganTerm(weight=1.0)):
        a = _f(entry(critic, real, fake, weight=1.0, generator=torch.Generator().manual_seed(1)))
        torch.manual_seed(123)
        b = _f(entry(critic, real, fake, weight=1.0, generator=torch.Generator().manual_seed(1)))
        c = _f(entry(critic, real, fake, weight=1.0, generator=torch.Generator().manual_seed(2)))
        assert a == b and a != c, entry


class OtherShard:
    """Stands in for torch.distributed.all_reduce(SUM) with one other process holding `other`."""

    def __init__(self, monkeypatch, other: torch.Tensor):
        import torch.distributed as dist

        self.calls = []
        x = other.detach().double()
        self.stats = torch.stack([x.new_tensor(float(x.numel())), x.sum(), x.pow(2).sum()])

        def all_reduce(t, op=None):
            self.calls.append(op)
            t.add_(self.stats.to(t))

        monkeypatch.setattr(dist, "all_reduce", all_reduce)


def test_shard_draws_are_its_slice_of_the_one_process_draws():
    n, world = 3, 4
    for rank in range(world):
        one = torch.rand((n * world, 2, 5), generator=torch.Generator().manual_seed(9))
        g = torch.Generator().manual_seed(9)
        part = P.Shard(g, rank, world).rand((n, 2, 5))
        assert torch.equal(part, one[rank * n : (rank + 1) * n])
        # the generator is left where the one process leaves it
        after = torch.Generator().manual_seed(9)
        torch.rand((n * world, 2, 5), generator=after)
        assert torch.equal(torch.rand(4, generator=g), torch.rand(4, generator=after))
    g = torch.Generator().manual_seed(9)
    assert torch.equal(P.Shard(g).rand((n, 2)), torch.rand((n, 2), generator=torch.Generator().manual_seed(9)))
    assert P.Shard(g).device == torch.device("cpu")


def test_shard_sum_adds_the_other_processes_and_leaves_the_value(monkeypatch):
    import torch.distributed as dist

    value = torch.tensor([1.0, 2.0], requires_grad=True)
    assert P.Shard(torch.Generator()).sum(value) is value  # one process: nothing to add
    seen = []
    monkeypatch.setattr(dist, "all_reduce", lambda t, op=None: (seen.append(op), t.mul_(3)))
    total = P.Shard(torch.Generator(), 0, 2).sum(value)
    assert total.tolist() == [3.0, 6.0] and value.tolist() == [1.0, 2.0] and not total.requires_grad
    assert seen == [dist.ReduceOp.SUM]


def test_batch_std_over_processes_is_the_std_of_the_global_batch(monkeypatch):
    import torch.distributed as dist

    torch.manual_seed(0)
    mine, other = torch.randn(6, 2) * 3 + 1, torch.randn(6, 2) * 0.5 - 2
    spy = OtherShard(monkeypatch, other)
    std = P.batch_std(mine, P.Shard(torch.Generator(), 0, 2))
    assert std.dtype == torch.float32
    assert float(std) == pytest.approx(float(torch.cat([mine, other]).double().std()), rel=1e-6)
    assert float(std) != pytest.approx(float(mine.std()), rel=1e-2)
    assert spy.calls == [dist.ReduceOp.SUM]
    # one process (a Shard of one, or a plain generator): the batch's own std, no reduction
    assert float(P.batch_std(mine, P.Shard(torch.Generator()))) == pytest.approx(float(mine.std()), rel=1e-7)
    assert float(P.batch_std(mine, torch.Generator())) == pytest.approx(float(mine.std()), rel=1e-7)
    assert spy.calls == [dist.ReduceOp.SUM]
    # a batch of variance below 1 (the variance is clamped at 0 against rounding, and only there)
    small, small_other = mine * 0.01, other * 0.01
    OtherShard(monkeypatch, small_other)
    assert float(P.batch_std(small, P.Shard(torch.Generator(), 0, 2))) == pytest.approx(
        float(torch.cat([small, small_other]).double().std()), rel=1e-6
    )


def test_near_data_points_under_torchrun_use_the_global_std_and_the_shards_draws(monkeypatch):
    """Rank 0 of 2: u is rows [0, n) of the (2n, d) draw, then alpha rows [0, n) of a (2n, 1) draw, and
    the step is 0.5 x the std of the whole (two-process) batch."""
    torch.manual_seed(1)
    n = 5
    mine, other = torch.randn(n, 2) * 3, torch.randn(n, 2) * 0.2
    OtherShard(monkeypatch, other)
    points = P.perturb_near_data(mine, P.Shard(torch.Generator().manual_seed(4), 0, 2))
    g = torch.Generator().manual_seed(4)
    u = torch.rand((2 * n, 2), generator=g)[:n]
    alpha = torch.rand((2 * n, 1), generator=g)[:n]
    step = 0.5 * torch.cat([mine, other]).double().std().float()
    torch.testing.assert_close(points, mine + alpha * (step * u), rtol=1e-6, atol=1e-6)


def test_shard_draws_take_the_samples_dtype():
    x = torch.zeros(4, 3, dtype=torch.float64)
    eps = P.uniform_per_sample(x, P.Shard(torch.Generator().manual_seed(0)))
    assert eps.dtype == torch.float64 and eps.shape == (4, 1)
    assert torch.equal(eps, torch.rand((4, 1), generator=torch.Generator().manual_seed(0)).double())
