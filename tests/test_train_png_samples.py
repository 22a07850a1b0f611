"""`earthmover sample --png-dir`: N lossless PNGs quantized as FID quantizes, atomic, with one-line refusals."""

import numpy as np
import pytest
import torch
from PIL import Image

from earthmover.cli import main
from earthmover.metrics.inception import to_uint8_rgb
from earthmover.train import png_samples


class FakeSampler:
    """Deterministic images from (seed, index); a conditional one with num_classes."""

    generator_label = "EMA generator"
    step = 7

    def __init__(self, channels=1, num_classes=0, fail_after=None):
        self.channels, self.num_classes, self.fail_after, self.calls = channels, num_classes, fail_after, 0

    def sample(self, n, seed=0, truncation=None, labels=None):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("out of memory")
        g = torch.Generator().manual_seed(seed)
        return torch.rand(n, self.channels, 8, 8, generator=g) * 2.2 - 1.1  # a little beyond [-1, 1]: clamped


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text("")
    sampler = FakeSampler(channels=3, num_classes=10)
    monkeypatch.setattr("earthmover.train.sampler.load_sampler", lambda *a, **k: sampler)
    return run


def test_pngs_hold_exactly_the_pixels_fid_sees(tmp_path):
    monkey = FakeSampler(channels=3)
    out = png_samples.write_pngs(monkey, tmp_path / "pngs", 20, seed=3)
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(20)]
    expected = to_uint8_rgb(FakeSampler(channels=3).sample(20, seed=3 * 1_000_003)).to(torch.uint8)
    read = torch.from_numpy(np.stack([np.asarray(Image.open(f)) for f in files])).permute(0, 3, 1, 2)
    assert torch.equal(read, expected)


def test_grayscale_stays_one_channel_and_labels_cycle_through_classes(tmp_path):
    out = png_samples.write_pngs(FakeSampler(channels=1, num_classes=3), tmp_path / "g", 7)
    names = sorted(p.name for p in out.iterdir())
    assert names[:4] == ["000000_label0.png", "000001_label1.png", "000002_label2.png", "000003_label0.png"]
    assert Image.open(out / names[0]).mode == "L"


def test_a_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(png_samples, "BATCH", 5)
    with pytest.raises(RuntimeError):
        png_samples.write_pngs(FakeSampler(fail_after=2), tmp_path / "out", 20)
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_n_pngs_and_refuses_bad_targets(run_dir, tmp_path, capsys):
    out = tmp_path / "pngs"
    assert main(["sample", "--run", str(run_dir), "--n", "20", "--png-dir", str(out)]) == 0
    assert len(list(out.glob("*_label*.png"))) == 20
    assert main(["sample", "--run", str(run_dir), "--n", "5", "--png-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not empty" in err and "--overwrite" in err
    assert len(list(out.iterdir())) == 20  # refused: unchanged
    assert main(["sample", "--run", str(run_dir), "--n", "5", "--png-dir", str(out), "--overwrite"]) == 0
    assert len(list(out.iterdir())) == 5
    with pytest.raises(SystemExit) as bad_n:  # argparse's one-line usage error
        main(["sample", "--run", str(run_dir), "--n", "0", "--png-dir", str(tmp_path / "z")])
    assert bad_n.value.code == 2
    assert main(["sample", "--run", str(run_dir), "--n", "3", "--png-dir", str(tmp_path / "no" / "such")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "z").exists() and not (tmp_path / "no").exists()
