"""`earthmover emd A B`: the earth mover's distance between two files of points or histograms.

Reading a file (.npy, .npz or .csv):

- a 2-D array of shape (n, d) is n points in d dimensions with uniform weights;
- a 1-D array of length k is a histogram: weights on the bins 0, 1, ..., k-1 of a line
  (the ground cost is |i - j|, so the distance is in bins);
- a .npz holds either one array (read as above) or ``points`` with an optional ``weights``;
- a .csv has one point per row and one coordinate per column (commas); a single row or a
  single column is a histogram;
- ``--kind points`` or ``--kind histogram`` overrides the guess (``points`` turns a 1-D array
  into points on a line).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from earthmover import cli_values, paths
from earthmover.data import numpy_files
from earthmover.errors import EarthmoverError
from earthmover.odd_paths import refuse_special
from earthmover.train import memory

# Bytes per pair of points that `earthmover emd` holds at its peak, by method: the n x m cost matrix
# and plan (8 + 8), the solver's own arrays (POT's network simplex: cost, flow and state per arc, about
# 17; HiGHS: the constraint matrix with 2 nonzeros per pair and its copies, about 80), and the
# duality check's temporaries (about 25). Measured peaks on 2000 x 2000 points stay below these.
BYTES_PER_PAIR = {"network-simplex": 60, "lp": 120, "1d": 45}


def load_distribution(path: str | Path, kind: str = "auto") -> tuple[np.ndarray, np.ndarray | None, str]:
    """Read (points (n, d), weights (n,) or None, kind) from a .npy, .npz or .csv file."""
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(f"{path} is a folder; pass a .npy, .npz or .csv file")
    refuse_special(path, "points")
    if not path.is_file():
        raise EarthmoverError(f"{path} does not exist; pass a .npy, .npz or .csv file")
    suffix = path.suffix.lower()
    weights = None
    reason = numpy_files.not_numpy_reason(path)
    if reason:
        raise EarthmoverError(f"{path} cannot be read: it is {reason}")
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "points" in z.files:
                    arr = z["points"]
                    weights = z["weights"] if "weights" in z.files else None
                elif len(z.files) == 1:
                    arr = z[z.files[0]]
                else:
                    raise EarthmoverError(
                        f"{path} holds {len(z.files)} arrays ({', '.join(z.files)}); name them 'points' and 'weights'"
                    )
        elif suffix == ".csv":
            arr = np.loadtxt(path, delimiter=",", ndmin=2)
            if kind == "histogram" or (kind == "auto" and 1 in arr.shape):
                arr = arr.ravel()  # one row or one column of numbers is a histogram
        else:
            raise EarthmoverError(f"{path} has suffix {suffix!r}; expected .npy, .npz or .csv")
    except (OSError, ValueError) as exc:
        if isinstance(exc, EarthmoverError):
            raise
        raise EarthmoverError(f"{path} could not be read as numbers ({exc}); check the file's format") from None
    for name, values in (("", arr), (" weights", weights)):
        if values is None:
            continue
        kind_code = np.asarray(values).dtype.kind
        if kind_code == "c":
            raise EarthmoverError(
                f"{path}{name} holds complex numbers; the earth mover's distance needs real values: pass the real "
                f"part, or the real and imaginary parts as two coordinates"
            )
        if kind_code not in "biuf":
            raise EarthmoverError(
                f"{path}{name} holds {np.asarray(values).dtype} values, not numbers; "
                "save a numeric array (float or int)"
            )
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size == 0:
        raise EarthmoverError(f"{path} holds no values; pass a non-empty point set or histogram")
    if kind == "auto":
        kind = "histogram" if arr.ndim == 1 and weights is None else "points"
    if kind == "histogram":
        if arr.ndim != 1:
            raise EarthmoverError(f"{path} holds an array of shape {arr.shape}; a histogram is 1-D")
        return np.arange(arr.shape[0], dtype=np.float64)[:, None], arr, "histogram"
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise EarthmoverError(f"{path} holds an array of shape {arr.shape}; expected points (n, d) or a histogram (k,)")
    return arr, weights, "points"


def draw_plan(result, path: str | Path) -> None:
    """Draw the plan: arrows between 2-D points (width by mass), otherwise the matrix gamma."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y, gamma = result.x, result.y, result.plan
    fig, ax = plt.subplots(figsize=(6, 5))
    if x is not None and x.shape[1] == 2:
        i, j = np.nonzero(gamma > 1e-12 * gamma.sum())
        mass = gamma[i, j] / gamma.max()
        for k in range(len(i)):
            ax.plot(
                [x[i[k], 0], y[j[k], 0]],
                [x[i[k], 1], y[j[k], 1]],
                color="0.4",
                linewidth=0.3 + 2.0 * mass[k],
                alpha=0.3 + 0.7 * mass[k],
                zorder=1,
            )
        ax.scatter(x[:, 0], x[:, 1], s=12 + 60 * result.a / result.a.max(), c="tab:blue", label="A", zorder=2)
        ax.scatter(y[:, 0], y[:, 1], s=12 + 60 * result.b / result.b.max(), c="tab:orange", label="B", zorder=2)
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(loc="best")
    else:
        im = ax.imshow(gamma, cmap="viridis", aspect="auto", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="mass moved")
        ax.set_xlabel("B index")
        ax.set_ylabel("A index")
    ax.set_title(f"transport plan, EMD = {result.distance:.6g} ({result.method})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from earthmover.ot.duality import check_duality
    from earthmover.ot.emd import emd

    if args.plan:
        paths.output_file(args.plan, "--plan", example="plan.png")
        cli_values.image_format(args.plan, "--plan")
    if args.json:
        paths.output_file(args.json, "--json", example="emd.json")
    xa, wa, kind_a = load_distribution(args.a, args.kind)
    xb, wb, kind_b = load_distribution(args.b, args.kind)
    if kind_a != kind_b:
        raise EarthmoverError(
            f"{args.a} is read as {kind_a} but {args.b} as {kind_b}; pass --kind points or --kind histogram"
        )
    method = args.method
    if method == "auto":
        method = "1d" if xa.shape[1] == 1 else "network-simplex"
    n, m = len(xa), len(xb)
    memory.check_memory(
        BYTES_PER_PAIR.get(method, 60) * float(n) * float(m),
        f"emd of {n} x {m} {kind_a} ({method})",
        "subsample the sets (the distance between samples of a few thousand points each is a good estimate)",
    )
    with warnings.catch_warnings():  # POT warns before we raise on a solver that stopped early
        warnings.simplefilter("ignore", UserWarning)
        result = emd(wa, wb, method=args.method, normalize=args.normalize, x=xa, y=xb)
    report = check_duality(result)
    n, m = result.plan.shape
    print(f"earth mover's distance: {result.distance:.10g}")
    print(f"method {result.method}, {n} x {m} {kind_a}, duality gap {report.gap:.2e}")
    if args.plan:
        draw_plan(result, args.plan)
        print(f"plan drawn to {args.plan}")
    if args.json:
        payload = {
            "distance": result.distance,
            "method": result.method,
            "kind": kind_a,
            "n": n,
            "m": m,
            "a": str(args.a),
            "b": str(args.b),
            "normalize": bool(args.normalize),
            "duality": {k: v for k, v in vars(report).items()},
        }
        try:
            Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        except OSError as exc:  # a full device: the CLI names the file (issue 26)
            raise OSError(exc.errno, exc.strerror, args.json) from None
        print(f"result written to {args.json}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "emd",
        help="earth mover's distance between two point sets or histograms",
        description="Print the exact earth mover's distance (Wasserstein-1, Euclidean cost) between A and B.",
        epilog="Files: a 2-D (n, d) array is points with uniform weights; a 1-D array is a histogram "
        "on bins 0..k-1; a .npz may hold 'points' and 'weights'. Ground cost: Euclidean.",
    )
    p.add_argument("a", help="first distribution: .npy, .npz or .csv")
    p.add_argument("b", help="second distribution: .npy, .npz or .csv")
    p.add_argument(
        "--method",
        default="auto",
        choices=["auto", "lp", "network-simplex", "1d"],
        help="exact solver (default: auto, the fastest for the input)",
    )
    p.add_argument(
        "--kind",
        default="auto",
        choices=["auto", "points", "histogram"],
        help="how to read 1-D arrays (default: auto, 1-D is a histogram)",
    )
    p.add_argument("--normalize", action="store_true", help="divide each distribution's weights by its total")
    p.add_argument("--plan", metavar="OUT.png", help="draw the transport plan to this image")
    p.add_argument("--json", metavar="OUT.json", help="write the distance and duality figures as JSON")
    p.set_defaults(func=run)
