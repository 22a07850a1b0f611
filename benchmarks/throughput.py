"""Issue 12: earthmover's trainer against a plain PyTorch loop, side by side in one run.

Both sides train the same networks (the reference gets copies of the trainer's freshly
initialized generator and critic), with the same batch, n_critic, objective, penalty weight and
optimizer settings. The reference is written the straightforward PyTorch way, inline below:
separate critic forwards for real and fake, ``torch.autograd.grad`` for the gradient penalty,
plain ``torch.optim.Adam`` / ``RMSprop``, ``zero_grad()``, weight clipping with ``clamp_``.

The two sides run in alternating blocks (A B A B ...) of ``--seconds`` each, so a change in the
machine's load hits both; the ratio is the median over the pairs of blocks of the trainer's
steps per second over the reference's. Then the split of a
step (a critic step with the penalty, one without, a generator step; median milliseconds) and
the peak memory of each side during a few steps (GPU: max_memory_allocated; CPU: the peak
resident set above the resident set before the steps, in a fresh subprocess per side, with the
peak reset through /proc/self/clear_refs).

    OMP_NUM_THREADS=1 PYTHONPATH=src python3 benchmarks/throughput.py --config all
    OMP_NUM_THREADS=1 PYTHONPATH=src python3 benchmarks/throughput.py --config gp-toy --seconds 10 --pairs 5

On a machine shared with other work, the default (one generator step per block, many pairs)
gives the steadiest ratio: load that changes over seconds hits both sides of a pair alike.

The bf16 rows (issue 25: float32 against bf16 autocast and channels_last, gp-mnist, dcgan and resnet, with
achieved GFLOP/s against matrix-product peaks measured in the same run) are benchmarks/precision.py's:

    OMP_NUM_THREADS=1 PYTHONPATH=src python3 benchmarks/throughput.py --precision --config gp-mnist
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from earthmover.nets.critic_output import as_critic_output
from earthmover.train.config import Config
from earthmover.train.loop import Trainer

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "mnist_small.npz"

# name -> (preset, overrides as section__field); what each configuration stands for
CONFIGS: dict[str, tuple[str, dict, str]] = {
    "gp-toy": (
        "wgan-gp",
        dict(
            data__name="25gaussians",
            model__width=512,
            model__depth=3,
            data__batch_size=256,
            penalty__gp=0.1,
            optim__n_critic=5,
        ),
        "WGAN-GP, 25 gaussians, the paper's toy nets (3x512 ReLU MLPs), batch 256, lambda 0.1, n_critic 5",
    ),
    "gp-mnist": (
        "wgan-gp",
        dict(data__name="mnist", model__arch="wgan-gp-mnist", data__batch_size=50),
        "WGAN-GP, MNIST (tests/data/mnist_small.npz), wgan-gp-mnist nets, batch 50, lambda 10, n_critic 5",
    ),
    "wgan-dcgan": (
        "wgan",
        dict(data__name="mnist", model__arch="dcgan"),
        "WGAN with clipping 0.01, MNIST fixture, dcgan nets, batch 64, RMSprop, n_critic 5",
    ),
    "ns-dcgan": (
        "dcgan",
        dict(data__name="mnist", model__arch="dcgan"),
        "non-saturating GAN, MNIST fixture, dcgan nets, Adam, n_critic 1",
    ),
}


def make_trainer(name: str, seed: int = 0) -> Trainer:
    os.environ.setdefault("EARTHMOVER_MNIST", str(FIXTURE))
    preset, values, _ = CONFIGS[name]
    config = Config.from_preset(
        preset, run__seed=seed, run__device="cpu" if not torch.cuda.is_available() else "auto", **values
    )
    return Trainer(config, None, quiet=True)


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Reference:
    """The plain loop: what a PyTorch user writes from the papers, on copies of the trainer's nets."""

    def __init__(self, trainer: Trainer):
        c = trainer.config
        self.G = copy.deepcopy(trainer.generator)
        self.D = copy.deepcopy(trainer.critic)
        self.device = trainer.device
        self.stream = copy.deepcopy(trainer.stream)  # same data source and cost, its own position
        self.batch = c.data.batch_size
        self.zdim = trainer.latent_dim
        self.n_critic = c.optim.n_critic
        self.objective = c.objective.name
        self.gp = float(c.penalty.gp)
        self.clip = float(c.constraint.clip)
        o = c.optim
        if o.name == "rmsprop":
            self.opt_d = torch.optim.RMSprop(self.D.parameters(), lr=o.lr_d)
            self.opt_g = torch.optim.RMSprop(self.G.parameters(), lr=o.lr_g)
        else:
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
            self.opt_g = torch.optim.Adam(self.G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2))

    def score(self, x):
        return as_critic_output(self.D(x)).score

    def critic_losses(self, real, fake, alpha=None):
        """The critic's loss terms (objective, penalty) the textbook way."""
        d_real = self.score(real)
        d_fake = self.score(fake)
        if self.objective == "wasserstein":
            loss = d_fake.mean() - d_real.mean()
        else:  # non-saturating / minimax critic: the binary cross-entropy on logits
            loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        gp = None
        if self.gp > 0:
            if alpha is None:
                alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
            x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.score(x_hat).sum(), x_hat, create_graph=True)
            gp = self.gp * ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        return loss, gp

    def generator_loss(self, z):
        d_fake = self.score(self.G(z))
        if self.objective == "wasserstein":
            return -d_fake.mean()
        return F.softplus(-d_fake).mean()

    def critic_step(self, with_penalty: bool = True):
        real = self.stream.next_batch().to(self.device)
        z = torch.randn(self.batch, self.zdim, device=self.device)
        with torch.no_grad():
            fake = self.G(z)
        self.opt_d.zero_grad()
        loss, gp = self.critic_losses(real, fake) if with_penalty else self._no_gp(real, fake)
        total = loss + gp if gp is not None else loss
        total.backward()
        self.opt_d.step()
        if self.clip > 0:
            for p in self.D.parameters():
                p.data.clamp_(-self.clip, self.clip)

    def _no_gp(self, real, fake):
        saved, self.gp = self.gp, 0.0
        try:
            return self.critic_losses(real, fake)
        finally:
            self.gp = saved

    def generator_step(self):
        z = torch.randn(self.batch, self.zdim, device=self.device)
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.opt_g.zero_grad()
        self.generator_loss(z).backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)

    def train_step(self):
        for _ in range(self.n_critic):
            self.critic_step()
        self.generator_step()


