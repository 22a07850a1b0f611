"""The run's monitor: what a run measures, evaluates and draws of its generator, so the loop never asks
what kind of data it has.

``measures`` (the toy mixtures' mode coverage and EMD to the data; nothing for images), ``evaluate``
(image metrics such as FID on the digit features; nothing for toys; ``evaluation_plan`` says what
``run.eval_metrics`` means for this data), ``snapshot`` (a scatter with the critic's contours, or an
image grid), ``final_snapshot`` (the end-of-run picture, ``samples/final.png``) and ``animate`` (the
GIF of the snapshots on disk). Each takes ``sample(n, seed)``, the generator's samples, reads the data
stream's ``reference`` (never its position) and touches no training state.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from earthmover import plotting
from earthmover.data.toy import GaussianMixture
from earthmover.errors import EarthmoverError
from earthmover.metrics import Evaluator
from earthmover.metrics.defaults import plan_evaluation, say
from earthmover.metrics.mixtures import mixture_measures
from earthmover.nets.critic_output import as_critic_output
from earthmover.ot import emd_samples
from earthmover.train.ema import describe_generator


def derived_seed(seed: int, stream: int) -> int:
    """The seed of one of a run's random streams (1 data, 2 latents, 3 penalties, 7 measures, 9 snapshots,
    10 evaluation), derived from ``run.seed``."""
    return seed * 1009 + stream


@contextlib.contextmanager
def eval_mode(*modules):
    """Side computations (plots, measures) must not update batch-norm statistics, spectral-norm
    vectors or draw dropout masks: run them in eval mode, then restore each module's mode."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


class ToyMonitor:
    """The measures and pictures of a run on a toy distribution (a :class:`~earthmover.data.streams.ToyStream`)."""

    def __init__(self, stream):
        self.stream = stream

    def measures(
        self, sample: Callable, n: int, seed: int, with_emd: bool = True, progress: bool = False, announce=None
    ) -> dict:
        """Mode coverage, high-quality share and reverse KL (Gaussian mixtures) of n generator
        samples, and their exact EMD to n data samples (``with_emd``). ``progress``: only the
        cheap values logged during training. ``announce(line)`` is told first of the slow part (the EMD:
        an assignment problem of n x n, seconds to a minute on a CPU)."""
        if announce is not None and with_emd and not progress:
            announce(f"measuring: exact EMD between {n} generated and {n} data samples...")
        fake = sample(n, seed)
        values: dict = {}
        if isinstance(self.stream.distribution, GaussianMixture):
            values.update(mixture_measures(fake, self.stream.distribution).to_dict())
        if progress:
            return {k: v for k, v in values.items() if k in ("modes_covered", "high_quality", "reverse_kl")}
        if with_emd:
            values["emd"] = float(emd_samples(fake, self.stream.reference(n, seed=seed + 1)))
        return values

    def evaluation_plan(self, metrics: str):
        """Image metrics do not apply to toy data: None."""
        return None

    def evaluate(self, sample: Callable, metrics: str, n: int, seed: int, device=None, announce=None) -> dict:
        """Image metrics do not apply to toy data."""
        return {}

    def snapshot(
        self, sample: Callable, path: Path, seed: int, critic_score: Callable | None = None, title: str = ""
    ) -> Path:
        """1,000 samples over 1,000 data points, on the critic's contours (``critic_score(x) -> (N,)``)."""
        plotting.toy_snapshot(
            self.stream.reference(1000), sample(1000, seed), path, critic_fn=critic_score, title=title
        )
        return path

    def final_snapshot(
        self,
        sample: Callable,
        path: Path,
        seed: int,
        critic_score: Callable | None = None,
        title: str = "",
        last: Path | None = None,
    ) -> Path:
        """The end-of-run scatter: the snapshot just drawn at the last step (`last`, copied: a toy
        scatter already shows the whole distribution), else a new one."""
        if last is not None and Path(last).is_file():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(last, path)
            return path
        return self.snapshot(sample, path, seed, critic_score, title)

    def animate(self, folder: Path) -> Path | None:
        """``folder/training.gif``: one frame per snapshot on disk (their titles carry the step)."""
        return plotting.snapshot_gif(folder, label_steps=False)


