"""The side work of a run, beside its steps: the periodic hooks that :meth:`Trainer.fit
<earthmover.train.loop.Trainer.fit>` walks (log, evaluate, snapshot, checkpoint, growth) and the end of a
run (final measures, the last snapshot and the GIF, the curves, summary.json, the summary line)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from earthmover import plotting
from earthmover.metrics.defaults import say
from earthmover.train.ema import describe_generator
from earthmover.train.hooks import Hook
from earthmover.train.logging import read_metrics
from earthmover.train.run_files import MeasuresStopped


@dataclass
class RunSummary:
    step: int
    seconds: float
    run_dir: str
    values: dict = field(default_factory=dict)
    interrupted: bool = False

    def line(self) -> str:
        parts = []
        v = self.values
        if "modes_covered" in v:
            parts.append(f"modes covered {v['modes_covered']}/{v['num_modes']}")
            parts.append(f"high quality {100 * v['high_quality']:.1f}%")
        if "emd" in v:
            parts.append(f"EMD to data {v['emd']:.4f}")
        for k, val in v.items():
            if k.startswith("metrics/"):
                parts.append(f"{k.split('/', 1)[1]} {val:.3f}")
        head = f"step {self.step} in {self.seconds:.0f}s"
        return f"{head}: " + ", ".join(parts) + f"  [{self.run_dir}]" if parts else f"{head}  [{self.run_dir}]"


def side_work(trainer, logger) -> list[Hook]:
    """The periodic side work of a run, walked by :meth:`fit` after every step."""
    run = trainer.config.run
    tick = {"time": time.perf_counter(), "step": trainer.step}
    if trainer.ctx.is_main:
        trainer.monitor.evaluation_plan(run.eval_metrics)  # decide "auto" now: a skipped FID is said before the run

    def log(values: dict) -> None:
        record = trainer.ctx.means(values)  # one all-reduce and one read, on logging steps only
        now = time.perf_counter()
        record["steps_per_second"] = (trainer.step - tick["step"]) / max(now - tick["time"], 1e-9)
        tick.update(time=now, step=trainer.step)
        record["lr/critic"] = trainer.opt_d.param_groups[0]["lr"]
        record["lr/generator"] = trainer.opt_g.param_groups[0]["lr"]
        stage = trainer.growth.describe()
        record.update({f"growth/{k}": v for k, v in stage.items() if not isinstance(v, str)})
        if trainer.ctx.is_main and (trainer.step % run.sample_every == 0 or trainer.step == run.steps):
            record.update({f"metrics/{k}": v for k, v in trainer.measure(progress=True).items()})
        if logger is not None:
            logger.log(trainer.step, record)
            logger.postfix(
                {
                    trainer.objective.estimate_label: f"{record[trainer.objective.estimate_name]:.3f}",
                    **({"stage": f"{stage['resolution']}px {stage['phase']} {stage['alpha']:.2f}"} if stage else {}),
                    **({"p": f"{record['aug/p']:.3f}"} if "aug/p" in record else {}),
                }
            )

    def evaluate(values: dict) -> None:
        if trainer.ctx.is_main:
            scores = trainer.evaluate_images()
            if logger is not None and scores:
                logger.log(trainer.step, scores)

    def snapshot(values: dict) -> None:
        path = trainer.snapshot()
        if logger and path:
            logger.image("samples", plotting.figure_to_chw(path), trainer.step)

    return [
        Hook("log", run.log_every, log, at_end=True),
        Hook("evaluate", run.eval_every, evaluate),
        Hook("snapshot", run.sample_every, snapshot),
        Hook("checkpoint", run.checkpoint_every, lambda values: trainer.save()),
        *trainer.growth.hooks(snapshot),
    ]


def finish(trainer, logger, seconds: float, start_step: int, interrupted: bool) -> RunSummary:
    """The final measures, snapshot, curves and summary.json of a run."""
    summary = RunSummary(trainer.step, seconds, str(trainer.run_dir or ""), interrupted=interrupted)
    if not interrupted and trainer.ctx.is_main:
        try:  # SIGTERM here stops the measures, not the summary (issue 26)
            trainer._measuring.set()
            announce = None if trainer.quiet else say  # a line before seconds of silence, as the bar: not quiet
            summary.values = {**trainer.measure(announce=announce), **trainer.evaluate_images(announce=announce)}
        except MeasuresStopped:
            summary.interrupted = interrupted = True
        finally:
            trainer._measuring.clear()
    if logger is not None:
        path = trainer.snapshot()
        if path:
            logger.image("samples", plotting.figure_to_chw(path), trainer.step)
            trainer.snapshot(final=True, last=path)
            trainer.monitor.animate(path.parent)  # samples/training.gif: every snapshot on disk, resumed runs' too
        if summary.values:
            logger.log(
                trainer.step, {f"final/{k}": v for k, v in summary.values.items() if isinstance(v, (int, float))}
            )
        logger.close()
        plotting.training_curves(
            read_metrics(trainer.run_dir),
            trainer.run_dir / "plots" / "losses.png",
            title=f"{trainer.config.preset} on {trainer.config.data.name}",
        )
        (trainer.run_dir / "summary.json").write_text(
            json.dumps(
                {
                    "step": trainer.step,
                    "seconds": seconds,
                    "steps_this_session": trainer.step - start_step,
                    "interrupted": interrupted,
                    "generator": describe_generator(trainer.config.model.ema),
                    **summary.values,
                },
                indent=2,
            )
            + "\n"
        )
    return summary