def _block(step, seconds: float, device) -> float:
    """Generator steps per second over one block of about ``seconds``."""
    _sync(device)
    t0 = time.perf_counter()
    n = 0
    while True:
        step()
        n += 1
        if n % 2 == 0 or n == 1:
            _sync(device)
            if time.perf_counter() - t0 >= seconds:
                break
    _sync(device)
    return n / (time.perf_counter() - t0)


def median_ms(fn, reps: int, device) -> float:
    times = []
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def split(trainer: Trainer, ref: Reference, reps: int) -> dict:
    """Median ms of a critic step with the penalty, one without, a generator step, for both sides."""
    dev = trainer.device

    def t_critic():
        trainer.critic_step()  # the phase and its check

    def t_critic_nopen():
        saved = trainer.penalties
        trainer.penalties = []
        try:
            t_critic()
        finally:
            trainer.penalties = saved

    def t_gen():
        trainer.generator_step()

    has_gp = ref.gp > 0
    out = {"trainer": {}, "reference": {}}
    out["trainer"]["critic+penalty"] = median_ms(t_critic, reps, dev) if has_gp else None
    out["reference"]["critic+penalty"] = median_ms(lambda: ref.critic_step(True), reps, dev) if has_gp else None
    out["trainer"]["critic"] = median_ms(t_critic_nopen, reps, dev)
    out["reference"]["critic"] = median_ms(lambda: ref.critic_step(False), reps, dev)
    out["trainer"]["generator"] = median_ms(t_gen, reps, dev)
    out["reference"]["generator"] = median_ms(ref.generator_step, reps, dev)
    return out


