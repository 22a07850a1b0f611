"""Issue 10's control targets on MNIST: conditional GANs (concat, projection), AC-GAN, and InfoGAN's code.

Each model trains on MNIST (60,000 training images, [-1, 1]) for ``--minutes`` of its own training time
(scoring pauses the clock, as in benchmarks/mnist.py), one CPU thread per run, with the ``dcgan`` preset
(non-saturating loss, Adam 2e-4 with betas (0.5, 0.999), one critic step per generator step), the DCGAN
networks (``model.arch = auto``), batch 64 and an EMA of the generator (0.999). Why ``dcgan``: on the
2-core box one step of it takes about 0.25 s with one thread, against about 1.4 s for ``wgan-gp`` (five
critic steps, each with a double backward, per generator step), so it sees about six times more images
in the same minutes; it is also the objective the AC-GAN and InfoGAN papers trained with.

Scored every ``--eval-every`` seconds of training and at the end, the raw generator and its EMA:

* ``concat``, ``projection``, ``acgan``: ``--n`` samples asked for the labels 0..9 in equal shares; the
  shipped digit classifier's agreement with the requested label, its mean top-class probability, and the
  digit-FID against the MNIST test split. Issue 10's targets (30 minutes, 2 CPU cores each): agreement
  >= 95% and mean top-class probability >= 0.9.
* ``infogan`` (``--infogan``): ``--n`` samples of random codes; the categorical code's accuracy against the
  classifier's labels under the best one-to-one matching (``metrics.code_accuracy``), mean top-class
  probability and digit-FID. Target: >= 90% (the paper reports about 95%), over at least two seeds.

    python benchmarks/conditional.py --minutes 30                                  # concat, projection, acgan in turn
    python benchmarks/conditional.py --models concat projection --parallel 2 --minutes 11 --json a.jsonl
    python benchmarks/conditional.py --infogan --seeds 0 1 --parallel 2 --minutes 11 --json b.jsonl
    python benchmarks/conditional.py --infogan --preset infogan --seeds 0 1 --parallel 2   # the InfoGAN paper's run
    python benchmarks/conditional.py --table a.jsonl b.jsonl                       # one table of saved records
    python benchmarks/conditional.py --models acgan --minutes 0.5 --eval-every 15 --n 200   # a check that it runs

``--preset`` replaces ``dcgan``; a preset's own batch size (``infogan``: 128, with its networks and
rates) stands over the default 64 above.

Each run is saved in ``--out``/MODEL-sSEED (config.toml, a checkpoint of the last step, and control.png:
one row per class, or InfoGAN's code sweep), so ``earthmover sample --run`` and benchmarks/truncation.py
can use it. The data comes from $EARTHMOVER_MNIST, else shared/data/mnist.npz (see benchmarks/mnist.py).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np
import torch
from mnist import Scorer, mnist_config, read_records, refuse_bad_arguments, run_and_record, run_clock

from earthmover.arguments import int_at_least

MODELS = {
    "concat": {"model.conditional": "concat"},
    "projection": {"model.conditional": "projection"},
    "acgan": {"head.acgan": 1.0},
    "infogan": {"head.infogan": 1.0},
}
TARGETS = {"agreement": 0.95, "confidence": 0.9, "code_accuracy": 0.90}


class ControlScorer(Scorer):
    """:class:`Scorer`'s figures of ``sample_fn(n) -> (images, truth)``, plus how the classifier's labels
    meet ``truth``: the requested labels ("agreement"), or with ``codes`` InfoGAN's categorical code
    ("code_accuracy" under the best one-to-one matching, and that matching). ``truth`` None: neither."""

    def __init__(self, n: int, codes: bool = False, precision_recall: bool = False):
        super().__init__(n, precision_recall)
        self.codes = codes

    def __call__(self, sample_fn) -> dict:
        images, truth = sample_fn(self.n)
        scores, probs = self.score(images)
        predicted = probs.argmax(axis=1)
        if truth is not None and self.codes:
            from earthmover.metrics import code_accuracy

            scores["code_accuracy"], mapping = code_accuracy(predicted, truth, probs.shape[1])
            scores["code_to_digit"] = {str(code): digit for code, digit in mapping.items()}
        elif truth is not None:
            scores["agreement"] = float((predicted == np.asarray(truth)).mean())
        return scores


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    """0, 1, ..., K-1, 0, 1, ...: n labels in equal shares (100 of each of 10 for n = 1,000)."""
    return torch.arange(n) % num_classes


def control_sampler(sampler, codes: bool, seed: int = 1):
    """``fn(n) -> (images, truth)`` for :class:`ControlScorer`, from a :class:`earthmover.train.sampler.Sampler`:
    InfoGAN's random codes and their categorical code, or balanced labels (a conditional generator),
    or no truth (an unconditional one)."""

    def draw(n: int, truncation: float | None = None):
        if codes:
            d = sampler.latent.draw(n, torch.Generator().manual_seed(seed), truncation)
            return sampler.generate(d), d.codes.categorical[:, 0].numpy()
        labels = balanced_labels(n, sampler.num_classes) if sampler.num_classes else None
        images = sampler.sample(n, seed=seed, truncation=truncation, labels=labels)
        return images, None if labels is None else labels.numpy()

    return draw


def run_config(job, args):
    """(the config of one run, job = (model, seed), validated; the values set). Nothing is written."""
    from earthmover.train.config import validate
    from earthmover.train.presets import preset_values

    model, seed = job
    values = {
        "data.name": "mnist",
        "data.batch_size": 64,
        "model.ema": 0.999,
        "run.device": "cpu",
        "run.threads": 1,
        "run.seed": seed,
        "run.eval_metrics": "",
        **MODELS[model],
    }
    preset = preset_values(args.preset)  # the preset's own batch size (or head weight) stands
    values = {k: v for k, v in values.items() if k not in preset}
    config, values = mnist_config(args.preset, values, args.set)
    return validate(config), values


def run(job, args, report):
    """Train one model (job = (model, seed)) on the clock, then save it and draw its control picture."""
    from earthmover import cli
    from earthmover.train.loop import Trainer, eval_mode
    from earthmover.train.sampler import Sampler

    model, seed = job
    config, values = run_config(job, args)
    name, codes = f"{model}-s{seed}", model == "infogan"
    run_dir = Path(args.out) / name
    trainer = Trainer(config, run_dir=run_dir, quiet=True)
    report({"contender": name, "config": {k: config.get(k) for k in values}})

    def sampler_of(use_ema: bool):
        net = trainer.ema.module if use_ema else trainer.generator
        draw = control_sampler(Sampler(net, trainer.latent, config, trainer.device), codes)

        def fn(n):
            with eval_mode(net):
                return draw(n)

        return fn

    samplers = {"raw": sampler_of(False), **({"ema": sampler_of(True)} if trainer.ema is not None else {})}
    run_clock(args, name, trainer.train_step, samplers, report, ControlScorer(args.n, codes))
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.toml")
    trainer.save()
    cli.main(
        [
            "sample",
            "--run",
            str(run_dir),
            *(["--code-sweep"] if codes else ["--per-label", "10"]),
            "--out",
            str(run_dir / "control.png"),
        ]
    )


# ---------------------------------------------------------------------- the table


def met(record: dict) -> str:
    """Whether a final record meets issue 10's target for its kind of model."""
    if "code_accuracy" in record:
        return "yes" if record["code_accuracy"] >= TARGETS["code_accuracy"] else "no"
    if "agreement" in record:
        ok = record["agreement"] >= TARGETS["agreement"] and record["confidence"] >= TARGETS["confidence"]
        return "yes" if ok else "no"
    return ""


