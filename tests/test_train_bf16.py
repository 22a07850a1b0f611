"""bf16 autocast on a CPU with native bfloat16 (issue 25): refused where it cannot pay, close to
float32 on one step, finite over a long gradient-penalty run, and exactly resumable."""

from pathlib import Path

import pytest
import torch

from earthmover.errors import EarthmoverError
from earthmover.train import device as device_module
from earthmover.train.device import cpu_has_native_bf16, resolve_amp
from earthmover.train.loop import Trainer
from helpers import tiny_config
from test_train_resume import assert_same_state, metrics, no_pictures, run_stopped_and_resumed  # noqa: F401

MNIST_FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")
needs_bf16 = pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no AVX512-BF16 or AMX")

# bfloat16 keeps 8 significant bits: one rounding is off by at most 2^-9 ~ 0.2%, and a few layers
# of products and sums of such values land within ~1% of float32. 2e-2 on losses and 5e-2 on the
# whole gradient (relative L2) leave room for that, and fail on a wrong dtype path (float16 on the
# penalty, an unscaled gradient) or a lost term by far more.
LOSS_RTOL, GRAD_RTOL = 2e-2, 5e-2


def image_config(**values):
    return tiny_config(
        "wgan-gp",
        **{
            "data.name": "mnist",
            "model.arch": "dcgan",
            "model.width": 8,
            "model.latent_dim": 16,
            "run.eval_metrics": "none",
            **values,
        },
    )


def test_fp16_on_cpu_is_refused_in_one_line():
    with pytest.raises(EarthmoverError, match=r"run.amp = 'fp16' is not supported on cpu \(fp16 needs CUDA\)"):
        resolve_amp("fp16", torch.device("cpu"))


def test_bf16_on_a_cpu_without_native_bf16_is_refused(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(EarthmoverError, match="no native bfloat16.*use --run.amp none"):
        resolve_amp("bf16", torch.device("cpu"))
    assert resolve_amp("none", torch.device("cpu")) is None


def test_float32_run_has_no_autocast():
    trainer = Trainer(tiny_config("wgan-gp"), None, quiet=True)
    assert trainer.autocast_dtype is None and not trainer.scaler_d.is_enabled()


@needs_bf16
def test_bf16_step_is_close_to_float32_on_the_same_batch(monkeypatch):
    monkeypatch.setenv("EARTHMOVER_MNIST", MNIST_FIXTURE)
    values, grads = {}, {}
    for amp in ("none", "bf16"):
        trainer = Trainer(image_config(**{"run.amp": amp}), None, quiet=True)
        assert trainer.autocast_dtype == (torch.bfloat16 if amp == "bf16" else None)
        values[amp] = {k: float(v) for k, v in trainer.critic_step().items()}
        grads[amp] = torch.cat([p.grad.flatten() for p in trainer.critic.parameters()])
        assert grads[amp].dtype == torch.float32  # parameters, gradients and optimizer state stay float32
        assert all(s.dtype == torch.float32 for st in trainer.opt_d.state.values() for s in st.values() if s.dim())
    assert values["bf16"]["loss/gradient_penalty"] > 0
    for key, ref in values["none"].items():
        assert values["bf16"][key] == pytest.approx(ref, rel=LOSS_RTOL, abs=1e-3), key
    error = (grads["bf16"] - grads["none"]).norm() / grads["none"].norm()
    assert error < GRAD_RTOL
    assert error > 0  # it did run in bfloat16


@needs_bf16
def test_gradient_penalty_stays_finite_over_500_steps_in_bf16():
    config = tiny_config("wgan-gp", **{"run.steps": 500, "run.amp": "bf16", "run.log_every": 100})
    trainer = Trainer(config, None, quiet=True, write_files=False)
    for _ in range(500):
        values = trainer.train_step()  # the guard raises NonFiniteError on a non-finite term
    assert all(torch.isfinite(v).all() for v in values.values())
    assert float(values["loss/gradient_penalty"]) >= 0 and trainer.step == 500


@needs_bf16
def test_bf16_resume_is_bit_identical(tmp_path, monkeypatch, no_pictures):  # noqa: F811
    monkeypatch.setenv("EARTHMOVER_MNIST", MNIST_FIXTURE)

    def factory():
        return image_config(**{"run.amp": "bf16", "run.steps": 8, "run.checkpoint_every": 100})

    full = Trainer(factory(), tmp_path / "full", quiet=True)
    full.fit()
    resumed = run_stopped_and_resumed(factory, tmp_path / "resumed", k=4)
    assert_same_state(full.state_dict(), resumed.state_dict())
    assert metrics(tmp_path / "full") == metrics(tmp_path / "resumed")


def test_cli_refuses_fp16_on_cpu_in_one_line_and_writes_nothing(tmp_path, capsys):
    from earthmover import cli

    try:
        code = cli.main(["train", "--run.amp", "fp16", "--device", "cpu", "--steps", "1", "--out", str(tmp_path / "r")])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "run.amp = 'fp16'" in err[0] and "--run.amp none" in err[0]
    assert not (tmp_path / "r").exists()
