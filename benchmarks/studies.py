"""The studies' asserted numbers over seeds, and the full versions with their times.

Part 1 (--spread): every number the test suite asserts, at the --quick scale the tests use, over
seeds 0-4 (or --seeds): min, max and the threshold, so that no threshold rests on a lucky seed.
Part 2 (--full NAME ...): `earthmover study NAME` at full scale, seed 0: the claim's checks, the
verdict and the wall time.

    python benchmarks/studies.py --spread                       # seeds 0-4, quick scale
    python benchmarks/studies.py --full duality critic-vs-discriminator --out runs/studies
    python benchmarks/studies.py --spread --slow                # also the studies the suite skips

Times are wall-clock seconds on whatever machine runs this; on a shared CPU they are noisy.
"""

from __future__ import annotations

import argparse
import math
import time

import torch


def _asserted(name: str, r) -> dict[str, float]:
    """The numbers tests/test_studies*.py assert for study ``name``'s quick result."""
    if name == "parallel-lines":
        far = [i for i, t in enumerate(r.thetas) if abs(t) >= 0.5]
        return {
            "max |JS_est - log 2| / log 2, |theta| >= 0.5 (<= 0.05)": max(
                abs(r.estimated["js"][i] - r.log2) for i in far
            )
            / r.log2,
            "max |W_est - |theta||, theta != 0 (< 0.02)": r.max_w_error_off_zero,
        }
    if name == "vanishing-gradients":
        return {
            "saturating last/first (< 1e-2, i.e. falls >= 100x)": r.saturating_drop,
            "non-saturating last/first (> 1)": r.non_saturating_drop,
            "wasserstein last/first (> 1)": r.wasserstein_drop,
        }
    if name == "duality":
        out = {}
        for c in r.cases:
            out[f"{c.name}: |primal - dual| (<= 1e-9)"] = c.gap
            out[f"{c.name}: |primal - (E_a phi - E_b phi)| (<= 1e-9)"] = c.symmetric_gap
            out[f"{c.name}: Lip(phi) - 1 (|.| <= 1e-9)"] = c.lipschitz - 1.0
        return out
    if name == "critic-vs-discriminator":
        out = {}
        for s in r.settings:
            out[f"{s.name}: discriminator's gradient at the fakes (< 1e-2)"] = s.saturating_grad
            out[f"{s.name}: critic's gradient at the fakes (within 0.2 of 1)"] = s.critic_grad
        return out
    if name == "clipping-vs-penalty":
        o = r.outcomes[0]
        return {
            "clipped weights at +-c (> 0.15)": o.at_bounds["clipping"],
            "penalized weights at +-max (< 0.01)": o.at_bounds["penalty"],
            "clipped |grad D| at interpolates (< bound < 0.01)": o.grad_norm_mean["clipping"],
            "penalized |grad D| at interpolates (0.8 .. 1.2)": o.grad_norm_mean["penalty"],
        }
    if name == "critic-tracks-quality":
        return {f"{t.dataset} {t.preset}: Spearman({t.estimate_name}, {t.quality_name})": t.spearman for t in r.tracks}
    if name == "mode-collapse":
        return {f"{c.dataset} {c.preset}: modes": c.mean["modes_covered"] for c in r.cells}
    raise KeyError(name)


FAST = ["parallel-lines", "vanishing-gradients", "duality", "critic-vs-discriminator", "clipping-vs-penalty"]
SLOW = ["critic-tracks-quality"]


def spread(names: list[str], seeds: list[int]) -> None:
    from earthmover.studies.command import load_study
    from earthmover.studies.common import verdict

    for name in names:
        module = load_study(name)
        values: dict[str, list[float]] = {}
        times, verdicts = [], []
        for seed in seeds:
            t0 = time.perf_counter()
            r = module.run(seed=seed, quick=True)
            times.append(time.perf_counter() - t0)
            verdicts.append(verdict(module.checks(r)))
            for k, v in _asserted(name, r).items():
                values.setdefault(k, []).append(v)
        print(
            f"\n{name} --quick, seeds {seeds[0]}-{seeds[-1]}: {min(times):.1f}-{max(times):.1f} s per seed; "
            f"verdicts: {', '.join(verdicts)}"
        )
        for k, v in values.items():
            finite = [x for x in v if not math.isnan(x)]
            print(f"  {k}: {min(finite):.3g} .. {max(finite):.3g}   [{', '.join(f'{x:.3g}' for x in v)}]")


def full(names: list[str], out: str, seed: int) -> None:
    import json

    from earthmover.studies.command import run_study

    for name in names:
        t0 = time.perf_counter()
        _, png, json_path = run_study(name, out, seed, quick=False)
        rec = json.loads(json_path.read_text())
        print(f"\n{name} (full, seed {seed}): {rec['verdict']} in {time.perf_counter() - t0:.1f} s  [{png}]")
        for c in rec["checks"]:
            v = c["value"]
            print(
                f"  {c['what']}: {v if isinstance(v, str) else f'{v:.4g}'} (needs {c['threshold']}) "
                f"{'holds' if c['holds'] else 'DOES NOT HOLD'}"
            )
        for n in rec.get("notes") or []:
            print(f"  note: {n}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spread", action="store_true", help="asserted numbers over seeds at quick scale")
    p.add_argument("--slow", action="store_true", help="with --spread: also critic-tracks-quality")
    p.add_argument("--names", nargs="+", default=None, help="with --spread: only these studies")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--full", nargs="*", default=[], metavar="NAME", help="studies to run at full scale")
    p.add_argument("--out", default="runs/studies-full")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    if args.spread:
        spread(args.names or FAST + (SLOW if args.slow else []), args.seeds)
    if args.full:
        full(args.full, args.out, args.seed)


if __name__ == "__main__":
    main()
