"""Batches for the training loop, with a position that a checkpoint can save.

A stream yields the *global* batch (all processes draw the same one from the
same generator; each process then keeps its own shard), so that a run on N
processes sees exactly the data of a run on one.

A stream also brings what the training loop shows about its data, so the loop never asks
what kind of data it has: ``measures`` (the toy mixtures' mode coverage and EMD to the data;
nothing for images), ``evaluate`` (image metrics such as FID on the digit features; nothing
for toys; ``evaluation_plan`` says what ``run.eval_metrics`` means for this data), ``snapshot``
(a scatter with the critic's contours, or an image grid), ``final_snapshot`` (the end-of-run
picture, ``samples/final.png``) and ``animate`` (the GIF of the snapshots on disk). Each takes
``sample(n, seed)``, the generator's samples, and touches no training state.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from earthmover.data.toy import TOY_DISTRIBUTIONS, make_toy
from earthmover.errors import EarthmoverError


class ToyStream:
    """Fresh samples of a toy distribution every batch (an infinite dataset)."""

    kind = "toy"

    def __init__(self, name: str, batch_size: int, seed: int):
        self.distribution = make_toy(name)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.sample_shape = (2,)

    def next_batch(self) -> torch.Tensor:
        return self.distribution.sample(self.batch_size, self.generator)

    def reference(self, n: int, seed: int = 12345) -> torch.Tensor:
        """n samples of the data from a fixed seed, for measures and plots (touches no training RNG)."""
        return self.distribution.sample(n, torch.Generator().manual_seed(seed))

    def measures(self, sample: Callable, n: int, seed: int, with_emd: bool = True, progress: bool = False) -> dict:
        """Mode coverage, high-quality share and reverse KL (Gaussian mixtures) of n generator
        samples, and their exact EMD to n data samples (``with_emd``). ``progress``: only the
        cheap values logged during training."""
        from earthmover.data.toy import GaussianMixture
        from earthmover.metrics.mixtures import mixture_measures

        fake = sample(n, seed)
        values: dict = {}
        if isinstance(self.distribution, GaussianMixture):
            values.update(mixture_measures(fake, self.distribution).to_dict())
        if progress:
            return {k: v for k, v in values.items() if k in ("modes_covered", "high_quality", "reverse_kl")}
        if with_emd:
            from earthmover.ot import emd_samples

            values["emd"] = float(emd_samples(fake, self.reference(n, seed=seed + 1)))
        return values

    def evaluation_plan(self, metrics: str):
        """Image metrics do not apply to toy data: None."""
        return None

    def evaluate(self, sample: Callable, metrics: str, n: int, seed: int, device=None) -> dict:
        """Image metrics do not apply to toy data."""
        return {}

    def snapshot(
        self, sample: Callable, path: Path, seed: int, critic_score: Callable | None = None, title: str = ""
    ) -> Path:
        """1,000 samples over 1,000 data points, on the critic's contours (``critic_score(x) -> (N,)``)."""
        from earthmover import plotting

        plotting.toy_snapshot(self.reference(1000), sample(1000, seed), path, critic_fn=critic_score, title=title)
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
        from earthmover import plotting

        return plotting.snapshot_gif(folder, label_steps=False)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class ImageStream:
    """Shuffled passes over an image set held in memory; the last partial batch of each pass is
    dropped. The position (pass, permutation, index) is part of the checkpoint.

    The images stay uint8 ``(N, C, H, W)``, one tensor, on ``device`` when one is given (a quarter
    of float32's memory, and no host-to-device copy per step); a batch is gathered by index and
    mapped to float32 ``[-1, 1]`` (``x / 127.5 - 1``, as ``ImageSet.to_float``). ``images`` is the
    host copy, for measures; float images are accepted and served as they are."""

    kind = "images"

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        seed: int,
        labels: torch.Tensor | None = None,
        name: str = "",
        device: torch.device | str | None = None,
    ):
        if len(images) == 0:
            raise EarthmoverError(f"the dataset {name!r} is empty; point data.name at a source with images")
        if batch_size > len(images):
            raise EarthmoverError(
                f"data.batch_size = {batch_size} is larger than the dataset {name!r} ({len(images)} images); "
                f"use a batch size <= {len(images)}"
            )
        self.images, self.labels, self.name = images, labels, name
        self.storage = images if device is None else images.to(device)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.sample_shape = tuple(images.shape[1:])
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(len(images), generator=self.generator)

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
        batch = self.storage.index_select(0, idx.to(self.storage.device, non_blocking=True))
        return batch.to(torch.float32).div_(127.5).sub_(1.0) if batch.dtype == torch.uint8 else batch

    def _next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.images):
            self.epoch += 1
            self.position = 0
            self.order = torch.randperm(len(self.images), generator=self.generator)
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return idx

    def next_batch(self) -> torch.Tensor:
        return self._gather(self._next_indices())

    @property
    def num_classes(self) -> int:
        """Classes of a labelled source (labels 0 .. n - 1), 0 without labels."""
        return 0 if self.labels is None or not len(self.labels) else int(self.labels.max()) + 1

    def next_labelled_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch and its class labels (the same position and order as :meth:`next_batch`)."""
        idx = self._next_indices()
        return self._gather(idx), self.labels.index_select(0, idx).long()

    def reference(self, n: int, seed: int = 12345) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return self._gather(torch.randperm(len(self.images), generator=g)[:n]).cpu()

    def measures(self, sample: Callable, n: int, seed: int, with_emd: bool = True, progress: bool = False) -> dict:
        """The toy measures do not apply to images (see :meth:`evaluate`)."""
        return {}

    def evaluation_plan(self, metrics: str):
        """What ``run.eval_metrics`` = `metrics` means for this data (:mod:`earthmover.metrics.defaults`):
        an ``EvalPlan``, or None for nothing. Decided once per stream; when ``auto`` has to skip the
        FID (no Inception weights), the reason is said here, once, on stderr."""
        key = (metrics or "").strip().lower()
        if getattr(self, "_plan", None) is None or self._plan[0] != key:
            from earthmover.metrics.defaults import plan_evaluation, say

            plan, skipped = plan_evaluation(metrics, getattr(self, "source", self.name), self.sample_shape)
            if skipped:
                say(skipped)
            self._plan, self._evaluator = (key, plan), None
        return self._plan[1]

    def evaluate(self, sample: Callable, metrics: str, n: int, seed: int, device=None) -> dict:
        """The metrics of ``run.eval_metrics`` (`metrics`: auto, none, or a list such as "fid,kid"; see
        :mod:`earthmover.metrics.defaults`) on n generator samples, against the data's test split
        (the named datasets) or the training images themselves (other sources); keys
        ``metrics/<name>``. Empty when nothing is asked for or ``auto`` skipped it."""
        plan = self.evaluation_plan(metrics)
        if plan is None:
            return {}
        if self._evaluator is None:
            from earthmover.metrics import Evaluator

            reference = plan.reference or self.images  # the named test splits hold 10,000 images at most
            n_reference = None if plan.reference or plan.n_reference is None else min(plan.n_reference, len(reference))
            c, side = self.sample_shape[0], self.sample_shape[-1]
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
                from earthmover.metrics.defaults import say

                say(f"earthmover: in-loop FID skipped: {exc}")  # chosen by auto: say it once and train on
                self._plan = (self._plan[0], None)
                return {}
        return {f"metrics/{k}": v for k, v in self._evaluator(lambda m: sample(m, seed)).items()}

    def snapshot(
        self, sample: Callable, path: Path, seed: int, critic_score: Callable | None = None, title: str = ""
    ) -> Path:
        """A grid of 64 samples (from the same latents at every call)."""
        from earthmover import plotting

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
        from earthmover import plotting

        plotting.save_image_grid(sample(100, seed), path, nrow=10, caption=title)
        return path

    def animate(self, folder: Path) -> Path | None:
        """``folder/training.gif``: one frame per snapshot on disk, each headed with its step."""
        from earthmover import plotting

        return plotting.snapshot_gif(folder, label_steps=True)

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "position": self.position,
            "order": self.order,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.epoch, self.position, self.order = int(state["epoch"]), int(state["position"]), state["order"]


def make_stream(data_config, seed: int, device: torch.device | str | None = None):
    """The stream for ``config.data``: a toy distribution by name, else an image source (its
    uint8 images kept on ``device`` when given); an image folder larger than the memory budget
    is streamed by DataLoader workers instead (``earthmover.data.folder_stream``)."""
    if data_config.name in TOY_DISTRIBUTIONS:
        return ToyStream(data_config.name, data_config.batch_size, seed)
    from earthmover.data.images import folder_of, load_images

    folder = folder_of(data_config.name)
    if folder is not None:
        from earthmover.data.folder_stream import FolderStream, estimated_bytes, memory_budget
        from earthmover.data.sources.folder import list_folder

        files = list_folder(folder)[0][: data_config.limit or None]
        if estimated_bytes(files, data_config.image_size or None, data_config.channels or None) > memory_budget():
            return FolderStream(
                folder,
                data_config.batch_size,
                seed,
                image_size=data_config.image_size or None,
                channels=data_config.channels or None,
                limit=data_config.limit or None,
                skip_bad=bool(getattr(data_config, "skip_bad", False)),
                device=device,
            )
    image_set = load_images(
        data_config.name,
        image_size=data_config.image_size or None,
        channels=data_config.channels or None,
        limit=data_config.limit or None,
        skip_bad=bool(getattr(data_config, "skip_bad", False)),
    )
    stream = ImageStream(
        image_set.images, data_config.batch_size, seed, image_set.labels, image_set.name, device=device
    )
    stream.source = data_config.name  # what the user named (mnist: its test split is the metrics' reference)
    return stream
