"""Toy distributions as documented, and the mixture measures on constructed samples."""

import math

import pytest
import torch

from earthmover.data.toy import TOY_DISTRIBUTIONS, ParallelLines, eight_gaussians, make_toy, twenty_five_gaussians
from earthmover.metrics.mixtures import mixture_measures


def test_25_gaussians_matches_the_wgan_gp_toy_data():
    mix = twenty_five_gaussians()
    assert mix.num_modes == 25
    assert abs(mix.std - 0.05 / 2.828) < 1e-12
    spacing = sorted(set(round(float(v), 6) for v in mix.centers[:, 0]))
    assert len(spacing) == 5
    assert all(abs((b - a) - 2 / 2.828) < 1e-5 for a, b in zip(spacing, spacing[1:]))
    x = mix.sample(50_000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, mix.centers).argmin(1)
    offsets = x - mix.centers[nearest]
    assert abs(float(offsets.std()) - mix.std) < 0.03 * mix.std
    counts = torch.bincount(nearest, minlength=25).double() / len(x)
    assert float((counts - 1 / 25).abs().max()) < 0.01


def test_8_gaussians_on_a_ring():
    mix = eight_gaussians()
    radii = mix.centers.norm(dim=1)
    assert torch.allclose(radii, torch.full((8,), 2 / 1.414), atol=1e-5)


@pytest.mark.parametrize("name", list(TOY_DISTRIBUTIONS))
def test_every_toy_samples_2d_reproducibly(name):
    dist = make_toy(name)
    a = dist.sample(100, torch.Generator().manual_seed(3))
    b = dist.sample(100, torch.Generator().manual_seed(3))
    assert a.shape == (100, 2) and torch.equal(a, b) and torch.isfinite(a).all()


def test_checkerboard_lies_on_dark_squares():
    x = make_toy("checkerboard").sample(5000, torch.Generator().manual_seed(0))
    assert float(x.abs().max()) <= 2.0
    parity = (torch.floor(x[:, 0]) + torch.floor(x[:, 1])) % 2
    assert torch.all(parity == parity[0])


def test_parallel_lines():
    x = ParallelLines(theta=0.7).sample(1000, torch.Generator().manual_seed(0))
    assert torch.all(x[:, 0] == 0.7)
    assert 0 <= float(x[:, 1].min()) and float(x[:, 1].max()) <= 1


def test_measures_all_modes_exactly_at_centers():
    mix = twenty_five_gaussians()
    report = mixture_measures(mix.centers.repeat(4, 1), mix)
    assert report.modes_covered == 25 and report.high_quality == 1.0
    assert abs(report.reverse_kl) < 1e-6


def test_measures_one_mode():
    mix = twenty_five_gaussians()
    samples = mix.centers[7] + 0.5 * mix.std * torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    report = mixture_measures(samples, mix)
    assert report.modes_covered == 1 and report.high_quality == 1.0
    assert abs(report.reverse_kl - math.log(25)) < 1e-6


def test_measures_off_mode_points():
    mix = twenty_five_gaussians()
    # midpoints between horizontally adjacent centers are 0.354 away: 20 standard deviations
    left = mix.centers[mix.centers[:, 0] < mix.centers[:, 0].max() - 1e-6]
    midpoints = left + torch.tensor([2 / 2.828 / 2, 0.0])
    report = mixture_measures(midpoints, mix)
    assert report.modes_covered == 0 and report.high_quality == 0.0 and report.reverse_kl == math.inf
    # half at a mode, half off: 50% high quality, one mode
    report = mixture_measures(torch.cat([mix.centers[:1].repeat(len(midpoints), 1), midpoints]), mix)
    assert report.modes_covered == 1 and report.high_quality == 0.5


def test_three_standard_deviations_is_the_boundary():
    mix = eight_gaussians()
    inside = mix.centers[:1] + torch.tensor([[2.99 * mix.std, 0.0]])
    outside = mix.centers[:1] + torch.tensor([[3.01 * mix.std, 0.0]])
    assert mixture_measures(inside, mix).high_quality == 1.0
    assert mixture_measures(outside, mix).high_quality == 0.0
