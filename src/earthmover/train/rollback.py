"""What a run does when a step goes non-finite: stop (the default), or roll back to the last
good checkpoint and continue with lower learning rates and new random draws, at most
``MAX_ROLLBACKS`` times (``run.on_nan = "rollback"``)."""

from __future__ import annotations

from earthmover.train import state as ckpt

MAX_ROLLBACKS = 3


class Rollback:
    def __init__(self, trainer, logger=None):
        self.trainer, self.logger, self.count = trainer, logger, 0

    def recover(self, exc: Exception) -> bool:
        """Roll back after `exc` if the policy allows; False means: let it stop the run."""
        t = self.trainer
        run = t.config.run
        if not (
            run.on_nan == "rollback" and self.count < MAX_ROLLBACKS and t.run_dir and ckpt.list_checkpoints(t.run_dir)
        ):
            return False
        self.count += 1
        path, state = ckpt.latest_loadable_checkpoint(t.run_dir)
        scale = t.lr_scale
        t.load_state_dict(state)
        # lower than before the fault, also when rolling back to the same checkpoint again
        t.lr_scale = min(scale, t.lr_scale) * run.rollback_lr_factor
        t.reseed_draws(self.count)  # new draws past the bad batch
        for sched in (t.sched_d, t.sched_g):
            sched.last_epoch -= 1
            sched.step()
        msg = f"{exc}\nrolled back to {path.name}; learning rates now x{t.lr_scale:g}"
        if self.logger is not None:
            self.logger.rewind(t.step)
            self.logger.write(msg)
        elif t.ctx.is_main:
            print(msg)
        return True
