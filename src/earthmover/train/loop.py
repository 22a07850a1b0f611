"""The one training loop every objective plugs into.

A run is a loop of phases. Each generator step is preceded by ``n_critic``
critic steps; each critic step draws a fresh real batch and fresh fakes
(detached), adds the penalties (every ``penalty.every`` critic steps, scaled by
that interval), steps the optimizer, then applies the weight constraint. The
loop never looks at the objective's name: the objective, the penalties and the
constraints are plugged in by :mod:`earthmover.train.build`.

Everything random flows from ``run.seed`` through explicit generators (data,
latents, penalty points) and the global torch RNG (initialization, dropout);
all of it is in the checkpoint, so a run stopped and resumed is bit-identical
on CPU to the run that never stopped. Side work (snapshots, measures) runs in
eval mode from its own generators and never touches the training state.
"""
from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch

from earthmover.checks import resolve_device
from earthmover.config import Config, validate
from earthmover.data.latent import sample_latent
from earthmover.data.streams import make_stream
from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput, as_critic_output
from earthmover.objectives import Scored, make_objective
from earthmover.penalties import Shard
from earthmover.train import state as ckpt
from earthmover.train.build import build_critic, build_generator, build_optimizer, build_plan
from earthmover.train.distributed import DistributedContext
from earthmover.train.ema import GeneratorEMA

MAX_ROLLBACKS = 3


class NonFiniteError(EarthmoverError):
    """A loss term or gradient became NaN or infinite."""

    def __init__(self, step: int, phase: str, term: str):
        self.step, self.phase, self.term = step, phase, term
        super().__init__(
            f"non-finite {term} at step {step} in the {phase} phase; lower the learning rates "
            f"(optim.lr_d / optim.lr_g) or use --run.on-nan rollback, then resume from the last good checkpoint"
        )


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


def _seed(seed: int, stream: int) -> int:
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


