"""The generator out of its run: earthmover.load, and earthmover export to ONNX, TorchScript, safetensors."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import earthmover
from earthmover import cli
from earthmover.errors import EarthmoverError
from earthmover.export import EXPORTERS

FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")
HAS = {name: importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime", "safetensors")}
needs = {
    name: pytest.mark.skipif(not HAS[name], reason=f'{name} is absent: pip install -e ".[export]"') for name in HAS
}
TINY = ["--arch", "dcgan", "--width", "4", "--model.latent-dim", "8", "--batch-size", "16", "--steps", "2"]
QUIET = ["--run.eval-metrics", "none", "--run.threads", "1", "--device", "cpu", "--quiet"]


def train(out, *flags):
    threads = torch.get_num_threads()
    try:
        assert cli.main(["train", "--data", FIXTURE, *TINY, "--ema", "0.5", *flags, *QUIET, "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("export") / "run")


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("export") / "cond", "--model.conditional", "concat")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))


def export(run_dir, fmt, out, *flags):
    return cli.main(["export", "--run", str(run_dir), "--format", fmt, "--out", str(out), *flags])


# ---------------------------------------------------------------- earthmover.load


def test_load_samples_what_earthmover_sample_draws(run, tmp_path):
    gen = earthmover.load(run)
    assert (gen.latent_dim, gen.num_classes, gen.module.training) == (8, 0, False)
    images = gen.sample(8, seed=3)
    assert images.shape == (8, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    assert torch.equal(images, gen.sample(8, seed=3)) and not torch.equal(images, gen.sample(8, seed=4))
    npz = tmp_path / "s.npz"
    assert cli.main(["sample", "--run", str(run), "--n", "8", "--seed", "3", "--out", str(tmp_path / "s.png"),
                     "--npz", str(npz)]) == 0  # fmt: skip
    assert np.array_equal(np.load(npz)["samples"], images.numpy())


def test_load_a_checkpoint_and_the_raw_weights(run):
    checkpoint = sorted((run / "checkpoints").glob("step_*.pt"))[-1]
    assert torch.equal(earthmover.load(checkpoint).sample(4), earthmover.load(run).sample(4))
    raw = earthmover.load(run, ema=False)
    assert raw.label == "raw generator" and not torch.equal(raw.sample(4), earthmover.load(run).sample(4))


def test_load_refuses_an_unsafe_file_and_a_loose_one(run, tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    folder = tmp_path / "copy" / "checkpoints"
    folder.mkdir(parents=True)
    (tmp_path / "copy" / "config.toml").write_text((run / "config.toml").read_text())
    torch.save({"step": 1, "x": Evil()}, folder / "step_0000001.pt")
    with pytest.raises(EarthmoverError, match="refused"):
        earthmover.load(folder / "step_0000001.pt")
    with pytest.raises(EarthmoverError, match="not inside a run's checkpoints/ folder"):
        torch.save({"step": 1}, tmp_path / "loose.pt")
        earthmover.load(tmp_path / "loose.pt")
    with pytest.raises(EarthmoverError, match="does not exist"):
        earthmover.load(tmp_path / "nothing")


def test_conditional_load_follows_the_labels(conditional_run):
    gen = earthmover.load(conditional_run)
    assert gen.num_classes == 10
    labels = torch.arange(8) % 10
    assert not torch.equal(gen.sample(8, labels=labels), gen.sample(8, labels=(labels + 1) % 10))


# ---------------------------------------------------------------- exporters


@needs["onnx"]
@needs["onnxruntime"]
def test_onnx_equals_the_module_on_any_batch_size(run, tmp_path, capsys):
    import onnxruntime

    assert export(run, "onnx", tmp_path / "g.onnx") == 0
    assert "inputs: z: float32 (N, 8)" in capsys.readouterr().out
    gen = earthmover.load(run)
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    for n in (1, 5):  # a batch size other than the example's: the axis is dynamic
        z = torch.randn(n, 8, generator=torch.Generator().manual_seed(n))
        (out,) = session.run(None, {"z": z.numpy()})
        with torch.no_grad():
            assert np.abs(out - gen.module(z).numpy()).max() < 1e-4


@needs["onnx"]
@needs["onnxruntime"]
def test_a_conditional_run_exports_z_and_labels(conditional_run, tmp_path, capsys):
    import onnxruntime

    assert export(conditional_run, "onnx", tmp_path / "c.onnx") == 0
    assert "labels: int64 (N,) in [0, 10)" in capsys.readouterr().out
    gen = earthmover.load(conditional_run)
    session = onnxruntime.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "labels"]
    z, labels = torch.randn(3, 8), torch.tensor([0, 4, 9])
    (out,) = session.run(None, {"z": z.numpy(), "labels": labels.numpy()})
    with torch.no_grad():
        assert np.abs(out - gen.module(z, labels).numpy()).max() < 1e-4


def test_torchscript_equals_the_module(run, tmp_path):
    assert export(run, "torchscript", tmp_path / "g.pt", "--no-ema") == 0
    scripted = torch.jit.load(str(tmp_path / "g.pt"))
    gen = earthmover.load(run, ema=False)
    z = torch.randn(6, 8)
    with torch.no_grad():
        assert (scripted(z) - gen.module(z)).abs().max() < 1e-5


@needs["safetensors"]
def test_safetensors_loads_back_bit_exactly_and_samples_as_the_run(run, conditional_run, tmp_path):
    for run_dir in (run, conditional_run):
        path = tmp_path / f"{run_dir.name}.safetensors"
        assert export(run_dir, "safetensors", path) == 0
        weights, header = EXPORTERS["safetensors"].write.__globals__["read_safetensors"](str(path))
        original = earthmover.load(run_dir)
        assert header["latent_dim"] == 8 and header["architecture"] == "dcgan"
        assert all(torch.equal(weights[k], v) for k, v in original.module.state_dict().items())
        rebuilt = earthmover.load(path)
        assert rebuilt.num_classes == original.num_classes
        assert torch.equal(rebuilt.sample(8, seed=1), original.sample(8, seed=1))


def test_refusals_are_one_line_and_write_nothing(run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "g.onnx"
    assert export(run, "onyx", out) == 2
    assert "did you mean 'onnx'" in capsys.readouterr().err
    assert export(tmp_path, "torchscript", out) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert export(run, "torchscript", tmp_path / "missing" / "g.pt") == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)  # the extra absent
    assert export(run, "onnx", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and '[export]; pip install -e ".[export]"' in err
    assert not list(tmp_path.iterdir())


@needs["safetensors"]
def test_a_run_stopped_mid_growth_is_refused_for_tracing_and_kept_in_safetensors(tmp_path, capsys):
    flags = ["--data.image-size", "16", "--arch", "progressive", "--model.grow", "true", "--model.grow-fade", "32",
             "--model.grow-stabilize", "16", "--n-critic", "1"]  # fmt: skip
    run_dir = train(tmp_path / "grow", *flags)
    assert export(run_dir, "torchscript", tmp_path / "g.pt") == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "stopped while growing (8x8, fade-in 0.50, of 16x16)" in err
        and "--format safetensors" in err
    )
    assert not (tmp_path / "g.pt").exists()
    assert export(run_dir, "safetensors", tmp_path / "g.safetensors") == 0
    original = earthmover.load(run_dir)
    assert torch.equal(earthmover.load(tmp_path / "g.safetensors").sample(4, seed=2), original.sample(4, seed=2))
