"""The one training loop every objective plugs into.

A run is a loop of phases. Each generator step is preceded by ``n_critic``
critic steps; each critic step draws a fresh real batch and fresh fakes
(detached), adds the penalties (every ``penalty.every`` critic steps, scaled by
that interval), steps the optimizer, then applies the weight constraints. The
loop never looks at an entry's name or the data's kind: the objective, the
penalties, the constraints and the critic they need are plugged in by
:mod:`earthmover.train.build`, and the run's monitor measures and draws what the
data calls for (:mod:`earthmover.train.monitor`).

The parts: the step maths (``_critic_phase``, ``_generator_phase``, both through the one
``optimizer_step``); the guards (:mod:`earthmover.train.guards`: finiteness flags stay on the
device and the step reads them once); the side work, a list of (interval, hook) that ``fit``
walks (:mod:`earthmover.train.hooks`); the NaN policy (:mod:`earthmover.train.rollback`).
A generator step waits on the device once: when its flags are read.

Everything random flows from ``run.seed`` through explicit generators (data,
latents, penalty points) and the global torch RNG (initialization, dropout);
all of it is in the checkpoint, so a run stopped and resumed is bit-identical
on CPU to the run that never stopped. Side work (snapshots, measures) runs in
eval mode from its own generators and never touches the training state.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime
from pathlib import Path

import torch

from earthmover.data.latent import Draw
from earthmover.errors import EarthmoverError
from earthmover.losses.penalties import Shard
from earthmover.nets.minibatch import couples_samples
from earthmover.train import state as ckpt
from earthmover.train.build import Run, build_run
from earthmover.train.config import Config, validate
from earthmover.train.device import resolve_amp, resolve_device
from earthmover.train.distributed import DistributedContext
from earthmover.train.guards import Guard, NonFiniteError, check_weights
from earthmover.train.hooks import Hook
from earthmover.train.lock import RunLock
from earthmover.train.logging import RunLogger
from earthmover.train.monitor import derived_seed, draw_snapshot, eval_mode
from earthmover.train.phases import Phases
from earthmover.train.phases import add_terms as _add_terms  # noqa: F401  (its old home)
from earthmover.train.rollback import MAX_ROLLBACKS, Rollback
from earthmover.train.run_files import check_resumable
from earthmover.train.sampler import Sampler
from earthmover.train.side_work import RunSummary, finish, side_work
from earthmover.train.signals import install_stop_handlers, restore_handlers

__all__ = ["MAX_ROLLBACKS", "NonFiniteError", "RunSummary", "Trainer", "default_run_dir", "eval_mode"]


_seed = derived_seed


class Trainer(Phases):
    """Trains a run: the step and the loop. The run's pieces are built from the :class:`Config` by
    :func:`earthmover.train.build.build_run` (or given built, as `parts`).

    The pieces are public so a user can mix them into a loop of their own:
    ``trainer.critic_step()``, ``trainer.generator_step()``, ``trainer.train_step()``,
    ``trainer.state_dict()`` / ``load_state_dict()``, and ``trainer.fit()`` for the whole run.
    """

    def __init__(
        self,
        config: Config,
        run_dir: str | Path | None = None,
        *,
        quiet: bool = False,
        context: DistributedContext | None = None,
        write_files: bool = True,
        parts: Run | None = None,
    ):
        self.config = validate(config)
        self.ctx = context or DistributedContext()
        self.quiet = quiet
        self.write_files = write_files and self.ctx.is_main
        run = config.run
        if run.threads:
            torch.set_num_threads(run.threads)
        self.device = resolve_device(run.device, self.ctx)
        resolve_amp(run.amp, self.device)  # refused before anything is built
        if config.data.batch_size % self.ctx.world_size:
            raise EarthmoverError(
                f"data.batch_size = {config.data.batch_size} does not split evenly over "
                f"{self.ctx.world_size} processes; use a multiple of {self.ctx.world_size}"
            )

        run_parts = parts or build_run(config, self.device, self.ctx, _seed(run.seed, 1))
        self.stream, self.monitor, self.plan = run_parts.stream, run_parts.monitor, run_parts.plan
        self.sample_shape = tuple(self.stream.sample_shape)
        self.generator, self.latent_dim, self.latent = run_parts.generator, run_parts.latent_dim, run_parts.latent
        self.critic, self.num_classes, self.labelled = run_parts.critic, run_parts.num_classes, run_parts.labelled
        self.critic_takes_labels = config.model.conditional != "none"
        self.critic_couples = bool(couples_samples(self.critic))  # batch norm or a minibatch layer: two passes
        self.batch_size = config.data.batch_size  # per resolution under progressive growing
        self.growth, self.ema = run_parts.growth, run_parts.ema
        self.augment, self.accumulate = run_parts.augment, config.run.accumulate  # issue 22: train/phases.py
        self.generator_ddp = self.ctx.wrap(self.generator, self.device)
        self.critic_ddp = self.ctx.wrap(self.critic, self.device)
        self._seed_other_ranks(0)

        self.objective = self.plan.objective  # built once, with the plan
        self.penalties = self.plan.penalties
        self.constraints = self.plan.constraints
        self.opt_d, self.opt_g = run_parts.opt_d, run_parts.opt_g
        self.lr_scale = 1.0  # lowered by NaN rollbacks
        lr_d, lr_g = config.optim.lr_d, config.optim.lr_g
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(
            self.opt_d, lambda s: self._lr_factor(s) * self.growth.lr_ratio(lr_d)
        )
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(
            self.opt_g, lambda s: self._lr_factor(s) * self.growth.lr_ratio(lr_g)
        )

        self.autocast_dtype = resolve_amp(run.amp, self.device)  # CUDA, or bf16 on a CPU with native bf16
        fp16 = self.autocast_dtype == torch.float16  # the GradScaler is fp16's alone: bf16 has float32's range
        self.scaler_d, self.scaler_g = (torch.amp.GradScaler(self.device.type, enabled=fp16) for _ in "dg")

        self.latent_rng = torch.Generator().manual_seed(_seed(run.seed, 2))
        self.penalty_rng = torch.Generator().manual_seed(_seed(run.seed, 3))
        # penalties draw their slice of the global batch's numbers through it (see penalties.Shard)
        self.penalty_draws = Shard(self.penalty_rng, self.ctx.rank, self.ctx.world_size)
        self.step = 0
        self.critic_iterations = 0
        self.run_dir = Path(run_dir) if run_dir else None
        self.guard = Guard()
        self._stop = threading.Event()  # set by SIGINT/SIGTERM
        self._measuring = threading.Event()  # set during the final measures: a signal stops them (issue 26)
        self._lock: RunLock | None = None  # the run directory's owner lock while fit() runs
        self._stop_agreed = False  # under torchrun: some process was asked to stop (read with the step's flags)
        self.growth.before_step(self)

    # ------------------------------------------------------------------ phases
    def _lr_factor(self, step: int) -> float:
        factor = self.lr_scale
        if self.config.optim.lr_decay == "linear":
            factor *= max(0.0, 1.0 - step / self.config.run.steps)
        return factor

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _draw(self, labels: torch.Tensor | None = None) -> Draw:
        """The generator's inputs for this process's share of a global batch (labels, when given, are
        the global batch's: the critic step asks for fakes of the real batch's classes)."""
        draw = self.latent.draw(self.batch_size, self.latent_rng, labels=labels)
        return draw.rows(self.ctx.rows(self.batch_size)).to(self.device)

    def _latents(self) -> torch.Tensor:
        return self._draw().z

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This process's share of the next real batch, and its labels (global) in a labelled run."""
        if self.labelled:
            real, labels = self.stream.next_labelled_batch()  # type: ignore[union-attr]  # labelled: ImageStream
        else:
            real, labels = self.stream.next_batch(), None
        return self.growth.reals(self.ctx.shard(real).to(self.device, non_blocking=True)), labels

    def optimizer_step(
        self, loss: torch.Tensor, optimizer, scaler, params: list, phase: str, terms: dict | None = None
    ) -> torch.Tensor:
        """The one update: backward of the (scaled) loss, unscale, the gradient norm, the phase's
        finiteness flag recorded on the device (no wait), the optimizer step. Returns the
        gradient norm (a device tensor). A callable `loss` (gradient accumulation) takes the scaler,
        runs its K backwards (filling `terms`) and returns the step's loss: one zeroing, K backwards, one step."""
        optimizer.zero_grad(set_to_none=True)
        if callable(loss):
            loss = loss(scaler)
        else:
            scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = _grad_norm(params)
        self.guard.record(phase, loss, grad_norm, terms or {}, scaler)
        scaler.step(optimizer)
        scaler.update()
        return grad_norm

    def _critic_phase(self) -> dict[str, torch.Tensor]:
        real, labels = self._real_batch()
        draw = self._draw(labels)
        with torch.no_grad(), self._autocast():
            fake = self.generator(*draw.inputs()).float()
        if self.augment is not None:  # the critic, the objective and the penalties all see augmented batches
            real, fake = self._augmented(real), self._augmented(fake)
        penalize = bool(self.penalties) and self.critic_iterations % self.config.penalty.every == 0
        if self.accumulate > 1:
            terms: dict = {}
            loss = self._accumulated(self._critic_terms, (real, fake), draw, penalize, self.penalty_rng, terms)
        else:
            terms = self._critic_terms(real, fake, draw, penalize, self.penalty_draws)
            loss = sum(v for k, v in terms.items() if k != "_estimate")
        grad_norm = self.optimizer_step(loss, self.opt_d, self.scaler_d, self._critic_params, "critic", terms)
        estimate = terms.pop("_estimate")
        for constraint in self.constraints:
            constraint.after_step(self.critic)  # after the step, always
        self.critic_iterations += 1
        return {
            **{f"loss/{k}": v.detach() for k, v in terms.items()},
            self.objective.estimate_name: estimate.detach(),
            "grad_norm/critic": grad_norm,
        }

    def _generator_phase(self) -> dict[str, torch.Tensor]:
        draw = self._draw()
        self.critic.requires_grad_(False)
        try:
            with self._autocast():
                fake = self.generator_ddp(*draw.inputs())
            if self.accumulate > 1:
                loss, terms = self._accumulated_generator_loss(fake, draw)
            else:
                terms = self._generator_terms(fake, draw, None, None)
                loss = sum(terms.values())
            grad_norm = self.optimizer_step(loss, self.opt_g, self.scaler_g, self._generator_params, "generator", terms)
        finally:
            self.critic.requires_grad_(True)
        if self.ema is not None:
            self.ema.update_parameters(self.generator)
        return {**{f"loss/{k}": v.detach() for k, v in terms.items()}, "grad_norm/generator": grad_norm}

    def critic_step(self) -> dict[str, torch.Tensor]:
        """One critic step, checked at once (NonFiniteError names the term)."""
        values = self._critic_phase()
        self.guard.check(self.step + 1)
        return values

    def generator_step(self) -> dict[str, torch.Tensor]:
        """One generator step, checked at once."""
        values = self._generator_phase()
        self.guard.check(self.step + 1)
        return values

    def train_step(self) -> dict[str, torch.Tensor]:
        """n_critic critic steps, one generator step; returns the last values of every term (device
        tensors; the estimate averaged over the critic steps). Waits on the device once, to read
        the finiteness flags of all its phases (with the stop signal, under torchrun)."""
        self.growth.before_step(self)
        values: dict[str, torch.Tensor] = {}
        estimates = []
        key = self.objective.estimate_name
        for _ in range(self.config.optim.n_critic):
            values.update(self._critic_phase())
            estimates.append(values[key])
        values[key] = torch.stack(estimates).mean()
        values.update(self._generator_phase())
        stop = self._stop.is_set() if self.ctx.enabled else False
        signs = self.augment.signs_to_read(self.ctx) if self.augment is not None else None
        self._stop_agreed = self.guard.check(self.step + 1, self.ctx, stop, extra=signs)
        if self.augment is not None:  # ADA's p moves at an interval's end, from the signs read with the flags
            values.update(self.augment.end_step(self.guard.extra_read if signs is not None else None))
        self.growth.after_step(self.batch_size)
        self.sched_d.step()
        self.sched_g.step()
        self.step += 1
        return values

    def networks(self) -> list[torch.nn.Module]:
        """The generator, its EMA copy (when kept) and the critic."""
        return [self.generator, *([self.ema.module] if self.ema is not None else []), self.critic]

    @property
    def _critic_params(self) -> list:
        return [p for p in self.critic.parameters()]

    @property
    def _generator_params(self) -> list:
        return [p for p in self.generator.parameters()]

    def reseed_draws(self, attempt: int) -> None:
        """New latent and penalty draws after a rollback (attempt 1, 2, ...), past the bad batch."""
        self.penalty_rng.manual_seed(_seed(self.config.run.seed, 100 + attempt))
        self.latent_rng.manual_seed(_seed(self.config.run.seed, 200 + attempt))
        if self.augment is not None:
            self.augment.reseed(_seed(self.config.run.seed, 300 + attempt))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        state = {
            "step": self.step,
            "critic_iterations": self.critic_iterations,
            "lr_scale": self.lr_scale,
            "sample_shape": list(self.sample_shape),
            "num_classes": self.num_classes,
            "config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "data": self.stream.state_dict(),
            "growth": self.growth.state_dict(),
            **({"augment": self.augment.state_dict()} if self.augment is not None else {}),
            "rng": {
                "torch": torch.get_rng_state(),
                "latent": self.latent_rng.get_state(),
                "penalty": self.penalty_rng.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
        }
        return state

    def load_networks(self, state: dict) -> None:
        """The generator, critic and EMA weights of a checkpoint's state (what ``--init`` takes; resume
        takes these and everything else). Raises torch's errors when the shapes do not fit."""
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])

    def load_state_dict(self, state: dict) -> None:
        check_resumable(state)  # every key it reads is there, before anything is restored (issue 26)
        try:
            self.load_networks(state)
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.lr_scale = float(state.get("lr_scale", 1.0))
            self.sched_g.load_state_dict(state["sched_g"])
            self.sched_d.load_state_dict(state["sched_d"])
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise EarthmoverError(
                f"the checkpoint does not fit this run's networks ({str(exc).splitlines()[0][:160]}); "
                f"resume with the config.toml that wrote it"
            ) from None
        self.stream.load_state_dict(state["data"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        self.latent_rng.set_state(rng["latent"])
        self.penalty_rng.set_state(rng["penalty"])
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.step = int(state["step"])
        self.critic_iterations = int(state["critic_iterations"])
        self.growth.load_state_dict(state.get("growth"))
        if self.augment is not None:
            self.augment.load_state_dict(state.get("augment"))
        self.growth.before_step(self)
        self._seed_other_ranks(self.step)

    def _seed_other_ranks(self, step: int) -> None:
        """Dropout draws from the global torch RNG. Under torchrun every process would draw the same
        masks for its own shard; give each process but rank 0 a stream of its own. Rank 0 keeps the
        one-process stream, which the checkpoint holds; the others are derived again from the step
        on resume (so under torchrun, resume is exact except for the dropout masks of ranks > 0)."""
        if self.ctx.enabled and self.ctx.rank > 0:
            torch.manual_seed(hash((self.config.run.seed, self.ctx.rank, step, 1009)) & (2**62 - 1))

    def save(self) -> Path | None:
        """Write a checkpoint (rank 0), after checking that every weight is finite: a checkpoint
        must stay the last good one. The only full weight check of a run."""
        if not (self.write_files and self.run_dir):
            return None
        check_weights(self.step, {"critic": self.critic, "generator": self.generator})
        return ckpt.save_checkpoint(
            self.state_dict(), ckpt.checkpoint_path(self.run_dir, self.step), keep=self.config.run.keep_checkpoints
        )

    # ------------------------------------------------------------------ sampling and measures
    def sample(self, n: int, seed: int = 0, use_ema: bool = True) -> torch.Tensor:
        """n samples from the (EMA) generator, from a fixed seed; touches no training state.
        The same sampling as a finished run's :class:`earthmover.train.sampler.Sampler`."""
        net = self.ema.module if (use_ema and self.ema is not None) else self.generator
        with eval_mode(net):
            return Sampler(
                net, self.latent, self.config, self.device, self.step, sample_shape=self.sample_shape
            ).sample(n, seed=seed)

    def measure(self, n: int | None = None, with_emd: bool = True, progress: bool = False, announce=None) -> dict:
        """What the run's monitor measures of the EMA generator (for the toy mixtures: modes covered, high
        quality, and the exact EMD to n data samples; nothing for images); ``announce(line)`` says what it does."""
        seed, n = _seed(self.config.run.seed, 7), n or self.config.run.measure_n
        return self.monitor.measures(self._sample_fn, n, seed, with_emd=with_emd, progress=progress, announce=announce)

    def evaluate_images(self, announce=None) -> dict:
        """The metrics named in ``run.eval_metrics`` (e.g. "fid,kid") on ``run.eval_n`` samples of the EMA
        generator, as the run's monitor evaluates them (nothing for toy data or when none is asked for);
        with ``announce(line)``, said first, and with a progress bar over the samples."""
        run = self.config.run
        return self.monitor.evaluate(
            self._sample_fn, run.eval_metrics, run.eval_n, _seed(run.seed, 10), device=self.device, announce=announce
        )

    def _sample_fn(self, n: int, seed: int) -> torch.Tensor:
        return self.sample(n, seed=seed)

    def snapshot(self, final: bool = False, last: Path | None = None) -> Path | None:
        """samples/step_N.png (or, with `final`, samples/final.png), drawn by the run's monitor."""
        return draw_snapshot(self, final, last)

    # ------------------------------------------------------------------ the whole run
    def side_work(self, logger) -> list[Hook]:
        """The periodic side work of a run, walked by :meth:`fit` after every step (see train/side_work.py)."""
        return side_work(self, logger)

    def _open_run(self):
        """The run directory, its config.toml, the logger, and a first good checkpoint to fall back on."""
        if not (self.write_files and self.run_dir):
            return None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = self._lock or RunLock(self.run_dir)  # one owner (issue 26), maybe taken by train's command
        self.config.save(self.run_dir / "config.toml")
        logger = RunLogger(
            self.run_dir,
            self.config.run.steps,
            self.step,
            self.quiet,
            log=self.config.run.log,
            config=self.config.to_dict(),
        )
        if not ckpt.list_checkpoints(self.run_dir):
            self.save()
        return logger

    def _should_stop(self) -> bool:
        # under torchrun a signal reaches the processes at slightly different times: they stop
        # together, on the agreement read with the previous step's flags
        return self._stop_agreed if self.ctx.enabled else self._stop.is_set()

    def fit(self) -> RunSummary:
        """Train to run.steps. SIGTERM/SIGINT stop it cleanly from the first write to the last, and
        the run directory stays locked meanwhile (issue 26)."""
        restore = install_stop_handlers(self._stop, self._measuring)
        try:
            return self._fit()
        finally:
            restore_handlers(restore)
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def _fit(self) -> RunSummary:
        run = self.config.run
        logger = self._open_run()
        hooks = self.side_work(logger)
        rollback = Rollback(self, logger)
        start_time, start_step = time.perf_counter(), self.step
        interrupted = False
        try:
            while self.step < run.steps:
                if self._should_stop():
                    interrupted = True
                    break
                try:
                    values = self.train_step()
                    if logger is not None:
                        logger.advance(1)
                    for hook in hooks:
                        if hook.due(self.step, run.steps):
                            hook.fn(values)
                except NonFiniteError as exc:
                    if rollback.recover(exc):
                        continue
                    raise
        except BaseException:
            if logger is not None:
                logger.close()  # keep what was logged up to the failure (TensorBoard buffers its events)
            raise
        finally:
            if logger is not None:
                logger.close_progress()
        seconds = time.perf_counter() - start_time
        self.save()
        return self._finish(logger, seconds, start_step, interrupted)

    def _finish(self, logger, seconds: float, start_step: int, interrupted: bool) -> RunSummary:
        """The final measures, snapshot, curves and summary.json of a run."""
        return finish(self, logger, seconds, start_step, interrupted)


def _grad_norm(params) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def default_run_dir(config: Config) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}-{config.preset}-{Path(config.data.name).name.replace(':', '-')}"
