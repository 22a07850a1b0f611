"""Train WGAN-GP on MNIST with the Python API, then look at what it drew.

    python examples/train_mnist.py                       # 300 steps: a few minutes on a laptop CPU
    python examples/train_mnist.py --steps 3000          # digits good enough to read: ~16 minutes on 2 CPU cores
    python examples/train_mnist.py --steps 2000 --out runs/my-mnist

The data: a local mnist.npz when there is one ($EARTHMOVER_MNIST: uint8 arrays x_train, y_train, x_test,
y_test, the layout of Keras's mnist.npz), else MNIST is downloaded once from its public location, checked
by SHA-256 and cached (~/.cache/earthmover/datasets).

The run directory then holds samples/final.png (a 10 x 10 grid of the EMA generator),
samples/training.gif (the fixed-latent grids over training), plots/losses.png, metrics.jsonl,
summary.json (with the digit-FID of the EMA generator) and checkpoints/ to continue from
(`earthmover train --resume DIR --steps N`).
"""

import argparse
import sys

from earthmover import Config, EarthmoverError, Trainer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="generator steps (default 300)")
    parser.add_argument("--out", default="runs/mnist-example", help="the run directory")
    parser.add_argument("--data", default="mnist", help="mnist, or a path to an .npz of digits")
    parser.add_argument("--width", type=int, default=64, help="DIM of the WGAN-GP paper's MNIST networks")
    parser.add_argument("--eval-n", type=int, default=2000, help="samples for the digit-FID at the end")
    args = parser.parse_args(argv)

    # the recommended MNIST run: WGAN-GP (lambda 10) on the paper's MNIST networks, Adam 2e-4,
    # betas (0.5, 0.9), n_critic 2, batch 50, and an EMA of the generator's weights (0.999) to sample
    config = Config.from_preset("mnist")
    config.set("data.name", args.data)
    config.set("model.width", args.width)
    config.set("run.steps", args.steps)
    config.set("run.sample_every", max(1, args.steps // 10))  # ten frames for the GIF
    config.set("run.checkpoint_every", args.steps)
    config.set("run.eval_n", args.eval_n)  # run.eval_metrics is "auto": digit-FID on MNIST

    summary = Trainer(config, run_dir=args.out).fit()
    print(summary.line())
    print(f"look at {args.out}/samples/final.png and {args.out}/samples/training.gif")
    return summary


if __name__ == "__main__":
    try:
        main()
    except EarthmoverError as exc:  # a bad value, path or name: one line and status 2, as the earthmover command
        print(f"train_mnist.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
