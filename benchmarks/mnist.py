"""Issue 9's MNIST quality targets: earthmover against a plain reference loop, at the same wall time.

Two contenders train on MNIST (60,000 training images, [-1, 1]) for the same number of seconds of
training (evaluation pauses the clock), each on its own CPU thread:

* ``earthmover``: the Trainer with a preset (default ``wgan-gp``), ``model.arch = wgan-gp-mnist``
  and the overrides given with ``--set`` (default: batch 50, EMA 0.999); scored with the EMA
  generator when the run keeps one, and with the raw generator too.
* ``reference``: a loop written out here, independent of the library, with the WGAN-GP paper's
  MNIST script (gan_mnist.py): its networks (DIM 64, latent 128, 5x5 stride-2 (de)convolutions,
  no normalization), Adam 1e-4 with betas (0.5, 0.9), lambda 10, n_critic 5, batch 50; tanh output
  instead of sigmoid since the data here is in [-1, 1].

At every ``--eval-every`` seconds of training both report, on ``--n`` samples: digit-FID (the
shipped digit classifier's features, against the MNIST test split), the classifier's mean top-class
probability, and the number of digit classes present. The issue's targets (30 minutes, 2 cores):
mean top-class probability >= 0.9 with all 10 digits present; earthmover reaches the reference's
final digit-FID in at most half the wall time and ends lower.

    python benchmarks/mnist.py --minutes 30 --eval-every 300         # the issue's protocol, side by side
    python benchmarks/mnist.py --minutes 1 --eval-every 30 --n 500   # a quick check that it runs
    python benchmarks/mnist.py --only reference --minutes 30         # one contender (two shells: side by side)
    python benchmarks/mnist.py --set optim.lr_g=2e-4 --set optim.lr_d=2e-4 --preset wgan-gp
    python benchmarks/mnist.py --only earthmover --preset mnist --threads 2 --out runs/mnist --truncation 1.5 1.0

The data comes from $EARTHMOVER_MNIST, else shared/data/mnist.npz beside the current folder or the repository.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from earthmover.arguments import int_at_least, positive_float
from earthmover.errors import EarthmoverError
from earthmover.paths import output_dir

REPO = Path(__file__).resolve().parents[1]


def mnist_path() -> str:
    """$EARTHMOVER_MNIST, else shared/data/mnist.npz beside the current folder, the repository or their parents."""
    if os.environ.get("EARTHMOVER_MNIST"):
        return os.environ["EARTHMOVER_MNIST"]
    for root in (Path.cwd(), REPO):
        for d in (root, *root.parents):
            if (d / "shared" / "data" / "mnist.npz").exists():
                return str(d / "shared" / "data" / "mnist.npz")
    raise SystemExit("no mnist.npz found; set EARTHMOVER_MNIST to an mnist.npz (x_train, x_test)")


def mnist_config(preset: str, values: dict, overrides=()):
    """(a Config of ``preset`` on the MNIST file with ``values`` and then the "KEY=VALUE" ``overrides``
    set, the values set); string values are converted to each field's type by ``Config.set``."""
    from earthmover.train.config import Config

    os.environ["EARTHMOVER_MNIST"] = mnist_path()
    config = Config.from_preset(preset)
    values = dict(values)
    for item in overrides:
        key, _, value = item.partition("=")
        values[key] = value
    for key, value in values.items():
        config.set(key, value)  # converts "KEY=VALUE" strings to the field's type; a bad one is one line
    return config, values


# ---------------------------------------------------------------------- scoring


class Scorer:
    """Digit-FID, the classifier's mean top-class probability ("confidence"), digits present and classes
    covered of n samples; with ``precision_recall``, improved precision and recall too (digit features, k = 3)."""

    def __init__(self, n: int, precision_recall: bool = False):
        from earthmover.metrics import Evaluator

        self.n = n
        self.evaluator = Evaluator(
            ["fid", "coverage", *(["pr"] if precision_recall else [])], features="digits", reference="mnist:test", n=n
        )

    def __call__(self, sample_fn) -> dict:
        return self.score(sample_fn(self.n))[0]

    def score(self, images) -> tuple[dict, np.ndarray]:
        """(the figures above, the classifier's class probabilities (N, 10)) of these images."""
        from earthmover.metrics.features import extract

        fake = extract(self.evaluator.extractor, images, want_probs=True)
        scores = {r.name: float(r.value) for r in self.evaluator.score_features(fake)}
        return {
            "fid": scores["fid"],
            "confidence": float(fake.probs.max(axis=1).mean()),
            "digits": int(len(set(fake.probs.argmax(axis=1).tolist()))),
            "covered": int(scores["coverage"]),
            **{k: scores[k] for k in ("precision", "recall") if k in scores},
        }, fake.probs


# ---------------------------------------------------------------------- the reference loop


