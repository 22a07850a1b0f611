"""The main job's target: `earthmover train` with no arguments, over several seeds.

Prints, per seed, the modes covered (of 25), the high-quality share (2,500 samples within 3
standard deviations), the exact EMD to 2,500 data samples and the wall time of the training loop;
then the speed of our loop against a plain hand-written WGAN-GP loop (same networks, batch,
optimizers, penalty) run side by side, as a ratio of seconds per step.

    python benchmarks/quickstart.py --seeds 0 1 2            # the full default run per seed
    python benchmarks/quickstart.py --seeds 0 --steps 300    # a shorter check
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from earthmover.config import Config
from earthmover.train.loop import Trainer


def default_config(seed: int, steps: int | None) -> Config:
    # Exactly what `earthmover train` resolves with no arguments.
    from earthmover.train.command import build_config

    args = argparse.Namespace(preset=None, config=None)
    config = build_config(args)
    config.run.seed = seed
    if steps:
        config.run.steps = steps
    return config


def plain_loop_seconds_per_step(config: Config, steps: int) -> float:
    """A textbook WGAN-GP loop on the same networks and settings, for the speed ratio."""
    from earthmover.train.build import build_critic, build_generator

    torch.manual_seed(config.run.seed)
    G, latent = build_generator(config, (2,))
    D = build_critic(config, (2,))
    o = config.optim
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
    from earthmover.data.toy import twenty_five_gaussians

    data, B, lam = twenty_five_gaussians(), config.data.batch_size, config.penalty.gp
    start = time.perf_counter()
    for _ in range(steps):
        for _ in range(o.n_critic):
            real = data.sample(B)
            with torch.no_grad():
                fake = G(torch.randn(B, latent))
            eps = torch.rand(B, 1)
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(D(x_hat).score.sum(), x_hat, create_graph=True)
            gp = lam * ((grad.norm(dim=1) - 1) ** 2).mean()
            loss = D(fake).score.mean() - D(real).score.mean() + gp
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="default: the default config's steps")
    parser.add_argument("--speed-steps", type=int, default=100, help="steps for the side-by-side speed ratio")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = []
    for seed in args.seeds:
        config = default_config(seed, args.steps)
        trainer = Trainer(config, None, quiet=True)
        start = time.perf_counter()
        while trainer.step < config.run.steps:
            trainer.train_step()
        seconds = time.perf_counter() - start
        m = trainer.measure()
        rows.append((seed, m["modes_covered"], m["high_quality"], m["emd"], seconds))
        print(f"seed {seed}: modes {m['modes_covered']}/25, high quality {100 * m['high_quality']:.1f}%, "
              f"EMD {m['emd']:.4f}, {seconds:.0f} s for {config.run.steps} steps", flush=True)
    print(f"mean over {len(rows)} seeds: modes {statistics.mean(r[1] for r in rows):.2f}/25, "
          f"high quality {100 * statistics.mean(r[2] for r in rows):.1f}% (min {100 * min(r[2] for r in rows):.1f}%), "
          f"EMD {statistics.mean(r[3] for r in rows):.4f}, {statistics.mean(r[4] for r in rows):.0f} s (max {max(r[4] for r in rows):.0f} s)")

    config = default_config(0, None)
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
    print(f"speed: earthmover {1000 * o:.1f} ms/step, plain loop {1000 * p:.1f} ms/step, ratio {o / p:.3f} "
          f"({args.speed_steps} steps x 3, medians)")


if __name__ == "__main__":
    main()
