"""Progressive growing (Karras et al. 2018): the fade-in, the reals the critic sees, the schedule, the drift term."""

import copy

import pytest
import torch

from earthmover.errors import EarthmoverError
from earthmover.losses.objectives import wasserstein_critic_loss, wasserstein_generator_loss
from earthmover.losses.penalties import gradient_penalty
from earthmover.nets.progressive import (
    ProgressiveCritic,
    ProgressiveGenerator,
    ProgressiveSchedule,
    downscale2d,
    drift_penalty,
    progressive_reals,
    set_stage,
    upscale2d,
)

SMALL = dict(fmap_base=32, fmap_max=8)


def nets(resolution=32, channels=1, seed=0):
    torch.manual_seed(seed)
    return ProgressiveGenerator(8, resolution, channels, **SMALL), ProgressiveCritic(resolution, channels, **SMALL)


def perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p))


@pytest.mark.parametrize("r", [8, 16, 32])
def test_generator_at_alpha_0_is_the_upscaled_lower_resolution_and_at_alpha_1_the_new_block(r):
    g, _ = nets()
    z = torch.randn(4, 8)
    g.set_stage(r // 2, 1.0)
    low = g(z)
    g.set_stage(r, 0.0)
    assert torch.equal(g(z), upscale2d(low))  # bit for bit
    g.set_stage(r, 1.0)
    new = g(z)
    assert new.shape == (4, 1, r, r) and not torch.allclose(new, upscale2d(low))
    g.set_stage(r, 0.25)
    assert torch.allclose(g(z), 0.75 * upscale2d(low) + 0.25 * new, atol=1e-6)
    level = g.level
    # at alpha = 1 the lower resolution's output layer no longer counts; at alpha = 0 the new block does not yet
    h = copy.deepcopy(g)
    perturb(h.to_rgb[level - 1])
    h.set_stage(r, 1.0)
    assert torch.equal(h(z), new)
    h = copy.deepcopy(g)
    perturb(h.blocks[level])
    perturb(h.to_rgb[level])
    h.set_stage(r, 0.0)
    assert torch.equal(h(z), upscale2d(low))


@pytest.mark.parametrize("r", [8, 16, 32])
def test_critic_at_alpha_0_scores_the_downscaled_image_at_the_lower_resolution(r):
    _, c = nets()
    x = torch.randn(4, 1, r, r)
    c.set_stage(r // 2, 1.0)
    low = c(downscale2d(x)).score
    c.set_stage(r, 0.0)
    assert torch.equal(c(x).score, low)
    c.set_stage(r, 1.0)
    new = c(x).score
    assert not torch.allclose(new, low)
    c.set_stage(r, 0.5)
    # the blend is of features, not of scores: the score at alpha = 0.5 is neither end
    mid = c(x).score
    assert not torch.allclose(mid, low) and not torch.allclose(mid, new)
    h = copy.deepcopy(c)
    perturb(h.from_rgb[c.level - 1])
    h.set_stage(r, 1.0)
    assert torch.equal(h(x).score, new)


def test_both_networks_grow_through_every_resolution_with_fixed_parameters():
    g, c = nets(channels=3)
    shapes = {k: v.shape for k, v in {**g.state_dict(), **c.state_dict()}.items()}
    z = torch.randn(2, 8)
    for r in (4, 8, 16, 32):
        set_stage(r, 0.5, g, c)
        x = g(z)
        assert x.shape == (2, 3, r, r) and c(x).score.shape == (2,)
        assert g.full_resolution(x).shape == (2, 3, 32, 32)
    assert shapes == {k: v.shape for k, v in {**g.state_dict(), **c.state_dict()}.items()}
    with pytest.raises(EarthmoverError, match="progressive_reals"):
        c(torch.randn(2, 3, 16, 16))  # the critic is at 32x32
    with pytest.raises(EarthmoverError, match="power of two"):
        ProgressiveGenerator(8, 28)


def test_the_critic_sees_the_real_images_box_downscaled_to_the_current_resolution():
    # one 8x8 image whose 2x2 blocks have known means
    x = torch.arange(64.0).view(1, 1, 8, 8)
    r4 = progressive_reals(x, 4, 1.0)
    hand4 = torch.tensor(
        [
            [
                (8 * (2 * i) + 2 * j + 8 * (2 * i) + 2 * j + 1 + 8 * (2 * i + 1) + 2 * j + 8 * (2 * i + 1) + 2 * j + 1)
                / 4
                for j in range(4)
            ]
            for i in range(4)
        ]
    )
    assert torch.equal(r4[0, 0], hand4)
    assert torch.equal(progressive_reals(x, 8, 1.0), x)  # the data's own size, faded in
    assert torch.equal(progressive_reals(x, 8, 0.0), upscale2d(r4))  # alpha 0: the coarser images, upscaled
    assert torch.allclose(progressive_reals(x, 8, 0.25), 0.75 * upscale2d(r4) + 0.25 * x)
    assert torch.equal(progressive_reals(x, 2**2, 0.0), r4)  # nothing coarser than 4x4 to fade from
    assert progressive_reals(torch.randn(3, 1, 32, 32), 8, 1.0).shape == (3, 1, 8, 8)
    with pytest.raises(EarthmoverError, match="pad 28x28"):
        progressive_reals(torch.randn(1, 1, 28, 28), 4)


def test_schedule_boundaries():
    s = ProgressiveSchedule(
        32, fade_images=100, stabilize_images=50, batch_size=16, batch_sizes={"16": 8, 32: 4}, lr=1e-3, lrs={32: 5e-4}
    )
    assert s.boundaries() == [
        (0, 4, "stabilize"),
        (50, 8, "fade"),
        (150, 8, "stabilize"),
        (200, 16, "fade"),
        (300, 16, "stabilize"),
        (350, 32, "fade"),
        (450, 32, "stabilize"),
    ]
    at = s.stage_at
    assert (at(49).resolution, at(49).phase, at(49).alpha) == (4, "stabilize", 1.0)
    assert (at(50).resolution, at(50).phase, at(50).alpha) == (8, "fade", 0.0)
    assert at(100).alpha == 0.5 and at(149).alpha == pytest.approx(0.99)
    assert (at(150).resolution, at(150).phase, at(150).alpha) == (8, "stabilize", 1.0)
    assert (at(449).resolution, at(449).phase) == (32, "fade")
    assert (at(10**9).resolution, at(10**9).phase, at(10**9).end) == (32, "stabilize", None)
    assert [at(n).batch_size for n in (0, 150, 200, 449)] == [16, 16, 8, 4]
    assert [at(n).lr for n in (0, 449)] == [1e-3, 5e-4]
    assert s.growth_images == 450
    # the paper's numbers: 800k images per fade and per stabilization, 4x4 -> 1024x1024
    paper = ProgressiveSchedule(1024)
    assert paper.stage_at(800_000).resolution == 8 and paper.stage_at(1_200_000).alpha == 0.5
    assert paper.growth_images == 800_000 * (1 + 8 + 7)  # 4x4, then 8 fades and 7 closed stabilizations


def test_schedule_without_fades_or_with_a_late_start():
    s = ProgressiveSchedule(16, fade_images=0, stabilize_images=10)
    assert s.boundaries() == [(0, 4, "stabilize"), (10, 8, "stabilize"), (20, 16, "stabilize")]
    s = ProgressiveSchedule(16, start_resolution=16)
    assert s.boundaries() == [(0, 16, "stabilize")] and s.stage_at(0).alpha == 1.0


def test_schedule_state_resumes_in_the_middle_of_a_fade():
    s = ProgressiveSchedule(16, fade_images=100, stabilize_images=50)
    for _ in range(5):
        s.advance(16)
    assert s.stage.phase == "fade" and s.stage.alpha == 0.3
    resumed = ProgressiveSchedule(16, fade_images=100, stabilize_images=50)
    resumed.load_state_dict(copy.deepcopy(s.state_dict()))
    assert [s.advance(16) for _ in range(20)] == [resumed.advance(16) for _ in range(20)]
    with pytest.raises(EarthmoverError, match="another progressive schedule"):
        ProgressiveSchedule(16, fade_images=200).load_state_dict(s.state_dict())


def test_schedule_checks():
    with pytest.raises(EarthmoverError, match="never reaches"):
        ProgressiveSchedule(16, batch_sizes={32: 4})
    with pytest.raises(EarthmoverError, match="above the final"):
        ProgressiveSchedule(8, start_resolution=16)
    with pytest.raises(EarthmoverError, match="positive"):
        ProgressiveSchedule(8, lrs={8: 0})


def test_drift_term():
    scores = torch.tensor([1.0, -2.0, 3.0])
    assert drift_penalty(scores).item() == pytest.approx(0.001 * (1 + 4 + 9) / 3)
    assert drift_penalty(scores, epsilon=0.5).item() == pytest.approx(0.5 * 14 / 3)


def _train(steps, data, resume_from=None, stop_at=None):
    """A WGAN-GP + drift loop on the schedule, as the trainer will run it; returns its state."""
    g, c = nets(resolution=8)
    g_opt = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.99))
    c_opt = torch.optim.Adam(c.parameters(), lr=1e-3, betas=(0.0, 0.99))
    sched = ProgressiveSchedule(8, fade_images=24, stabilize_images=8, batch_size=4)
    rng = torch.Generator().manual_seed(7)
    if resume_from is not None:
        state = copy.deepcopy(resume_from)
        g.load_state_dict(state["g"])
        c.load_state_dict(state["c"])
        g_opt.load_state_dict(state["g_opt"])
        c_opt.load_state_dict(state["c_opt"])
        sched.load_state_dict(state["sched"])
        rng.set_state(state["rng"])
    while sched.images_seen < steps * 4:
        stage = sched.stage
        set_stage(stage.resolution, stage.alpha, g, c)
        idx = torch.randint(len(data), (stage.batch_size,), generator=rng)
        real = progressive_reals(data[idx], stage.resolution, stage.alpha)
        fake = g(torch.randn(stage.batch_size, 8, generator=rng))
        real_out = c(real)
        loss = (
            wasserstein_critic_loss(real_out.score, c(fake.detach()).score)
            + gradient_penalty(c, real, fake.detach(), generator=rng)
            + drift_penalty(real_out.score)
        )
        c_opt.zero_grad()
        loss.backward()
        c_opt.step()
        g_loss = wasserstein_generator_loss(c(g(torch.randn(stage.batch_size, 8, generator=rng))).score)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        sched.advance(stage.batch_size)
        if stop_at is not None and sched.images_seen == stop_at * 4:
            break
    return {
        "g": copy.deepcopy(g.state_dict()),
        "c": copy.deepcopy(c.state_dict()),
        "g_opt": copy.deepcopy(g_opt.state_dict()),
        "c_opt": copy.deepcopy(c_opt.state_dict()),
        "sched": sched.state_dict(),
        "rng": rng.get_state(),
        "stage": sched.stage,
    }


def test_a_resume_in_the_middle_of_a_fade_continues_bit_exactly():
    torch.set_num_threads(1)
    data = torch.rand(32, 1, 8, 8) * 2 - 1
    straight = _train(12, data)
    half = _train(12, data, stop_at=4)
    assert half["stage"].phase == "fade" and 0 < half["stage"].alpha < 1  # stopped mid-fade (alpha 1/3)
    resumed = _train(12, data, resume_from=half)
    assert straight["stage"] == resumed["stage"] and straight["stage"].resolution == 8
    for key in ("g", "c"):
        for name, value in straight[key].items():
            assert torch.equal(value, resumed[key][name]), name