class RefGenerator(nn.Module):
    def __init__(self, dim: int = 64, latent: int = 128):
        super().__init__()
        self.dim = dim
        self.fc = nn.Linear(latent, 4 * 4 * 4 * dim)
        self.d1 = nn.ConvTranspose2d(4 * dim, 2 * dim, 5, 2, 2, output_padding=1)
        self.d2 = nn.ConvTranspose2d(2 * dim, dim, 5, 2, 2, output_padding=1)
        self.d3 = nn.ConvTranspose2d(dim, 1, 5, 2, 2, output_padding=1)

    def forward(self, z):
        h = F.relu(self.fc(z)).view(-1, 4 * self.dim, 4, 4)
        h = F.relu(self.d1(h))[:, :, :7, :7]
        h = F.relu(self.d2(h))
        return torch.tanh(self.d3(h))


class RefCritic(nn.Module):
    def __init__(self, dim: int = 64):
        super().__init__()
        self.c1, self.c2, self.c3 = (
            nn.Conv2d(1, dim, 5, 2, 2),
            nn.Conv2d(dim, 2 * dim, 5, 2, 2),
            nn.Conv2d(2 * dim, 4 * dim, 5, 2, 2),
        )
        self.out = nn.Linear(4 * 4 * 4 * dim, 1)

    def forward(self, x):
        h = F.leaky_relu(self.c1(x), 0.2)
        h = F.leaky_relu(self.c2(h), 0.2)
        h = F.leaky_relu(self.c3(h), 0.2)
        return self.out(h.flatten(1)).squeeze(1)


