"""earthmover: train GANs that work, and understand why they work.

The pieces, each in a module named for its idea:

* :mod:`earthmover.losses.objectives` - minimax, non-saturating, least squares, Wasserstein, hinge,
  energy-based and loss-sensitive losses, as pure functions of critic scores;
* :mod:`earthmover.losses.penalties` - gradient penalty (two- and one-sided), R1, R2, DRAGAN, consistency term;
* :mod:`earthmover.losses.constraints` - weight clipping and spectral normalization;
* :mod:`earthmover.losses.heads` - critic heads (what a critic says beyond its score: AC-GAN's class logits,
  InfoGAN's Q, EBGAN's reconstruction);
* :mod:`earthmover.train.presets` - each paper's defaults by name;
* :mod:`earthmover.train.config` and :class:`earthmover.Trainer` - one training loop for all of them;
* :mod:`earthmover.data` - toy distributions and image sources;
* :mod:`earthmover.ot` - the earth mover's distance exactly, its dual, KL/JS/TV;
* :mod:`earthmover.metrics` - FID, KID, Inception Score, precision/recall, mixture measures.

Mix the pure functions into a loop of your own::

    from earthmover import objectives, penalties
    loss_d = objectives.wasserstein_critic_loss(critic(real), critic(fake.detach()))
    loss_d = loss_d + penalties.gradient_penalty(critic, real, fake, weight=10.0)

or run the whole loop, and take the trained generator out of its run::

    from earthmover import Config, Trainer
    summary = Trainer(Config.from_preset("quickstart"), run_dir="runs/quickstart").fit()
    images = earthmover.load("runs/mnist").sample(16, seed=0)  # the images `earthmover sample` draws
"""

__version__ = "0.1.0"

from earthmover.errors import EarthmoverError  # noqa: E402
from earthmover.losses import constraints, heads, objectives, penalties  # noqa: E402
from earthmover.nets.critic_output import CriticOutput  # noqa: E402
from earthmover.train import presets  # noqa: E402
from earthmover.train.config import Config  # noqa: E402
from earthmover.train.loop import Trainer  # noqa: E402
from earthmover.trained import TrainedGenerator, load  # noqa: E402

__all__ = [
    "Config",
    "CriticOutput",
    "EarthmoverError",
    "TrainedGenerator",
    "Trainer",
    "constraints",
    "heads",
    "load",
    "objectives",
    "penalties",
    "presets",
    "__version__",
]
