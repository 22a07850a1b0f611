"""Speed of the exact earth mover's distance solvers, and the overhead of our network-simplex path.

    python benchmarks/transport.py                      # full run (a few minutes on 2 busy cores)
    python benchmarks/transport.py --sizes 10 50 --max-lp-seconds 5

Part 1: median wall time of each exact method for n = m points, uniform weights:
  - on the same random points on a line (so all three methods apply): "lp" (scipy HiGHS on
    the primal LP), "network-simplex" (POT), "1d" (closed form, from the points); the cost
    matrix is built once beforehand and not timed (the 1-D method never needs it);
  - "network-simplex" again on random points in the plane (the usual case; "1d" does not apply).
  The LP runs while a single solve is predicted to take under --max-lp-seconds (predicted from
  the previous size with time ~ n^2.5). The largest disagreement with the first method is printed.

Part 2: overhead of ``earthmover.ot.emd(a, b, M, method="network-simplex")`` against a direct
``ot.emd(a, b, M, log=True)`` on the same input (POT's default call, which checks the marginals
itself), and against ``ot.emd(..., log=True, check_marginals=False)`` (the exact call we make);
calls interleaved, medians of many repeats. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import platform
import statistics
import time

import numpy as np


def _median_time(fn, min_repeats: int, budget_s: float) -> tuple[float, int]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    repeats = max(min_repeats, min(200, int(budget_s / max(first, 1e-9))))
    times = [first]
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _keeping(values: dict, key: str, solve, *args):
    """A timing body: solve(*args), its distance kept in values[key] (bound now, not at call time)."""
    return lambda: values.__setitem__(key, solve(*args).distance)


def speed_table(sizes, max_lp_seconds: float, seed: int) -> None:
    from earthmover.ot import cost_matrix, emd, emd_1d

    print("## time per exact solve (median), n = m, uniform weights")
    print("| n | lp (line) | network-simplex (line) | 1d (line) | network-simplex (plane) | max disagreement |")
    print("|---|---|---|---|---|---|")
    lp_last = None  # (n, seconds)
    for n in sizes:
        rng = np.random.default_rng(seed + n)
        x, y = rng.normal(size=n), rng.normal(size=n) + 0.5
        M = np.ascontiguousarray(cost_matrix(x, y))
        p, q = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 0.5
        M2 = np.ascontiguousarray(cost_matrix(p, q))
        budget = 2.0 if n <= 1000 else 0.0
        values = {}
        t_1d, _ = _median_time(_keeping(values, "1d", emd_1d, x, y), 5, budget)
        t_ns, _ = _median_time(_keeping(values, "ns", emd, None, None, M, "network-simplex"), 3, budget)
        t_ns2, _ = _median_time(functools.partial(emd, None, None, M2, "network-simplex"), 3, budget)
        t_lp = None
        predicted = 0.0 if lp_last is None else lp_last[1] * (n / lp_last[0]) ** 2.5
        if predicted < max_lp_seconds:
            t_lp, _ = _median_time(_keeping(values, "lp", emd, None, None, M, "lp"), 1, budget)
            lp_last = (n, t_lp)
        ref = values["1d"]
        worst = max(abs(v - ref) for v in values.values())
        print(f"| {n} | {_fmt(t_lp)} | {_fmt(t_ns)} | {_fmt(t_1d)} | {_fmt(t_ns2)} | {worst:.1e} |", flush=True)


def overhead_table(sizes, seed: int, budget_s: float) -> None:
    import ot

    from earthmover.ot import emd

    print()
    print("## overhead of earthmover.ot.emd(method='network-simplex') over a direct POT call (points in the plane)")
    print(
        "| n | ot.emd(log=True) | ot.emd(log=True, check_marginals=False) | ours "
        "| ours / POT default | ours / same call |"
    )
    print("|---|---|---|---|---|---|")
    for n in sizes:
        rng = np.random.default_rng(seed + 7 * n)
        p, q = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 0.5
        a, b = np.full(n, 1.0 / n), np.full(n, 1.0 / n)
        M = ot.dist(p, q, metric="euclidean")
        calls = {
            "pot": functools.partial(ot.emd, a, b, M, log=True),
            "pot_same": functools.partial(ot.emd, a, b, M, log=True, check_marginals=False),
            "ours": functools.partial(emd, a, b, M, "network-simplex"),
        }
        for fn in calls.values():  # warm up
            fn()
        t0 = time.perf_counter()
        calls["pot"]()
        one = time.perf_counter() - t0
        rounds = max(30, min(3000, int(budget_s / (3 * max(one, 1e-9)))))
        times = {k: [] for k in calls}
        for r in range(rounds):
            order = list(calls) if r % 2 == 0 else list(reversed(calls))  # interleave, alternate order
            for k in order:
                t0 = time.perf_counter()
                calls[k]()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"| {n} | {_fmt(med['pot'])} | {_fmt(med['pot_same'])} | {_fmt(med['ours'])} | "
            f"{med['ours'] / med['pot']:.3f} | {med['ours'] / med['pot_same']:.3f} |  ({rounds} interleaved rounds)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100, 300, 1000, 3000])
    parser.add_argument("--overhead-sizes", type=int, nargs="+", default=[10, 50, 100, 300, 1000])
    parser.add_argument("--max-lp-seconds", type=float, default=20.0)
    parser.add_argument("--overhead-seconds", type=float, default=6.0, help="time budget per overhead size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import ot
    import scipy

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, POT {ot.__version__}, "
        f"{platform.machine()}"
    )
    speed_table(args.sizes, args.max_lp_seconds, args.seed)
    overhead_table(args.overhead_sizes, args.seed, args.overhead_seconds)


if __name__ == "__main__":
    main()
