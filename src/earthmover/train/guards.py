"""Guards: a non-finite loss, gradient or weight stops the run (or rolls it back), named.

Each phase leaves its finiteness flag on the device (no host synchronization); the step
checks all of them at once, with a single read of one small tensor (and, under torchrun, one
all-reduce that also carries the stop signal, so every process stops or fails together). Only
after a flag trips are the phase and the term found, by reading the values kept for that.
The full check of the weights, which costs a norm of every parameter, runs only where a
checkpoint is about to be written: a checkpoint must stay the last good one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from earthmover.errors import EarthmoverError


class NonFiniteError(EarthmoverError):
    """A loss term, a gradient or a weight became NaN or infinite."""

    def __init__(self, step: int, phase: str, term: str):
        self.step, self.phase, self.term = step, phase, term
        super().__init__(
            f"non-finite {term} at step {step} in the {phase} phase; lower the learning rates "
            f"(optim.lr_d / optim.lr_g) or use --run.on-nan rollback, then resume from the last good checkpoint"
        )


@dataclass
class _Phase:
    name: str
    ok: torch.Tensor
    loss: torch.Tensor
    terms: dict


@dataclass
class Guard:
    """Collects the phases of one step; :meth:`check` reads them once."""

    phases: list = field(default_factory=list)
    extra_read: list = field(default_factory=list)

    def record(self, phase: str, loss: torch.Tensor, grad_norm: torch.Tensor, terms: dict, scaler=None) -> None:
        """Keep a phase's flag on the device. With an enabled GradScaler (fp16), an overflowing
        gradient is the scaler's to handle (it skips the step and lowers its scale): only the loss counts."""
        scaled = scaler is not None and scaler.is_enabled()
        loss = loss.detach()
        ok = torch.isfinite(loss) if scaled else torch.isfinite(loss) & torch.isfinite(grad_norm.detach())
        self.phases.append(_Phase(phase, ok, loss, {k: v.detach() for k, v in terms.items()}))

    def check(self, step: int, ctx=None, stop: bool = False, extra: torch.Tensor | None = None) -> bool:
        """Raise NonFiniteError for the first bad phase of the step; return whether any process asked
        to stop. One host synchronization (and one all-reduce under torchrun). ``extra``: values equal on
        every process, read with the flags into :attr:`extra_read` (the augmentation's signs, issue 22)."""
        phases, self.phases = self.phases, []
        if not phases:
            return stop if ctx is None else ctx.any(stop)
        bad = (~torch.stack([p.ok for p in phases])).any().float()
        if ctx is not None and ctx.enabled:
            flags = [bad, bad.new_tensor(float(stop))] + ([] if extra is None else list(extra.to(bad).reshape(-1)))
            read = ctx.max(torch.stack(flags)).tolist()
            bad_any, stop, self.extra_read = bool(read[0]), bool(read[1]), read[2:]
        elif extra is not None:
            read = torch.cat([bad.reshape(1), extra.to(bad).reshape(-1)]).tolist()
            bad_any, self.extra_read = bool(read[0]), read[1:]
        else:
            bad_any = bool(bad.item())
        if bad_any:
            raise _name_the_fault(step, phases)
        return stop


def _name_the_fault(step: int, phases: list) -> NonFiniteError:
    for p in phases:
        if bool(p.ok):
            continue
        for name, value in p.terms.items():
            if not bool(torch.isfinite(value).all()):
                return NonFiniteError(step, p.name, f"loss term '{name}'")
        return NonFiniteError(step, p.name, "loss" if not bool(torch.isfinite(p.loss)) else f"gradient of the {p.name}")
    return NonFiniteError(step, "step", "value on another process")


def check_weights(step: int, nets: dict) -> None:
    """Finite losses and gradients can still step the weights to inf (a huge learning rate): never
    let such weights reach a checkpoint. `nets` maps a name to a module."""
    for name, net in nets.items():
        params = [p.detach() for p in net.parameters()]
        if params and not bool(torch.isfinite(torch.stack(torch._foreach_norm(params))).all()):
            raise NonFiniteError(step, "optimizer", f"weights of the {name} after its update")