class ImageMonitor:
    """The metrics and pictures of a run on images (an :class:`~earthmover.data.streams.ImageStream`);
    the evaluation plan and the evaluator (with its reference features) are made once per run."""

    def __init__(self, stream):
        self.stream = stream
        self._plan = None
        self._evaluator = None

    def measures(
        self, sample: Callable, n: int, seed: int, with_emd: bool = True, progress: bool = False, announce=None
    ) -> dict:
        """The toy measures do not apply to images (see :meth:`evaluate`)."""
        return {}

    def evaluation_plan(self, metrics: str):
        """What ``run.eval_metrics`` = `metrics` means for this data (:mod:`earthmover.metrics.defaults`):
        an ``EvalPlan``, or None for nothing. Decided once per run; when ``auto`` has to skip the
        FID (no Inception weights), the reason is said here, once, on stderr."""
        key = (metrics or "").strip().lower()
        if self._plan is None or self._plan[0] != key:
            plan, skipped = plan_evaluation(
                metrics, getattr(self.stream, "source", self.stream.name), self.stream.sample_shape
            )
            if skipped:
                say(skipped)
            self._plan, self._evaluator = (key, plan), None
        return self._plan[1]

    def evaluate(self, sample: Callable, metrics: str, n: int, seed: int, device=None, announce=None) -> dict:
        """The metrics of ``run.eval_metrics`` (`metrics`: auto, none, or a list such as "fid,kid"; see
        :mod:`earthmover.metrics.defaults`) on n generator samples, against the data's test split
        (the named datasets) or the training images themselves (other sources); keys
        ``metrics/<name>``. Empty when nothing is asked for or ``auto`` skipped it. With ``announce(line)``
        (the end of a run), says what it scores and draws progress bars over the features."""
        plan = self.evaluation_plan(metrics)
        if plan is None:
            return {}
        if self._evaluator is None:
            reference = plan.reference or self.stream.images  # the named test splits hold 10,000 images at most
            n_reference = None if plan.reference or plan.n_reference is None else min(plan.n_reference, len(reference))
            c, side = self.stream.sample_shape[0], self.stream.sample_shape[-1]
            try:
                self._evaluator = Evaluator(
                    list(plan.metrics),
                    features=plan.features,
                    reference=reference,
                    n=n,
                    n_reference=n_reference,
                    device=device,
                    reference_image_size=side,
                    reference_channels=c,
                )
            except EarthmoverError as exc:
                if self._plan[0] != "auto":
                    raise  # asked for by name: the run's error
                say(f"earthmover: in-loop FID skipped: {exc}")  # chosen by auto: say it once and train on
                self._plan = (self._plan[0], None)
                return {}
        if announce is not None:
            announce(f"evaluating: {','.join(plan.metrics)} on {n} generated samples ({plan.features} features)...")
        self._evaluator.progress = announce is not None
        batch = itertools.count()  # each batch from its own latents (one seed for all drew one batch again and again)
        scores = self._evaluator(lambda m: sample(m, seed * 1_000_003 + next(batch)))
        return {f"metrics/{k}": v for k, v in scores.items()}

    def snapshot(
        self, sample: Callable, path: Path, seed: int, critic_score: Callable | None = None, title: str = ""
    ) -> Path:
        """A grid of 64 samples (from the same latents at every call)."""
        plotting.save_image_grid(sample(64, seed), path, nrow=8)
        return path

    def final_snapshot(
        self,
        sample: Callable,
        path: Path,
        seed: int,
        critic_score: Callable | None = None,
        title: str = "",
        last: Path | None = None,
    ) -> Path:
        """A larger grid, 100 samples (10 x 10), under a band with `title` (which generator, which step)."""
        plotting.save_image_grid(sample(100, seed), path, nrow=10, caption=title)
        return path

    def animate(self, folder: Path) -> Path | None:
        """``folder/training.gif``: one frame per snapshot on disk, each headed with its step."""
        return plotting.snapshot_gif(folder, label_steps=True)


def make_monitor(stream) -> ToyMonitor | ImageMonitor:
    """The monitor for a run's data stream (a toy stream, or one of images)."""
    return ToyMonitor(stream) if stream.kind == "toy" else ImageMonitor(stream)


def draw_snapshot(trainer, final: bool = False, last: Path | None = None) -> Path | None:
    """A trainer's samples/step_N.png, drawn from the same latents each time; with `final`, samples/final.png,
    the larger end-of-run picture (`last`: the snapshot just drawn at this step)."""
    if not (trainer.write_files and trainer.run_dir):
        return None
    critic = trainer.critic

    def critic_score(x):
        with eval_mode(critic):
            return as_critic_output(critic(x.to(trainer.device))).score

    seed, which = derived_seed(trainer.config.run.seed, 9), describe_generator(trainer.config.model.ema)
    # a critic that looks at the whole minibatch has no score for one point alone: no contours then
    scores = None if trainer.critic_couples else critic_score
    if final:
        return trainer.monitor.final_snapshot(
            trainer._sample_fn,
            trainer.run_dir / "samples" / "final.png",
            seed=seed,
            critic_score=scores,
            title=f"{which}, step {trainer.step}",
            last=last,
        )
    path = trainer.run_dir / "samples" / f"step_{trainer.step:07d}.png"
    return trainer.monitor.snapshot(
        trainer._sample_fn,
        path,
        seed=seed,
        critic_score=scores,
        title=f"{trainer.config.preset} on {trainer.config.data.name}, step {trainer.step}, {which}",
    )
