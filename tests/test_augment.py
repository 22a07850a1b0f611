"""DiffAugment's transforms, the policy with probability p, its draws, and ADA's controller of p."""

import pytest
import torch
import torch.nn.functional as F

from earthmover.augment import AUGMENTATIONS, AdaptiveP, Augment, Draws, parse_policy
from earthmover.augment.transforms import adjust_color, cut_out, cutout_size, translate
from earthmover.errors import EarthmoverError
from earthmover.losses.penalties import Shard


def images(n=4, c=3, h=8, w=8, seed=0, dtype=torch.float32):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2 - 1


# ---------------------------------------------------------------- the authors' formulas, with given draws
# From mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py, with torch.randint replaced by the values.


def authors_translation(x, translation_x, translation_y):
    translation_x, translation_y = translation_x.view(-1, 1, 1), translation_y.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(x.size(2)), torch.arange(x.size(3)), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def authors_cutout(x, offset_x, offset_y, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x, offset_y = offset_x.view(-1, 1, 1), offset_y.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(cutout_size[0]), torch.arange(cutout_size[1]), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


def authors_color(x, b, s, c):
    x = x + (b.view(-1, 1, 1, 1) - 0.5)
    x_mean = x.mean(dim=1, keepdim=True)
    x = (x - x_mean) * (s.view(-1, 1, 1, 1) * 2) + x_mean
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (c.view(-1, 1, 1, 1) + 0.5) + x_mean


def test_translation_moves_pixels_exactly_and_fills_zero():
    x = images(n=2, h=6, w=5)
    out = translate(x, torch.tensor([2, -1]), torch.tensor([-3, 0]))
    # image 0: out[r, c] = x[r + 2, c - 3]
    assert torch.equal(out[0, :, 0:4, 3:5], x[0, :, 2:6, 0:2])
    assert torch.equal(out[0, :, 4:, :], torch.zeros(3, 2, 5))
    assert torch.equal(out[0, :, :, :3], torch.zeros(3, 6, 3))
    # image 1: out[r, c] = x[r - 1, c]
    assert torch.equal(out[1, :, 1:], x[1, :, :5])
    assert torch.equal(out[1, :, 0], torch.zeros(3, 5))


@pytest.mark.parametrize("h,w", [(8, 8), (7, 9)])
def test_translation_equals_the_authors_gather_for_every_shift(h, w):
    x = images(n=1, h=h, w=w)
    for sh in range(-3, 4):
        for sw in range(-3, 4):
            a, b = torch.tensor([sh]), torch.tensor([sw])
            assert torch.equal(translate(x, a, b), authors_translation(x, a, b)), (sh, sw)


@pytest.mark.parametrize("h,w", [(8, 8), (7, 9), (6, 5)])
def test_cutout_zeroes_exactly_the_authors_box(h, w):
    x = images(n=1, h=h, w=w) + 3  # no pixel is zero before the cut
    size_h, size_w = cutout_size(h, w)
    for ch in range(0, h + (1 - size_h % 2)):
        for cw in range(0, w + (1 - size_w % 2)):
            a, b = torch.tensor([ch]), torch.tensor([cw])
            assert torch.equal(cut_out(x, a, b), authors_cutout(x, a, b)), (ch, cw)


def test_cutout_zeroes_the_box_and_nothing_else():
    x = images(n=1) + 3
    out = cut_out(x, torch.tensor([4]), torch.tensor([2]))  # size 4: rows 2..5, columns 0..3
    zero = out == 0
    assert zero[0, :, 2:6, 0:4].all() and zero.sum() == 3 * 16


def test_color_equals_the_authors_formula_and_brightness_adds_the_draw():
    x = images(n=3)
    b, s, c = torch.tensor([0.1, 0.5, 0.9]), torch.tensor([0.2, 0.5, 0.7]), torch.tensor([0.3, 0.5, 0.8])
    assert torch.allclose(adjust_color(x, b, s, c), authors_color(x, b, s, c), atol=0, rtol=0)
    # saturation 0.5 and contrast 0.5 multiply by 1: only the brightness shift u - 0.5 remains
    half = torch.full((3,), 0.5)
    out = adjust_color(x, torch.tensor([0.1, 0.5, 0.9]), half, half)
    assert torch.allclose(out - x, torch.tensor([-0.4, 0.0, 0.4]).view(3, 1, 1, 1).expand_as(x), atol=1e-6)


@pytest.mark.parametrize("name", ["translation", "cutout", "color"])
def test_each_transform_is_differentiable_numerically(name):
    x = images(n=2, c=3, h=6, w=6, dtype=torch.float64).requires_grad_(True)

    def f(inp):  # the same draws at every call of gradcheck
        return AUGMENTATIONS[name](inp, Draws(torch.Generator().manual_seed(3)))

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)
    (grad,) = torch.autograd.grad(f(x).pow(2).sum(), x)
    assert grad.abs().sum() > 0  # the gradient reaches the input


def test_policy_is_differentiable_and_p_zero_is_the_identity():
    x = images(dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda inp: Augment(p=1.0)(inp, torch.Generator().manual_seed(1)), (x,))
    assert torch.equal(Augment(p=0.0)(x, torch.Generator().manual_seed(1)), x)


