"""InfoGAN's latent codes (earthmover.data.codes): layout, reproducible draws, the code sweep."""

import pytest
import torch

from earthmover.data.codes import CodeSpec, code_sweep, sample_codes, split_latent
from earthmover.errors import EarthmoverError


def test_the_paper_defaults():
    spec = CodeSpec()
    assert (spec.noise_dim, spec.categorical, spec.continuous) == (62, (10,), 2)
    assert spec.latent_dim == 74 and spec.code_dim == 12


def test_latent_layout_is_noise_then_one_hot_codes_then_continuous():
    spec = CodeSpec(noise_dim=2, categorical=(3, 2), continuous=1)
    codes = sample_codes(5, spec, torch.Generator().manual_seed(0))
    z = codes.latent()
    assert z.shape == (5, 2 + 3 + 2 + 1)
    assert torch.equal(z[:, :2], codes.noise)
    assert torch.equal(z[:, 2:5].argmax(1), codes.categorical[:, 0]) and torch.equal(z[:, 2:5].sum(1), torch.ones(5))
    assert torch.equal(z[:, 5:7].argmax(1), codes.categorical[:, 1])
    assert torch.equal(z[:, 7:], codes.continuous)
    back = split_latent(z, spec)
    assert torch.equal(back.categorical, codes.categorical) and torch.equal(back.continuous, codes.continuous)


def test_draws_follow_the_explicit_generator():
    spec = CodeSpec()
    a = sample_codes(64, spec, torch.Generator().manual_seed(3)).latent()
    b = sample_codes(64, spec, torch.Generator().manual_seed(3)).latent()
    c = sample_codes(64, spec, torch.Generator().manual_seed(4)).latent()
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_code_distributions():
    codes = sample_codes(20000, CodeSpec(noise_prior="uniform"), torch.Generator().manual_seed(0))
    counts = codes.categorical[:, 0].bincount(minlength=10).float() / 20000
    assert torch.allclose(counts, torch.full((10,), 0.1), atol=0.01)
    for u in (codes.continuous, codes.noise):  # uniform on [-1, 1]: mean 0, variance 1/3, reaching both ends
        assert u.mean().item() == pytest.approx(0.0, abs=0.02)
        assert u.var().item() == pytest.approx(1 / 3, abs=0.01)
        assert u.min() < -0.99 and u.max() > 0.99 and u.abs().max() <= 1
    normal = sample_codes(20000, CodeSpec(), torch.Generator().manual_seed(0)).noise
    assert normal.var().item() == pytest.approx(1.0, abs=0.03)
    truncated = sample_codes(2000, CodeSpec(), torch.Generator().manual_seed(0), truncation=0.5)
    assert truncated.noise.abs().max() <= 0.5 and truncated.continuous.abs().max() > 0.9  # codes keep their range


def test_code_sweep_rows_are_categories_and_columns_sweep_a_continuous_code():
    spec = CodeSpec(noise_dim=3, categorical=(4,), continuous=2)
    sweep = code_sweep(spec, columns=5, continuous_index=1, generator=torch.Generator().manual_seed(0))
    assert len(sweep) == 20
    grid_cat = sweep.categorical[:, 0].view(4, 5)
    assert torch.equal(grid_cat, torch.arange(4).view(4, 1).expand(4, 5))
    grid_c1 = sweep.continuous[:, 1].view(4, 5)
    assert torch.equal(grid_c1, torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).expand(4, 5))
    assert torch.equal(sweep.continuous[:, 0], torch.zeros(20))
    assert torch.equal(sweep.noise, sweep.noise[:1].expand(20, 3))  # one noise vector for the whole grid


def test_specs_are_checked():
    with pytest.raises(EarthmoverError, match="at least 2 values"):
        CodeSpec(categorical=(10, 1))
    with pytest.raises(EarthmoverError, match="no categorical and no continuous"):
        CodeSpec(categorical=(), continuous=0)
    with pytest.raises(EarthmoverError, match="noise_prior"):
        CodeSpec(noise_prior="gauss")
    with pytest.raises(EarthmoverError, match="expected"):
        split_latent(torch.zeros(2, 5), CodeSpec())
    with pytest.raises(EarthmoverError, match="no categorical code"):
        code_sweep(CodeSpec(categorical=(), continuous=2))