def summarize(records: list[dict]) -> None:
    finals = {}
    for r in records:
        if "fid" in r:
            finals[r["contender"]] = r
    if not finals:
        return
    print("\nfinal scores (target: agreement >= 95% and confidence >= 0.9; InfoGAN code accuracy >= 90%)\n")
    print(
        "| run / generator | steps | training s | agreement | code accuracy | confidence | digit-FID | digits | "
        "target met |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, r in sorted(finals.items()):
        agree = f"{100 * r['agreement']:.1f}%" if "agreement" in r else ""
        code = f"{100 * r['code_accuracy']:.1f}%" if "code_accuracy" in r else ""
        print(
            f"| {name} | {r['steps']} | {r['seconds']:.0f} | {agree} | {code} | {r['confidence']:.3f} | {r['fid']:.2f} "
            f"| {r['digits']}/10 | {met(r)} |"
        )
    for generator in ("raw", "ema"):
        seeds = [
            r["code_accuracy"] for name, r in finals.items() if "code_accuracy" in r and name.endswith("/" + generator)
        ]
        if len(seeds) > 1:
            print(
                f"\nInfoGAN code accuracy ({generator} generator) over {len(seeds)} seeds: "
                f"mean {100 * np.mean(seeds):.1f}%, min {100 * min(seeds):.1f}%, max {100 * max(seeds):.1f}%"
            )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=["concat", "projection", "acgan"])
    p.add_argument("--infogan", action="store_true", help="the InfoGAN measurement (same as --models infogan)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--minutes", type=float, default=30.0, help="training wall time per run (default 30)")
    p.add_argument("--eval-every", type=float, default=300.0, help="seconds of training between scores (default 300)")
    p.add_argument("--n", type=int, default=1000, help="samples scored (default 1000: 100 per label)")
    p.add_argument("--preset", default="dcgan")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, e.g. model.ema=0")
    p.add_argument(
        "--parallel", type=int_at_least(1, 2), default=1, help="runs at a time, each in its own process (default 1)"
    )
    p.add_argument("--out", default="runs/conditional", help="folder for the runs (default runs/conditional)")
    p.add_argument("--json", help="also write the records as JSON lines here")
    p.add_argument("--table", nargs="+", metavar="JSONL", help="only print the table of records saved with --json")
    args = p.parse_args()
    if args.table:
        summarize(read_records(args.table))
        return
    jobs = [(m, s) for m in (["infogan"] if args.infogan else args.models) for s in args.seeds]
    refuse_bad_arguments(p, args.out, [partial(run_config, job, args) for job in jobs])
    run_and_record(run, jobs, args, summarize, at_once=args.parallel)


if __name__ == "__main__":
    main()