def test_same_seed_same_output_other_seed_other_output():
    x = images(n=16)
    a = Augment()
    one = a(x, torch.Generator().manual_seed(5))
    assert torch.equal(one, a(x, torch.Generator().manual_seed(5)))
    assert not torch.equal(one, a(x, torch.Generator().manual_seed(6)))


def test_p_applies_each_transform_to_that_share_of_samples():
    x = images(n=4000, c=1, h=8, w=8) + 3  # positive pixels: a cut-out sample has zeros
    out = Augment("cutout", p=0.3)(x, torch.Generator().manual_seed(0))
    share = (out == 0).flatten(1).any(dim=1).float().mean().item()
    assert abs(share - 0.3) < 0.03  # binomial sd 0.007


def test_draws_do_not_depend_on_p():
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    Augment(p=0.0)(images(), g1)
    Augment(p=0.7)(images(), g2)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_global_draws_sliced_equal_draws_per_shard():
    x = images(n=12)
    whole = Augment(p=0.6)(x, torch.Generator().manual_seed(9))
    parts, states = [], []
    for start in (0, 5, 9):  # unequal shards of rows [0,5), [5,9), [9,12)
        end = {0: 5, 5: 9, 9: 12}[start]
        g = torch.Generator().manual_seed(9)
        parts.append(Augment(p=0.6)(x[start:end], g, offset=start, total=12))
        states.append(g.get_state())
    assert torch.equal(torch.cat(parts), whole)
    reference = torch.Generator().manual_seed(9)
    Augment(p=0.6)(x, reference)
    assert all(torch.equal(s, reference.get_state()) for s in states)  # every process's generator advanced alike
    # a penalties Shard (equal shards by rank) is accepted as the source too
    shards = [Augment(p=0.6)(x[r * 4 : (r + 1) * 4], Shard(torch.Generator().manual_seed(9), r, 3)) for r in range(3)]
    assert torch.equal(torch.cat(shards), whole)


def test_refusals_name_the_value():
    with pytest.raises(EarthmoverError, match="did you mean 'translation'"):
        parse_policy("translaton,cutout")
    with pytest.raises(EarthmoverError, match=r"augment.p = 1.5 .* \[0, 1\]"):
        Augment(p=1.5)
    with pytest.raises(EarthmoverError, match="toy samples"):
        Augment()(torch.zeros(8, 2), torch.Generator())
    with pytest.raises(EarthmoverError, match="outside the global batch"):
        Augment()(images(n=4), torch.Generator(), offset=10, total=12)
    with pytest.raises(EarthmoverError, match="policy 'translation'"):
        Augment("cutout").load_state_dict({"policy": "translation", "p": 0.5})


# ---------------------------------------------------------------- ADA's controller


def test_ada_step_is_batch_times_interval_over_500k_images():
    ada = AdaptiveP(batch_size=64)
    assert ada.step_size == pytest.approx(64 * 4 / 500_000)


@pytest.mark.parametrize("sign,expected", [(1.0, 1), (-1.0, -1)])
def test_ada_moves_p_one_step_toward_the_target_per_interval(sign, expected):
    ada = AdaptiveP(batch_size=32, target=0.6, interval=4, p=0.5)
    for step in range(4):
        ada.observe(torch.full((32,), sign))
        p = ada.update()
        if step < 3:
            assert p == 0.5  # nothing moves inside an interval
    assert ada.rt == sign
    assert p == pytest.approx(0.5 + expected * 32 * 4 / 500_000)


def test_ada_reads_rt_as_the_mean_sign_and_holds_at_the_target():
    ada = AdaptiveP(batch_size=5, target=0.6, interval=1, p=0.5)
    ada.observe(torch.tensor([1.0, 2.0, 3.0, 4.0, -1.0]))  # signs: 4 positive, 1 negative -> r_t = 0.6
    assert ada.update() == 0.5 and ada.rt == pytest.approx(0.6)
    ada.observe(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert ada.update() > 0.5


def test_ada_clamps_to_zero_and_one_and_resumes_exactly():
    ada = AdaptiveP(batch_size=100_000, interval=1, p=0.9)  # step 0.2
    ada.observe(torch.ones(4))
    assert ada.update() == 1.0
    ada = AdaptiveP(batch_size=100_000, interval=1, p=0.1)
    ada.observe(-torch.ones(4))
    assert ada.update() == 0.0
    a = AdaptiveP(batch_size=8, interval=4, p=0.3)
    a.observe(torch.ones(8))
    a.update()
    b = AdaptiveP(batch_size=8, interval=4)
    b.load_state_dict(a.state_dict())
    for ctl in (a, b):
        for _ in range(3):
            ctl.observe(-torch.ones(8))
            ctl.update()
    assert (a.p, a.rt) == (b.p, b.rt) == (pytest.approx(0.3 - 8 * 4 / 500_000), -0.5)


def test_ada_refuses_a_target_outside_zero_one():
    with pytest.raises(EarthmoverError, match=r"augment.target = 1.0 .* \(0, 1\)"):
        AdaptiveP(batch_size=8, target=1.0)
