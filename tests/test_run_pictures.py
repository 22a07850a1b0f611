"""What a run shows (issue 9): sample grids from fixed latents every N steps, the final grid, and an
animated GIF of the grids over training, one frame per snapshot, kept when a run is interrupted and
covering every snapshot on disk when it is resumed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from earthmover import plotting
from earthmover.train import state as ckpt
from earthmover.train.loop import Trainer
from helpers import tiny_config
from test_train_resume import stop_after

FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")


def image_config(**values):
    """dcgan at width 4 on the 28x28 MNIST fixture: a few steps take a fraction of a second."""
    return tiny_config(
        "wgan-gp",
        **{
            "data.name": FIXTURE,
            "model.arch": "dcgan",
            "model.width": 4,
            "model.latent_dim": 8,
            "model.ema": 0.5,
            "run.eval_metrics": "none",
            "run.sample_every": 1,
            "run.steps": 4,
            **values,
        },
    )


def frames(path: Path) -> int:
    with Image.open(path) as gif:
        return gif.n_frames


@pytest.fixture
def no_curves(monkeypatch):
    """The loss curves are drawn by matplotlib at the end of each session (half a second): not here."""
    monkeypatch.setattr(plotting, "training_curves", lambda *a, **k: None)


def test_gif_has_one_frame_per_snapshot_kept_on_interrupt_and_covering_a_resumed_run(tmp_path, no_curves):
    run = tmp_path / "run"
    trainer = Trainer(image_config(), run, quiet=True)
    stop_after(trainer, 2)
    assert trainer.fit().interrupted
    samples = run / "samples"
    assert sorted(p.name for p in samples.iterdir()) == [
        "final.png",
        "step_0000001.png",
        "step_0000002.png",
        "training.gif",
    ]
    assert frames(samples / "training.gif") == 2  # written by an interrupted run too

    resumed = Trainer(image_config(), run, quiet=True)
    resumed.load_state_dict(ckpt.latest_loadable_checkpoint(run)[1])
    resumed.fit()
    assert frames(samples / "training.gif") == 4  # steps 1-2 of the first session, 3-4 of this one
    with Image.open(samples / "final.png") as final, Image.open(samples / "step_0000004.png") as grid:
        assert final.width > grid.width  # the final grid is larger: 10 x 10 samples against 8 x 8
        assert final.height > final.width  # ... under a band that names the generator


def test_the_fixed_latent_grid_is_identical_across_two_calls(tmp_path):
    """Snapshots draw from their own seed, never the training latents: two calls, the same grid."""
    trainer = Trainer(image_config(), tmp_path / "run", quiet=True)
    trainer.train_step()
    path = trainer.snapshot()
    first = path.read_bytes()
    path.unlink()
    assert trainer.snapshot().read_bytes() == first
    trainer.train_step()
    trainer.step = 1  # the same file name, new weights: the grid changes (the test can see a change)
    assert trainer.snapshot().read_bytes() != first


def test_toy_runs_get_the_gif_and_the_final_scatter(tmp_path, no_curves):
    trainer = Trainer(tiny_config("wgan-gp", **{"run.sample_every": 2, "run.steps": 4}), tmp_path / "run", quiet=True)
    trainer.fit()
    samples = tmp_path / "run" / "samples"
    assert frames(samples / "training.gif") == 2
    assert (samples / "final.png").read_bytes() == (samples / "step_0000004.png").read_bytes()


def test_save_gif_takes_every_frame_in_order_and_bounds_a_huge_run(tmp_path):
    paths = []
    for i, side in enumerate([20, 20, 24]):  # a frame of another size takes the first one's
        paths.append(
            plotting.save_image_grid(torch.full((4, 1, side, side), i / 2 - 0.5), tmp_path / f"step_{i + 1:07d}.png")
        )
    (tmp_path / "final.png").write_bytes(paths[0].read_bytes())  # not a periodic snapshot: not a frame
    gif = plotting.snapshot_gif(tmp_path)
    assert gif == tmp_path / "training.gif" and frames(gif) == 3
    with Image.open(gif) as im:
        sizes = set()
        for k in range(im.n_frames):
            im.seek(k)
            sizes.add(im.size)
        assert len(sizes) == 1
    bounded = plotting.save_gif(
        paths * 4, tmp_path / "bounded.gif", labels=[f"step {k}" for k in range(12)], max_frames=5
    )
    assert frames(bounded) == 5
    assert plotting.snapshot_gif(tmp_path / "nothing") is None


@pytest.mark.parametrize("channels", [1, 3])
def test_a_caption_sits_above_the_grid_and_fits_small_images(tmp_path, channels):
    images = torch.zeros(4, channels, 8, 8)
    plain = plotting.save_image_grid(images, tmp_path / "plain.png", nrow=2)
    captioned = plotting.save_image_grid(
        images, tmp_path / "captioned.png", nrow=2, caption="EMA generator (decay 0.999), step 10"
    )
    with Image.open(plain) as a, Image.open(captioned) as b:
        assert b.height > a.height and b.width >= a.width * 2  # enlarged until the text fits


def test_importing_earthmover_leaves_the_matplotlib_backend_alone():
    # A Jupyter user's backend (inline) must survive `import earthmover`: plotting draws on Figure objects.
    code = (
        "import sys, matplotlib; matplotlib.rcParams['backend'] = 'svg'; import earthmover, earthmover.plotting; "
        "assert matplotlib.rcParams['backend'] == 'svg', matplotlib.rcParams['backend']; "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
