"""Progressive growing (Karras et al. 2018) applied to a run: the schedule of resolutions and fades
that the loop consults around each step.

A run with ``model.grow`` trains the ``progressive`` architecture from ``model.grow_start`` (4x4)
up to the data's side: ``model.grow_fade`` real images with the new block's alpha rising linearly
from 0 to 1, then ``model.grow_stabilize`` images at that resolution, for every doubling; the last
resolution lasts for the rest of the run. The batch size and the learning rate may be set per
resolution (``model.grow_batch_sizes = "4:64,8:64,16:32"``, ``model.grow_lrs``).

Before each step :meth:`Growth.before_step` puts every network (generator, its EMA copy, critic)
at the current resolution and alpha and sets the batch size; the critic sees the real images
downscaled to that resolution and blended during a fade (:func:`earthmover.nets.progressive.progressive_reals`);
after the step the images shown are counted. The state is that count, which the checkpoint keeps,
so a resume in the middle of a fade continues bit for bit. A run without ``model.grow`` gets
:class:`NoGrowth`, whose methods do nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from earthmover.errors import EarthmoverError
from earthmover.nets.progressive import ProgressiveSchedule, progressive_reals, set_stage
from earthmover.train.hooks import Hook

Number = TypeVar("Number", int, float)


def parse_table(text: str, field: str, kind: Callable[[str], Number]) -> dict[int, Number]:
    """``"4:64,8:32"`` -> {4: 64, 8: 32} (resolution: value of type ``kind``)."""
    table: dict[int, Number] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            key, value = item.split(":")
            table[int(key)] = kind(value)
        except ValueError:
            raise EarthmoverError(
                f'{field} = {text!r} is invalid; expected resolution:value pairs such as "4:64,8:32"'
            ) from None
    return table


def schedule_of(config, side: int) -> ProgressiveSchedule:
    """The schedule a config asks for on images of side ``side`` (checked: one-line errors)."""
    m = config.model
    try:
        return ProgressiveSchedule(
            side,
            m.grow_start,
            m.grow_fade,
            m.grow_stabilize,
            config.data.batch_size,
            parse_table(m.grow_batch_sizes, "model.grow_batch_sizes", int),
            None,
            parse_table(m.grow_lrs, "model.grow_lrs", float),
        )
    except EarthmoverError as exc:  # the schedule's own words, in the names of the config's fields
        names = {
            "progressive.batch_sizes": "model.grow_batch_sizes",
            "progressive.lrs": "model.grow_lrs",
            "progressive.start_resolution": "model.grow_start",
        }
        message = str(exc)
        for old, new in names.items():
            message = message.replace(old, new)
        raise EarthmoverError(message) from None


class NoGrowth:
    """A run at full resolution from the start."""

    def before_step(self, trainer) -> None:
        pass

    def reals(self, images):
        return images

    def after_step(self, images: int) -> None:
        pass

    def lr_ratio(self, base: float) -> float:
        return 1.0

    def describe(self) -> dict:
        return {}

    def changed(self) -> bool:
        return False

    def hooks(self, snapshot) -> list:
        """Side work the schedule adds to a run (none without growth)."""
        return []

    def state_dict(self) -> dict | None:
        return None

    def load_state_dict(self, state) -> None:
        pass


class Growth(NoGrowth):
    """The schedule and what it sets on a run's networks and batches."""

    def __init__(self, schedule: ProgressiveSchedule, world_size: int = 1):
        self.schedule = schedule
        for r in schedule.resolutions:
            size = int(schedule.batch_sizes.get(r, schedule.batch_size))
            if size % world_size:
                raise EarthmoverError(
                    f"model.grow_batch_sizes gives {r}x{r} a batch of {size}, which does not split over "
                    f"{world_size} processes; use multiples of {world_size}"
                )
        self._last: tuple[int, str] | None = None

    @property
    def stage(self):
        return self.schedule.stage

    def before_step(self, trainer) -> None:
        stage = self.stage
        set_stage(stage.resolution, stage.alpha, *trainer.networks())
        trainer.batch_size = trainer.stream.batch_size = stage.batch_size

    def reals(self, images):
        stage = self.stage
        return progressive_reals(images, stage.resolution, stage.alpha)

    def after_step(self, images: int) -> None:
        self._last = (self.stage.resolution, self.stage.phase)
        self.schedule.advance(images)

    def changed(self) -> bool:
        """True right after the step that ended a stage (its snapshot is kept)."""
        return self._last is not None and self._last != (self.stage.resolution, self.stage.phase)

    def hooks(self, snapshot) -> list:
        """The last grid of every stage is kept: a snapshot after the step that ends a stage."""
        return [Hook("stage snapshot", 1, lambda values: snapshot(values) if self.changed() else None)]

    def lr_ratio(self, base: float) -> float:
        """The factor that turns an optimizer's own learning rate into this resolution's."""
        lr = self.stage.lr
        return 1.0 if lr is None else lr / base

    def describe(self) -> dict:
        stage = self.stage
        return {"resolution": stage.resolution, "alpha": round(stage.alpha, 4), "phase": stage.phase}

    def state_dict(self) -> dict:
        return self.schedule.state_dict()

    def load_state_dict(self, state) -> None:
        if state is None:
            raise EarthmoverError(
                "the checkpoint has no progressive-growing state; resume with the run's own config.toml"
            )
        self.schedule.load_state_dict(state)


def build_growth(config, sample_shape, world_size: int = 1) -> NoGrowth:
    """The run's schedule: :class:`Growth` with model.grow (config validation has checked that the
    networks are the growable ones), else :class:`NoGrowth`."""
    if not config.model.grow:
        return NoGrowth()
    if len(sample_shape) != 3:
        raise EarthmoverError(
            "model.grow trains images; the data has flat samples (use image data such as --data mnist)"
        )
    return Growth(schedule_of(config, sample_shape[-1]), world_size)