class Trainer:
    """Builds a run from a :class:`Config` and trains it.

    The pieces are public so a user can mix them into a loop of their own:
    ``trainer.critic_step()``, ``trainer.generator_step()``, ``trainer.train_step()``,
    ``trainer.state_dict()`` / ``load_state_dict()``, and ``trainer.fit()`` for the whole run.
    """

    def __init__(self, config: Config, run_dir: str | Path | None = None, *, quiet: bool = False,
                 context: DistributedContext | None = None, write_files: bool = True):
        self.config = validate(config)
        self.ctx = context or DistributedContext()
        self.quiet = quiet
        self.write_files = write_files and self.ctx.is_main
        run = config.run
        if run.threads:
            torch.set_num_threads(run.threads)
        self.device = resolve_device(run.device, self.ctx)
        if config.data.batch_size % self.ctx.world_size:
            raise EarthmoverError(
                f"data.batch_size = {config.data.batch_size} does not split evenly over {self.ctx.world_size} processes; "
                f"use a multiple of {self.ctx.world_size}"
            )

        torch.manual_seed(run.seed)  # initialization and dropout
        self.stream = make_stream(config.data, _seed(run.seed, 1), device=self.device)
        self.sample_shape = tuple(self.stream.sample_shape)
        self.plan = build_plan(config)
        self.generator, self.latent_dim = build_generator(config, self.sample_shape)
        self.critic = build_critic(config, self.sample_shape, self.plan)
        if self.ctx.enabled and self.device.type == "cuda":
            # batch statistics over the global batch; SyncBatchNorm is CUDA-only, so on CPU (gloo)
            # each process normalizes its shard and DDP broadcasts rank 0's running statistics
            self.generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
        self.generator.to(self.device)
        self.critic.to(self.device)
        self.ema = None
        if config.model.ema:
            self.ema = GeneratorEMA(self.generator, config.model.ema)
        self.generator_ddp = self.ctx.wrap(self.generator, self.device)
        self.critic_ddp = self.ctx.wrap(self.critic, self.device)
        self._seed_other_ranks(0)

        self.objective = make_objective(config.objective.name, **config.objective.entry_values(config.objective.name))
        self.penalties = self.plan.penalties
        self.constraints = self.plan.constraints
        self.opt_d = build_optimizer(config, self.critic.parameters(), config.optim.lr_d)
        self.opt_g = build_optimizer(config, self.generator.parameters(), config.optim.lr_g)
        self.lr_scale = 1.0  # lowered by NaN rollbacks
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, self._lr_factor)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self._lr_factor)

        amp = run.amp if self.device.type == "cuda" else "none"
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=amp == "fp16")
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=amp == "fp16")

        self.latent_rng = torch.Generator().manual_seed(_seed(run.seed, 2))
        self.penalty_rng = torch.Generator().manual_seed(_seed(run.seed, 3))
        # penalties draw their slice of the global batch's numbers through it (see penalties.Shard)
        self.penalty_draws = Shard(self.penalty_rng, self.ctx.rank, self.ctx.world_size)
        self.step = 0
        self.critic_iterations = 0
        self.run_dir = Path(run_dir) if run_dir else None
        self._stop = threading.Event()
        self._evaluator = None

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

    def _latents(self) -> torch.Tensor:
        z = sample_latent(self.config.data.batch_size, self.latent_dim, self.latent_rng)
        return self.ctx.shard(z).to(self.device, non_blocking=True)

    def critic_step(self) -> dict[str, torch.Tensor]:
        real = self.ctx.shard(self.stream.next_batch()).to(self.device, non_blocking=True)
        z = self._latents()
        with torch.no_grad(), self._autocast():
            fake = self.generator(z).float()
        n = real.shape[0]
        with self._autocast():
            both = as_critic_output(self.critic_ddp(torch.cat([real, fake])))
        real_out = CriticOutput(both.score[:n].float(), None if both.features is None else both.features[:n].float())
        fake_out = CriticOutput(both.score[n:].float(), None if both.features is None else both.features[n:].float())
        terms = self.objective.critic_loss(Scored(real, real_out), Scored(fake, fake_out))
        every = self.config.penalty.every
        if self.penalties and self.critic_iterations % every == 0:
            for term in self.penalties:
                terms[term.log_name] = term(self.critic, real, fake, weight=term.weight * every, generator=self.penalty_draws)
        loss = sum(terms.values())
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.unscale_(self.opt_d)
        grad_norm = _grad_norm(self.critic.parameters())
        self._check_finite(loss, grad_norm, terms, "critic", self.scaler_d)
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        for constraint in self.constraints:
            constraint.after_step(self.critic)  # after the step, always
        self.critic_iterations += 1
        return {**{f"loss/{k}": v.detach() for k, v in terms.items()},
                self.objective.estimate_name: self.objective.estimate(Scored(real, real_out), Scored(fake, fake_out)).detach(),
                "grad_norm/critic": grad_norm}

    def generator_step(self) -> dict[str, torch.Tensor]:
        z = self._latents()
        self.critic.requires_grad_(False)
        try:
            with self._autocast():
                fake = self.generator_ddp(z)
                out = as_critic_output(self.critic(fake))
            out = CriticOutput(out.score.float(), None if out.features is None else out.features.float())
            terms = self.objective.generator_loss(Scored(fake.float(), out))
            loss = sum(terms.values())
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(loss).backward()
        finally:
            self.critic.requires_grad_(True)
        self.scaler_g.unscale_(self.opt_g)
        grad_norm = _grad_norm(self.generator.parameters())
        self._check_finite(loss, grad_norm, terms, "generator", self.scaler_g)
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        if self.ema is not None:
            self.ema.update_parameters(self.generator)
        return {**{f"loss/{k}": v.detach() for k, v in terms.items()}, "grad_norm/generator": grad_norm}

    def train_step(self) -> dict[str, torch.Tensor]:
        """n_critic critic steps, one generator step; returns the last values of every term."""
        values: dict[str, torch.Tensor] = {}
        estimates = []
        key = self.objective.estimate_name
        for _ in range(self.config.optim.n_critic):
            values.update(self.critic_step())
            estimates.append(values[key])
        values[key] = torch.stack(estimates).mean()
        values.update(self.generator_step())
        self._check_weights()
        self.sched_d.step()
        self.sched_g.step()
        self.step += 1
        return values

    def _check_finite(self, loss, grad_norm, terms, phase, scaler=None) -> None:
        if bool(torch.isfinite(loss) & torch.isfinite(grad_norm)):
            return
        if scaler is not None and scaler.is_enabled() and bool(torch.isfinite(loss)):
            # fp16 with a grad scaler: an overflowing gradient is the scaler's to handle (it skips
            # this step and lowers its scale), not a divergence of the run
            return
        for name, value in terms.items():
            if not bool(torch.isfinite(value)):
                raise NonFiniteError(self.step + 1, phase, f"loss term '{name}'")
        raise NonFiniteError(self.step + 1, phase, f"gradient of the {phase}" if bool(torch.isfinite(loss)) else "loss")

    def _check_weights(self) -> None:
        """Finite losses and gradients can still step the weights to inf (a huge learning rate):
        never let such weights reach a checkpoint, which must stay the last good one."""
        for name, net in (("critic", self.critic), ("generator", self.generator)):
            params = [p.detach() for p in net.parameters()]
            if params and not bool(torch.isfinite(torch.stack(torch._foreach_norm(params))).all()):
                raise NonFiniteError(self.step + 1, "optimizer", f"weights of the {name} after its update")

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        state = {
            "step": self.step,
            "critic_iterations": self.critic_iterations,
            "lr_scale": self.lr_scale,
            "sample_shape": list(self.sample_shape),
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
            "rng": {
                "torch": torch.get_rng_state(),
                "latent": self.latent_rng.get_state(),
                "penalty": self.penalty_rng.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
        }
        return state

    def load_state_dict(self, state: dict) -> None:
        try:
            self.generator.load_state_dict(state["generator"])
            self.critic.load_state_dict(state["critic"])
            if self.ema is not None and state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
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
        self._seed_other_ranks(self.step)

    def _seed_other_ranks(self, step: int) -> None:
        """Dropout draws from the global torch RNG. Under torchrun every process would draw the same
        masks for its own shard; give each process but rank 0 a stream of its own. Rank 0 keeps the
        one-process stream, which the checkpoint holds; the others are derived again from the step
        on resume (so under torchrun, resume is exact except for the dropout masks of ranks > 0)."""
        if self.ctx.enabled and self.ctx.rank > 0:
            torch.manual_seed(hash((self.config.run.seed, self.ctx.rank, step, 1009)) & (2 ** 62 - 1))

    def save(self) -> Path | None:
        if not (self.write_files and self.run_dir):
            return None
        return ckpt.save_checkpoint(self.state_dict(), ckpt.checkpoint_path(self.run_dir, self.step), keep=self.config.run.keep_checkpoints)

    # ------------------------------------------------------------------ sampling and measures
    def sample(self, n: int, seed: int = 0, use_ema: bool = True) -> torch.Tensor:
        """n samples from the (EMA) generator, from a fixed seed; touches no training state."""
        net = self.ema.module if (use_ema and self.ema is not None) else self.generator
        out = []
        g = torch.Generator().manual_seed(seed)
        with eval_mode(net):
            for start in range(0, n, 1000):
                z = sample_latent(min(1000, n - start), self.latent_dim, g).to(self.device)
                out.append(net(z).float().cpu())
        return torch.cat(out)

    def measure(self, n: int | None = None, with_emd: bool = True) -> dict:
        """For toy data: the mixture measures (mixtures) and the exact EMD to n data samples."""
        if self.stream.kind != "toy":
            return {}
        from earthmover.data.toy import GaussianMixture
        from earthmover.metrics.mixtures import mixture_measures

        n = n or self.config.run.measure_n
        fake = self.sample(n, seed=_seed(self.config.run.seed, 7))
        values: dict = {}
        if isinstance(self.stream.distribution, GaussianMixture):
            values.update(mixture_measures(fake, self.stream.distribution).to_dict())
        if with_emd:
            values["emd"] = _emd_samples(fake, self.stream.reference(n, seed=_seed(self.config.run.seed, 8)))
        return values

    def evaluate_images(self) -> dict:
        """The metrics named in ``run.eval_metrics`` (e.g. "fid,kid") on ``run.eval_n`` samples of the EMA
        generator, with the digit classifier's features, against the data's test split (MNIST) or the
        training images themselves (other sources). Empty for toy data or when no metric is asked for."""
        if self.stream.kind != "images" or not self.config.run.eval_metrics:
            return {}
        if self._evaluator is None:
            from earthmover.metrics import Evaluator

            name = self.config.data.name
            reference = f"{name.split(':')[0]}:test" if name.split(":")[0] in ("mnist", "digits") else self.stream.images
            c, side = self.sample_shape[0], self.sample_shape[-1]
            self._evaluator = Evaluator(self.config.run.eval_metrics, features="digits", reference=reference,
                                        n=self.config.run.eval_n, device=self.device,
                                        reference_image_size=side, reference_channels=c)
        seed = _seed(self.config.run.seed, 10)
        return {f"metrics/{k}": v for k, v in self._evaluator(lambda m: self.sample(m, seed=seed)).items()}

    def snapshot(self) -> Path | None:
        if not (self.write_files and self.run_dir):
            return None
        from earthmover import plotting

        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        if self.stream.kind == "toy":
            fake = self.sample(1000, seed=_seed(self.config.run.seed, 9))
            real = self.stream.reference(1000)
            critic = self.critic

            def critic_fn(x):
                with eval_mode(critic):
                    return as_critic_output(critic(x.to(self.device))).score

            title = f"{self.config.preset} on {self.config.data.name}, step {self.step}"
            plotting.toy_snapshot(real, fake, path, critic_fn=critic_fn, title=title)
        else:
            plotting.save_image_grid(self.sample(64, seed=_seed(self.config.run.seed, 9)), path, nrow=8)
        return path

    # ------------------------------------------------------------------ the whole run
    def fit(self) -> RunSummary:
        from earthmover import plotting
        from earthmover.train.logging import RunLogger, read_metrics

        run = self.config.run
        logger = None
        if self.write_files and self.run_dir:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.run_dir / "config.toml")
            logger = RunLogger(self.run_dir, run.steps, self.step, quiet=self.quiet)
            if not ckpt.list_checkpoints(self.run_dir):
                self.save()  # a good checkpoint to fall back on from the start
        restore = self._install_signal_handlers()
        start_time, start_step, tick_time, tick_step = time.perf_counter(), self.step, time.perf_counter(), self.step
        rollbacks = 0
        interrupted = False
        try:
            while self.step < run.steps:
                # under torchrun a signal reaches the processes at slightly different times: stop
                # together, or one would wait forever in the next step's all-reduce
                if self.ctx.any(self._stop.is_set()):
                    interrupted = True
                    break
                try:
                    values = self.train_step()
                except NonFiniteError as exc:
                    if run.on_nan == "rollback" and rollbacks < MAX_ROLLBACKS and self.run_dir and ckpt.list_checkpoints(self.run_dir):
                        rollbacks += 1
                        path, state = ckpt.latest_loadable_checkpoint(self.run_dir)
                        scale = self.lr_scale
                        self.load_state_dict(state)
                        # lower than before the fault, also when rolling back to the same checkpoint again
                        self.lr_scale = min(scale, self.lr_scale) * run.rollback_lr_factor
                        self.penalty_rng.manual_seed(_seed(run.seed, 100 + rollbacks))  # new draws past the bad batch
                        self.latent_rng.manual_seed(_seed(run.seed, 200 + rollbacks))
                        for sched in (self.sched_d, self.sched_g):
                            sched.last_epoch -= 1
                            sched.step()
                        msg = f"{exc}\nrolled back to {path.name}; learning rates now x{self.lr_scale:g}"
                        if logger is not None:
                            logger.rewind(self.step)
                            logger.write(msg)
                        elif self.ctx.is_main:
                            print(msg)
                        continue
                    raise
                if logger is not None:
                    logger.advance(1, {self.objective.estimate_label: f"{float(values[self.objective.estimate_name]):.3f}"})
                if self.step % run.log_every == 0 or self.step == run.steps:
                    record = {k: float(self.ctx.mean(v)) for k, v in values.items()}
                    now = time.perf_counter()
                    record["steps_per_second"] = (self.step - tick_step) / max(now - tick_time, 1e-9)
                    tick_time, tick_step = now, self.step
                    record["lr/critic"] = self.opt_d.param_groups[0]["lr"]
                    record["lr/generator"] = self.opt_g.param_groups[0]["lr"]
                    if self.stream.kind == "toy" and self.ctx.is_main and (self.step % run.sample_every == 0 or self.step == run.steps):
                        record.update({f"metrics/{k}": v for k, v in self.measure(with_emd=False).items()
                                       if k in ("modes_covered", "high_quality", "reverse_kl")})
                    if logger is not None:
                        logger.log(self.step, record)
                if run.eval_every and self.step % run.eval_every == 0 and self.step < run.steps and self.ctx.is_main:
                    scores = self.evaluate_images()
                    if logger is not None and scores:
                        logger.log(self.step, scores)
                if self.step % run.sample_every == 0 and self.step < run.steps:
                    path = self.snapshot()
                    if logger and path:
                        logger.image("samples", plotting.figure_to_chw(path), self.step)
                if self.step % run.checkpoint_every == 0 and self.step < run.steps:
                    self.save()
        except BaseException:
            if logger is not None:
                logger.close()  # keep what was logged up to the failure (TensorBoard buffers its events)
            raise
        finally:
            self._restore_signal_handlers(restore)
            if logger is not None:
                logger.close_progress()
        seconds = time.perf_counter() - start_time
        self.save()
        summary = RunSummary(self.step, seconds, str(self.run_dir or ""), interrupted=interrupted)
        if not interrupted and self.ctx.is_main:
            summary.values = self.measure() if self.stream.kind == "toy" else self.evaluate_images()
        if logger is not None:
            path = self.snapshot()
            if path:
                logger.image("samples", plotting.figure_to_chw(path), self.step)
            if summary.values:
                logger.log(self.step, {f"final/{k}": v for k, v in summary.values.items() if isinstance(v, (int, float))})
            logger.close()
            plotting.training_curves(read_metrics(self.run_dir), self.run_dir / "plots" / "losses.png",
                                     title=f"{self.config.preset} on {self.config.data.name}")
            (self.run_dir / "summary.json").write_text(json.dumps(
                {"step": self.step, "seconds": seconds, "steps_this_session": self.step - start_step,
                 "interrupted": interrupted, **summary.values}, indent=2) + "\n")
        return summary

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = {}

        def handler(signum, frame):
            if self._stop.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now, the last checkpoint stays
            self._stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous

    def _restore_signal_handlers(self, previous) -> None:
        for sig, old in (previous or {}).items():
            signal.signal(sig, old)


def _grad_norm(params) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _emd_samples(x: torch.Tensor, y: torch.Tensor) -> float:
    from earthmover.ot import emd_samples

    return float(emd_samples(x, y))


def default_run_dir(config: Config) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}-{config.preset}-{Path(config.data.name).name.replace(':', '-')}"
