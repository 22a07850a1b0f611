"""The main job's target: `earthmover train` with no arguments, over several seeds.

Prints, per seed, the modes covered (of 25), the high-quality share (2,500 samples within 3
standard deviations), the exact EMD to 2,500 data samples and the wall time of the training loop;
then the speed of our loop against a plain hand-written WGAN-GP loop (same networks, batch,
optimizers, penalty) run side by side, as a ratio of seconds per step.

    python benchmarks/quickstart.py --seeds 0 1 2 3 4        # the full default run per seed
    python benchmarks/quickstart.py --seeds 0 --steps 300    # a shorter check
    python benchmarks/quickstart.py --seeds 3 4 --set penalty.every=1 --set penalty.gp=1 \
        --threads 1 --parallel 2 --no-speed                  # a tuning row: two seeds at once, one thread each
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from earthmover.arguments import int_at_least
from earthmover.errors import EarthmoverError
from earthmover.train.config import Config
from earthmover.train.loop import Trainer


def default_config(seed: int, steps: int | None, overrides=()) -> Config:
    """Exactly what `earthmover train` resolves with no arguments, then the seed, the steps and the
    "KEY=VALUE" overrides (converted and checked by ``Config.set``)."""
    from earthmover.train.command import build_config
    from earthmover.train.config import validate

    args = argparse.Namespace(preset=None, config=None)
    config = build_config(args)
    config.run.seed = seed
    if steps:
        config.run.steps = steps
    for item in overrides:
        key, _, value = item.partition("=")
        config.set(key, value)
    return validate(config)


def train_one(seed: int, args) -> tuple:
    """(seed, modes covered, high-quality share, EMD to data, training seconds) of one full run."""
    if args.threads:
        torch.set_num_threads(args.threads)
    config = default_config(seed, args.steps, args.set)
    trainer = Trainer(config, None, quiet=True)
    start = time.perf_counter()
    while trainer.step < config.run.steps:
        trainer.train_step()
    seconds = time.perf_counter() - start
    m = trainer.measure()
    print(
        f"seed {seed}: modes {m['modes_covered']}/25, high quality {100 * m['high_quality']:.1f}%, "
        f"EMD {m['emd']:.4f}, {seconds:.0f} s for {config.run.steps} steps",
        flush=True,
    )
    return seed, m["modes_covered"], m["high_quality"], m["emd"], seconds


def plain_loop_seconds_per_step(config: Config, steps: int) -> float:
    """A textbook WGAN-GP loop on the same networks and settings, for the speed ratio (with the
    config's lazy penalty: on every k-th critic step, scaled by k)."""
    from earthmover.train.build import build_critic, build_generator

    torch.manual_seed(config.run.seed)
    G, latent = build_generator(config, (2,))
    D = build_critic(config, (2,))
    o = config.optim
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
    from earthmover.data.toy import twenty_five_gaussians

    data, B, lam, every = twenty_five_gaussians(), config.data.batch_size, config.penalty.gp, config.penalty.every
    start, critic_steps = time.perf_counter(), 0
    for _ in range(steps):
        for _ in range(o.n_critic):
            real = data.sample(B)
            with torch.no_grad():
                fake = G(torch.randn(B, latent))
            loss = D(fake).score.mean() - D(real).score.mean()
            if critic_steps % every == 0:
                eps = torch.rand(B, 1)
                x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
                (grad,) = torch.autograd.grad(D(x_hat).score.sum(), x_hat, create_graph=True)
                loss = loss + lam * every * ((grad.norm(dim=1) - 1) ** 2).mean()
            critic_steps += 1
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        loss_g = -D(G(torch.randn(B, latent))).score.mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int_at_least(0), nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int_at_least(1, 300), default=None, help="default: the default config's steps")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for a tuning row, e.g. penalty.every=1",
    )
    parser.add_argument(
        "--threads", type=int_at_least(0, 1), default=0, help="torch threads per run (default 0: torch's)"
    )
    parser.add_argument(
        "--parallel", type=int_at_least(1, 2), default=1, help="seeds trained at once, one process each (default 1)"
    )
    parser.add_argument(
        "--speed-steps", type=int_at_least(1, 100), default=100, help="steps for the side-by-side speed ratio"
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the side-by-side speed ratio")
    args = parser.parse_args()
    try:  # every override checked before the first run
        default_config(0, args.steps, args.set)
    except EarthmoverError as exc:
        parser.error(str(exc))
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads per run, {args.parallel} at once, "
        f"overrides: {' '.join(args.set) or 'none'}"
    )
    if args.parallel > 1:
        with ProcessPoolExecutor(args.parallel) as pool:
            rows = list(pool.map(train_one, args.seeds, [args] * len(args.seeds)))
    else:
        rows = [train_one(seed, args) for seed in args.seeds]
    print(
        f"mean over {len(rows)} seeds: modes {statistics.mean(r[1] for r in rows):.2f}/25, "
        f"high quality {100 * statistics.mean(r[2] for r in rows):.1f}% (min {100 * min(r[2] for r in rows):.1f}%), "
        f"EMD {statistics.mean(r[3] for r in rows):.4f}, "
        f"{statistics.mean(r[4] for r in rows):.0f} s (max {max(r[4] for r in rows):.0f} s)"
    )
    if args.no_speed:
        return

    config = default_config(0, None, args.set)
    ours = []
    plain = []
    for _ in range(3):  # interleaved, medians
        trainer = Trainer(config, None, quiet=True)
        trainer.train_step()
        start = time.perf_counter()
        for _ in range(args.speed_steps):
            trainer.train_step()
        ours.append((time.perf_counter() - start) / args.speed_steps)
        plain.append(plain_loop_seconds_per_step(config, args.speed_steps))
    o, p = statistics.median(ours), statistics.median(plain)
    print(
        f"speed: earthmover {1000 * o:.1f} ms/step, plain loop {1000 * p:.1f} ms/step, ratio {o / p:.3f} "
        f"({args.speed_steps} steps x 3, medians)"
    )


if __name__ == "__main__":
    main()
