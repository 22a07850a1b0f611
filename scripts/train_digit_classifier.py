"""Train the digit classifier that ships in earthmover/metrics/weights/digits_cnn.pt.

    python scripts/train_digit_classifier.py --data PATH/TO/mnist.npz

Seeded and deterministic on CPU (up to thread scheduling); trains on x_train only,
reports accuracy on x_test, and writes the state_dict (float32, ~0.4 MB).
Check the shipped weights without training:

    python scripts/train_digit_classifier.py --data PATH/TO/mnist.npz --check

--data defaults to $EARTHMOVER_MNIST; the file holds uint8 x_train, y_train, x_test, y_test (Keras's
mnist.npz layout; the training guide, "Data").
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from earthmover.metrics.digits import DigitCNN, load_digit_cnn

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/earthmover/metrics/weights/digits_cnn.pt"


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [-1, 1]."""
    return torch.from_numpy(x).float().div(127.5).sub(1.0).unsqueeze(1)


@torch.inference_mode()
def accuracy(net: DigitCNN, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    net.eval()
    correct = sum(int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return correct / len(x)


def shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to max_shift pixels per sample (zero padding = background -1)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, 1, h, w + 2 * max_shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, 1, h, w)
    return out.gather(3, cols)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=os.environ.get("EARTHMOVER_MNIST"),
        required="EARTHMOVER_MNIST" not in os.environ,
        help="npz with x_train, y_train, x_test, y_test (uint8); default $EARTHMOVER_MNIST",
    )
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=0.0,
        help="0 keeps probabilities sharp, so real digits score an Inception Score near 10",
    )
    p.add_argument("--check", action="store_true", help="only report the test accuracy of the weights at --out")
    args = p.parse_args()

    d = np.load(args.data)
    x_test, y_test = to_tensor(d["x_test"]), torch.from_numpy(d["y_test"]).long()
    if args.check:
        net = load_digit_cnn(args.out)
        acc = accuracy(net, x_test, y_test)
        print(f"test accuracy {acc:.4f} ({int(round(acc * len(x_test)))}/{len(x_test)}) weights={args.out}")
        return

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    x_train, y_train = to_tensor(d["x_train"]), torch.from_numpy(d["y_train"]).long()
    net = DigitCNN()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(x_train) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for i in range(0, len(x_train), args.batch):
            idx = perm[i : i + args.batch]
            loss = F.cross_entropy(net(shift(x_train[idx], gen)), y_train[idx], label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(net, x_test, y_test)
        print(
            f"epoch {epoch + 1}/{args.epochs} loss {total / len(x_train):.4f} test acc {acc:.4f} "
            f"({time.time() - t0:.0f}s)",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, args.out)
    print(f"saved {args.out} ({Path(args.out).stat().st_size / 1e3:.0f} kB); test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