def reference_contender(args, report):
    torch.manual_seed(args.seed)
    data = np.load(mnist_path())
    x = torch.from_numpy(data["x_train"]).float().div(127.5).sub(1).unsqueeze(1)
    G, D = RefGenerator(), RefCritic()
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
    batch, lam, n_critic = 50, 10.0, 5

    def real_batch():
        return x[torch.randint(len(x), (batch,))]

    def step():
        for _ in range(n_critic):
            real, fake = real_batch(), G(torch.randn(batch, 128)).detach()
            eps = torch.rand(batch, 1, 1, 1)
            mid = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(mid).sum(), mid, create_graph=True)
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss_d = D(fake).mean() - D(real).mean() + lam * gp
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        for p in D.parameters():
            p.requires_grad_(False)
        loss_g = -D(G(torch.randn(batch, 128))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for p in D.parameters():
            p.requires_grad_(True)

    def sample(n):
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            return G(torch.randn(n, 128, generator=g))

    run_clock(args, "reference", step, {"": sample}, report)


# ---------------------------------------------------------------------- earthmover


def earthmover_config(args):
    """(earthmover's config for these arguments, validated; the values set). Nothing is written."""
    from earthmover.train.config import validate

    values = {
        "data.name": "mnist",
        "model.arch": "wgan-gp-mnist",
        "data.batch_size": 50,
        "model.ema": 0.999,
        "run.device": "cpu",
        "run.threads": args.threads,
        "run.seed": args.seed,
        "run.eval_metrics": "",
    }
    config, values = mnist_config(args.preset, values, args.set)
    return validate(config), values


def earthmover_contender(args, report):
    from earthmover.train.loop import Trainer

    config, values = earthmover_config(args)
    out = Path(args.out) if args.out else None
    trainer = Trainer(config, run_dir=out, quiet=True, write_files=out is not None)
    samplers = {"raw": lambda n: trainer.sample(n, seed=1, use_ema=False)}
    if trainer.ema is not None:
        samplers["ema"] = lambda n: trainer.sample(n, seed=1, use_ema=True)
    report({"contender": "earthmover", "config": {k: config.get(k) for k in values}})
    trained = run_clock(args, "earthmover", trainer.train_step, samplers, report, threads=args.threads)
    if args.truncation:  # the truncation trick on the final generator (EMA when kept): fewer, surer digits
        from earthmover.train.loop import eval_mode
        from earthmover.train.sampler import Sampler

        net = trainer.ema.module if trainer.ema is not None else trainer.generator
        sampler, scorer = Sampler(net, trainer.latent, config, trainer.device), Scorer(args.n)
        for t in args.truncation:
            with eval_mode(net):
                report(
                    {
                        "contender": f"earthmover/{'ema' if trainer.ema is not None else 'raw'} truncation {t}",
                        "seconds": round(trained, 1),
                        "steps": trainer.step,
                        **scorer(functools.partial(sampler.sample, seed=1, truncation=t)),
                    }
                )
    if out is not None:  # a run directory that `earthmover eval / sample --run` read
        out.mkdir(parents=True, exist_ok=True)
        config.save(out / "config.toml")
        trainer.save()


def contender(which, args, report):
    (earthmover_contender if which == "earthmover" else reference_contender)(args, report)


# ---------------------------------------------------------------------- the clock


def run_clock(args, name, step, samplers, report, scorer=None, threads: int = 1):
    """Call ``step`` until ``args.minutes`` of its own time have passed, and every ``args.eval_every``
    seconds of it (and at the end) report ``scorer(fn)`` (default: :class:`Scorer`) for each named sampler.
    Returns the seconds of training on the clock."""
    torch.set_num_threads(threads)
    scorer = scorer or Scorer(args.n)
    budget, every = args.minutes * 60, args.eval_every
    trained, steps, next_eval = 0.0, 0, every
    while trained < budget:
        t0 = time.perf_counter()
        step()
        trained += time.perf_counter() - t0
        steps += 1
        if trained >= next_eval or trained >= budget:
            next_eval += every
            for label, fn in samplers.items():
                report(
                    {
                        "contender": name + (f"/{label}" if label else ""),
                        "seconds": round(trained, 1),
                        "steps": steps,
                        **scorer(fn),
                    }
                )
    return trained


def _worker(target, index, job, args, queue):
    try:
        target(job, args, queue.put)
    finally:  # a failed job says so too (its traceback is on stderr), so the parent never waits for it
        queue.put(("done", index))


def side_by_side(target, jobs, args, report, at_once: int | None = None):
    """``target(job, args, report)`` for each job, each in its own spawned process, ``at_once`` of them
    (default: all) at a time; their records come back to ``report`` here as they are made."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    waiting, running = list(enumerate(jobs)), {}
    at_once = at_once or len(waiting)
    # `kill PID` of this process used to leave its jobs training on as orphans: a SIGTERM now unwinds through
    # the `finally` below, which stops them (Ctrl-C reaches the whole process group anyway).
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        while waiting or running:
            while waiting and len(running) < at_once:
                index, job = waiting.pop(0)
                running[index] = ctx.Process(target=_worker, args=(target, index, job, args, queue))
                running[index].start()
            record = queue.get()
            if isinstance(record, tuple):  # ("done", index): that job's process is finishing
                running.pop(record[1]).join()
            else:
                report(record)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in running.values():
            process.terminate()
            process.join()


def run_and_record(target, jobs, args, summarize, at_once: int = 1) -> list[dict]:
    """``target(job, args, report)`` for each job (side by side, ``at_once`` at a time, when above 1),
    each record printed as a JSON line as it comes; then ``summarize(records)``, and the records
    written to ``args.json`` as JSON lines when it is set."""
    records = []

    def report(record):
        records.append(record)
        print(json.dumps(record), flush=True)

    if at_once > 1 and len(jobs) > 1:
        side_by_side(target, jobs, args, report, at_once=at_once)
    else:
        for job in jobs:
            target(job, args, report)
    summarize(records)
    if getattr(args, "json", None):
        Path(args.json).write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def refuse_bad_arguments(parser, out: str | None, configs) -> None:
    """Before anything is trained or written: the output folder (when given) and each of ``configs``
    (callables that build and validate a run's config); a failure is ``parser.error``'s one line, exit 2."""
    try:
        if out:
            output_dir(out, "--out")
        for build in configs:
            build()
    except (EarthmoverError, ValueError) as exc:
        parser.error(str(exc))


def read_records(files) -> list[dict]:
    """The records of JSON-lines files written by :func:`run_and_record`."""
    return [json.loads(line) for f in files for line in Path(f).read_text().splitlines() if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="training wall time per contender (default 30)")
    p.add_argument("--eval-every", type=float, default=300.0, help="seconds of training between scores (default 300)")
    p.add_argument("--n", type=int, default=1000, help="samples scored (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="wgan-gp")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for earthmover")
    p.add_argument("--only", choices=("earthmover", "reference"), help="run one contender")
    p.add_argument("--sequential", action="store_true", help="one contender after the other instead of side by side")
    p.add_argument("--json", help="also write the records as JSON lines here")
    p.add_argument(
        "--threads",
        type=int_at_least(1, 2),
        default=1,
        help="torch threads for earthmover (default 1; the reference: 1)",
    )
    p.add_argument(
        "--out", help="save earthmover's run here (config.toml, checkpoint) for `earthmover eval/sample --run`"
    )
    p.add_argument(
        "--truncation",
        type=positive_float(1.5),
        nargs="*",
        default=[],
        help="also score earthmover's final generator with these truncation thresholds",
    )
    args = p.parse_args()
    which = [args.only] if args.only else ["earthmover", "reference"]
    # checked before 30 minutes of training, not after
    refuse_bad_arguments(p, args.out, [lambda: earthmover_config(args)] if "earthmover" in which else [])
    # side by side (one process and one thread each) unless --sequential
    run_and_record(contender, which, args, summarize, at_once=1 if args.sequential else len(which))


def summarize(records):
    scored = [r for r in records if "fid" in r]
    finals = {}
    for r in scored:
        finals[r["contender"]] = r
    print("\nfinal scores")
    for name, r in finals.items():
        print(
            f"  {name:16s} {r['steps']:6d} steps in {r['seconds']:7.0f}s: digit-FID {r['fid']:8.2f}, "
            f"confidence {r['confidence']:.3f}, digits present {r['digits']}/10, classes covered {r['covered']}"
        )
    ref = finals.get("reference")
    if ref:
        for name in finals:
            if name.startswith("earthmover"):
                reached = [r["seconds"] for r in scored if r["contender"] == name and r["fid"] <= ref["fid"]]
                when = (
                    f"{reached[0]:.0f}s ({reached[0] / ref['seconds']:.2f} of the reference's time)"
                    if reached
                    else "never"
                )
                print(f"  {name} reached the reference's final digit-FID {ref['fid']:.2f} at {when}")


if __name__ == "__main__":
    main()
