"""Small pieces the studies share: seeding, gradient norms, JSON without infinities, tables, and the
checks that hold a study's numbers against its claim's thresholds."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import torch

from earthmover.losses import objectives
from earthmover.losses.penalties import gradient_penalty
from earthmover.nets.critic_output import critic_scores
from earthmover.train.config import Config
from earthmover.train.loop import Trainer


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global RNG seeded (network initialization draws from it),
    and restore the caller's RNG state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def parameter_grad_norm(loss: torch.Tensor, params: Iterable[torch.nn.Parameter]) -> float:
    """||d loss / d params||_2 over all the given parameters together (no .grad is touched)."""
    params = [p for p in params if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    total = sum(float(g.double().pow(2).sum()) for g in grads if g is not None)
    return math.sqrt(total)


def step_discriminator_and_critic(
    disc, critic, opt_d, opt_c, real, fake, *, gp_weight: float, generator: torch.Generator
) -> None:
    """One step each, on the same batch, of a minimax discriminator and a WGAN-GP critic (the pair the
    studies compare): the discriminator first, then the critic with its penalty drawn from ``generator``."""
    loss = objectives.minimax_critic_loss(critic_scores(disc, real), critic_scores(disc, fake))
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    loss = objectives.wasserstein_critic_loss(critic_scores(critic, real), critic_scores(critic, fake))
    loss = loss + gradient_penalty(critic, real, fake, weight=gp_weight, generator=generator)
    opt_c.zero_grad(set_to_none=True)
    loss.backward()
    opt_c.step()


def finite_json(value):
    """A copy of ``value`` that strict JSON can hold: +-inf and NaN become the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def format_table(header: list[str], rows: list[list]) -> str:
    """A plain-text table with right-aligned columns; floats in 4 significant digits."""

    def cell(v) -> str:
        if isinstance(v, float):
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return f"{v:.4g}"
        return str(v)

    cells = [header] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- claims and verdicts


@dataclass(frozen=True)
class Check:
    """One measured number held against the threshold its claim sets.

    ``what`` names the measure, ``value`` is what the run gave, ``threshold`` says in words
    what the claim needs (e.g. "<= 1e-9"), ``holds`` whether the value meets it.
    """

    what: str
    value: float
    threshold: str
    holds: bool

    def to_dict(self) -> dict:
        return finite_json(asdict(self))


def at_most(what: str, value: float, bound: float, fmt: str = "{:.3g}") -> Check:
    return Check(what, float(value), "<= " + fmt.format(bound), bool(value <= bound))


def at_least(what: str, value: float, bound: float, fmt: str = "{:.3g}") -> Check:
    return Check(what, float(value), ">= " + fmt.format(bound), bool(value >= bound))


def within(what: str, value: float, target: float, tol: float, fmt: str = "{:.3g}") -> Check:
    return Check(
        what, float(value), f"within {fmt.format(tol)} of {fmt.format(target)}", bool(abs(value - target) <= tol)
    )


def verdict(checks: list[Check]) -> str:
    """ "holds" when every check holds, else "does not hold"."""
    return "holds" if checks and all(c.holds for c in checks) else "does not hold"


# ----------------------------------------------------------------------------- training runs


def build_trainer(preset: str, seed: int, steps: int, **values):
    """A :class:`~earthmover.train.loop.Trainer` for ``preset`` with the paper's objective, penalties,
    constraint and optimizer, on the CPU, writing no files; ``values`` (``section__field=value``)
    set what a study holds fixed across presets (data, network shape, batch, steps)."""
    config = Config.from_preset(
        preset,
        run__seed=int(seed),
        run__steps=int(steps),
        run__device="cpu",
        run__log_every=10**9,
        run__sample_every=10**9,
        run__checkpoint_every=10**9,
        **values,
    )
    return Trainer(config, run_dir=None, quiet=True, write_files=False)