def peak_memory(name: str, side: str, steps: int) -> float:
    """MiB: on GPU the peak allocated during ``steps`` steps; on CPU the peak resident set above
    the one before the steps, in a fresh process (the peak reset through /proc/self/clear_refs)."""
    if torch.cuda.is_available():
        trainer = make_trainer(name)
        ref = Reference(trainer)
        step = trainer.train_step if side == "trainer" else ref.train_step
        step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    cmd = [sys.executable, __file__, "--config", name, "--_memory", side, "--_steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ}, check=True).stdout
    return float(out.strip().splitlines()[-1])


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _memory_child(name: str, side: str, steps: int) -> None:
    trainer = make_trainer(name)
    ref = Reference(trainer)
    step = trainer.train_step if side == "trainer" else ref.train_step
    step()  # optimizer state exists on both sides before the measurement
    import gc

    gc.collect()
    try:  # Linux: reset the peak resident set (VmHWM) to the current one
        Path("/proc/self/clear_refs").write_text("5")
        base = _rss_mib("VmRSS")
        for _ in range(steps):
            step()
        print(_rss_mib("VmHWM") - base)
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(steps):
            step()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)


def run(name: str, seconds: float, pairs: int, reps: int, mem_steps: int) -> dict:
    trainer = make_trainer(name)
    ref = Reference(trainer)
    dev = trainer.device
    trainer.train_step()  # warm up both (allocator, optimizer state)
    ref.train_step()
    rows = []
    for _ in range(pairs):
        a = _block(trainer.train_step, seconds, dev)
        b = _block(ref.train_step, seconds, dev)
        rows.append((a, b))
    ratios = [a / b for a, b in rows]
    result = {
        "config": name,
        "what": CONFIGS[name][2],
        "trainer_steps_per_s": [round(a, 3) for a, _ in rows],
        "reference_steps_per_s": [round(b, 3) for _, b in rows],
        "median_ratio": statistics.median(ratios),
        "ratios": [round(r, 3) for r in ratios],
        "split_ms": split(trainer, ref, reps),
    }
    if mem_steps:
        result["peak_mib"] = {side: peak_memory(name, side, mem_steps) for side in ("trainer", "reference")}
    return result


def _fmt(v):
    return "-" if v is None else f"{v:.1f}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--precision" in argv:  # the float32 / bf16 rows: benchmarks/precision.py, same flags
        from precision import main as precision_main

        return precision_main([a for a in argv if a != "--precision"])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="all", choices=["all", *CONFIGS])
    p.add_argument(
        "--seconds",
        type=float,
        default=0.0,
        help="length of one block; 0 (default) = one generator step per block, the finest interleaving, "
        "best on a loaded machine",
    )
    p.add_argument("--pairs", type=int, default=15, help="trainer/reference block pairs (default 15)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--reps", type=int, default=7, help="repetitions for the split of a step (default 7)")
    p.add_argument("--memory-steps", type=int, default=3, help="steps for the peak memory (0 = skip)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--_memory", help=argparse.SUPPRESS)
    p.add_argument("--_steps", type=int, default=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args._memory:
        _memory_child(args.config, args._memory, args._steps)
        return 0
    names = list(CONFIGS) if args.config == "all" else [args.config]
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, device "
        f"{'cuda' if torch.cuda.is_available() else 'cpu'}, blocks of {args.seconds}s x {args.pairs} pairs (ABAB)"
    )
    results = []
    for name in names:
        r = run(name, args.seconds, args.pairs, args.reps, args.memory_steps)
        results.append(r)
        s = r["split_ms"]
        mem = r.get("peak_mib", {})
        print(f"\n{name}: {r['what']}")
        q = statistics.quantiles(r["ratios"], n=4) if len(r["ratios"]) > 2 else r["ratios"]
        print(
            f"  gen steps/s (median of blocks)  trainer {statistics.median(r['trainer_steps_per_s']):.3f}  "
            f"reference {statistics.median(r['reference_steps_per_s']):.3f}"
        )
        print(
            f"  median ratio trainer/reference {r['median_ratio']:.3f}x  (quartiles of the {len(r['ratios'])} "
            f"pairs {q[0]:.3f}-{q[-1]:.3f})"
        )
        print(f"  split ms (median of {args.reps})   critic+penalty  critic  generator")
        for side in ("trainer", "reference"):
            print(
                f"    {side:<10} {_fmt(s[side]['critic+penalty']):>15} {_fmt(s[side]['critic']):>7} "
                f"{_fmt(s[side]['generator']):>10}"
            )
        if mem:
            print(
                "  peak memory MiB "
                f"({'max_memory_allocated' if torch.cuda.is_available() else 'peak RSS above start'}, "
                f"{args.memory_steps} steps): trainer {mem['trainer']:.1f}  reference {mem['reference']:.1f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
