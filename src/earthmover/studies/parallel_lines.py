"""The WGAN paper's Example 1 (Arjovsky, Chintala and Bottou 2017, section 2): parallel lines.

P_0 is x = 0, y ~ U(0, 1); P_theta is x = theta, y ~ U(0, 1). For theta != 0 the supports are
disjoint, so JS = log 2, KL = +inf and TV = 1 whatever theta is, while the earth mover's
distance is W = |theta|. Only W says how far apart the lines are, and only W is continuous in
theta, so only W gives a generator that moves theta a gradient to follow.

The study computes the closed forms (:func:`earthmover.ot.parallel_lines`) and the estimates
from n samples of each line (:func:`earthmover.ot.parallel_lines_estimates`: W exactly between
the two sample sets, JS/KL/TV from histograms on a shared grid) on a grid of theta in [-1, 1].

Expected: W_est within O(1/sqrt(n)) of |theta| (at theta = 0 the two samples of one line are
still about 0.44/sqrt(n) apart), JS_est = log 2, KL_est = inf and TV_est = 1 exactly at every
theta != 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from earthmover.errors import EarthmoverError
from earthmover.ot import parallel_lines, parallel_lines_estimates
from earthmover.plotting import save_figure
from earthmover.studies.common import Check, at_most
from earthmover.studies.registry import Study, register

NAME = "parallel-lines"
PAPER = "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN, Example 1 (section 2)"
CLAIM = (
    "For two distributions on disjoint parallel lines, JS, KL and TV do not change as the lines move "
    "apart or together, while the earth mover's distance W = |theta| does: only W gives a generator "
    "a signal to follow."
)


@dataclass
class ParallelLinesResult:
    thetas: list[float]
    n: int
    bins: int
    closed: dict[str, list[float]]
    """"w", "js", "kl", "tv" closed forms at each theta."""
    estimated: dict[str, list[float]]
    """The same four, estimated from n samples of each line."""
    max_w_error: float
    """max over theta of |W_est - |theta||."""
    max_w_error_off_zero: float
    """The same, over theta != 0."""
    max_js_gap_off_zero: float
    """max over theta != 0 of |JS_est - log 2|."""
    kl_infinite_off_zero: bool
    """KL_est = +inf at every theta != 0."""
    max_tv_gap_off_zero: float
    """max over theta != 0 of |TV_est - 1|."""
    seed: int = 0
    log2: float = field(default=math.log(2.0))

    def to_dict(self) -> dict:
        return asdict(self)

    def rows(self) -> tuple[list[str], list[list]]:
        header = ["theta", "W", "W_est", "JS", "JS_est", "KL", "KL_est", "TV", "TV_est"]
        shown: list[int] | range = range(len(self.thetas))
        if len(self.thetas) > 11:  # a short table: the ends, the middle, and the jump at 0
            keep = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)
            shown = [i for i, t in enumerate(self.thetas) if any(abs(abs(t) - k) < 1e-9 for k in keep)]
        rows = []
        for i in shown:
            t = self.thetas[i]
            rows.append([t] + [d[k][i] for k in ("w", "js", "kl", "tv") for d in (self.closed, self.estimated)])
        return header, rows

    def summary(self) -> list[str]:
        return [
            f"max |W_est - |theta||        = {self.max_w_error:.4g} (n = {self.n} per line; "
            f"{self.max_w_error_off_zero:.4g} off theta = 0)",
            f"max |JS_est - log 2|, th!=0  = {self.max_js_gap_off_zero:.3g}",
            f"KL_est = inf at every th!=0  : {self.kl_infinite_off_zero}",
            f"max |TV_est - 1|, th!=0      = {self.max_tv_gap_off_zero:.3g}",
        ]


def checks(result: ParallelLinesResult) -> list:
    """JS within 5% of log 2 at |theta| >= 0.5, KL infinite, TV = 1 off theta = 0, and W_est within
    0.05 of |theta| (its sampling error is O(1/sqrt(n)), ~0.01 at n = 1000)."""
    far = [i for i, t in enumerate(result.thetas) if abs(t) >= 0.5]
    js_far = max(abs(result.estimated["js"][i] - result.log2) for i in far)
    return [
        at_most("max |JS_est - log 2| / log 2 at |theta| >= 0.5", js_far / result.log2, 0.05),
        Check(
            "KL_est = +inf at every theta != 0",
            float(result.kl_infinite_off_zero),
            "= 1 (true)",
            bool(result.kl_infinite_off_zero),
        ),
        at_most("max |TV_est - 1| at theta != 0", result.max_tv_gap_off_zero, 0.05),
        at_most("max |W_est - |theta|| over all theta", result.max_w_error, 0.05),
    ]


def run(
    seed: int = 0, quick: bool = False, n: int | None = None, num_thetas: int | None = None, bins: int = 10
) -> ParallelLinesResult:
    """Closed forms and sample estimates on ``num_thetas`` points of [-1, 1] (odd, so 0 is one)."""
    n = int(n if n is not None else (200 if quick else 1000))
    num_thetas = int(num_thetas if num_thetas is not None else (9 if quick else 41))
    if num_thetas < 3 or num_thetas % 2 == 0:
        raise EarthmoverError(f"num_thetas={num_thetas}; pass an odd number >= 3 so that theta = 0 is on the grid")
    thetas = [float(round(t, 12)) for t in np.linspace(-1.0, 1.0, num_thetas)]
    closed: dict[str, list[float]] = {k: [] for k in ("w", "js", "kl", "tv")}
    estimated: dict[str, list[float]] = {k: [] for k in ("w", "js", "kl", "tv")}
    for i, theta in enumerate(thetas):
        exact = parallel_lines(theta)
        est = parallel_lines_estimates(theta, n=n, seed=seed * 1000 + i, bins=bins)
        for k in closed:
            closed[k].append(float(getattr(exact, k)))
            estimated[k].append(float(getattr(est, k)))
    off = [i for i, t in enumerate(thetas) if t != 0.0]
    w_err = [abs(w - abs(t)) for w, t in zip(estimated["w"], thetas)]
    return ParallelLinesResult(
        thetas=thetas,
        n=n,
        bins=bins,
        closed=closed,
        estimated=estimated,
        max_w_error=max(w_err),
        max_w_error_off_zero=max(w_err[i] for i in off),
        max_js_gap_off_zero=max(abs(estimated["js"][i] - math.log(2.0)) for i in off),
        kl_infinite_off_zero=all(math.isinf(estimated["kl"][i]) for i in off),
        max_tv_gap_off_zero=max(abs(estimated["tv"][i] - 1.0) for i in off),
        seed=seed,
    )


def draw(result: ParallelLinesResult, path: str | Path) -> Path:
    """Four panels against theta: closed form (line) and estimate (dots) of W, JS, KL, TV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(result.thetas)
    dense = np.linspace(-1, 1, 401)
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5), dpi=100)
    panels = [
        ("w", "earth mover's distance W", np.abs(dense)),
        ("js", "Jensen-Shannon JS", np.where(dense == 0, 0.0, math.log(2))),
        ("kl", "Kullback-Leibler KL(P_0 || P_theta)", None),
        ("tv", "total variation TV", np.where(dense == 0, 0.0, 1.0)),
    ]
    for ax, (key, title, curve) in zip(axes.ravel(), panels):
        est = np.asarray(result.estimated[key], dtype=float)
        if curve is None:  # KL
            # +inf cannot be drawn: put it on a line labelled "+inf" at the top of the panel.
            top = 1.0
            closed = np.asarray(result.closed[key], dtype=float)
            for side, label in ((t < 0, "closed form (+inf)"), (t > 0, None)):
                ax.plot(
                    t[side], np.where(np.isinf(closed[side]), top, closed[side]), "-", c="tab:red", lw=1.5, label=label
                )
            ax.plot([0], [0], "o", c="tab:red", ms=7, mfc="none", label="closed form at 0")
            shown = np.where(np.isinf(est), top, est)
            ax.plot(t, shown, "k.", ms=7, label=f"estimate (n={result.n})")
            ax.set_yticks([0, 0.5, top])
            ax.set_yticklabels(["0", "0.5", "+inf"])
            ax.set_ylim(-0.08, 1.12)
            ax.annotate(
                "KL = +inf for every theta != 0:\nP_theta puts no mass on P_0's line",
                xy=(0.5, top),
                xytext=(-0.55, 0.45),
                fontsize=8,
                arrowprops=dict(arrowstyle="->", color="0.3"),
            )
        else:
            for side, label in ((dense < 0, "closed form"), (dense > 0, None)):
                ax.plot(dense[side], curve[side], "-", c="tab:blue", lw=1.5, label=label)
            ax.plot(
                [0],
                [0],
                "o",
                c="tab:blue",
                ms=7,
                mfc="none" if key != "w" else "tab:blue",
                label="closed form at 0" if key != "w" else None,
            )
            if key == "w":
                ax.plot(dense, curve, "-", c="tab:blue", lw=1.5)
            ax.plot(t, est, "k.", ms=7, label=f"estimate (n={result.n})")
            if key == "js":
                ax.axhline(math.log(2), c="0.6", lw=0.8, ls=":")
                ax.text(0.05, math.log(2) - 0.06, "log 2", fontsize=8, color="0.4")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("theta")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center" if key == "w" else "lower right")
    fig.suptitle(
        f"Parallel lines (WGAN paper, Example 1): max |W_est - |theta|| = {result.max_w_error:.3g}, "
        f"max |JS_est - log 2| (theta != 0) = {result.max_js_gap_off_zero:.1g}",
        fontsize=10,
    )

    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- registration

TITLE = "Disjoint supports: JS, KL and TV see nothing, W sees the distance"
WHY = (
    "A generator's samples live on a thin set (the image of a low-dimensional noise space), and so do "
    "real images: the two supports are almost surely disjoint. This is the simplest such pair, two "
    "parallel lines theta apart. The divergences the original GAN minimizes (JS) and its relatives (KL, "
    "TV) are constant there, whatever theta is, so they give a generator that moves theta no signal; the "
    "earth mover's distance W is |theta|, continuous, with a useful gradient everywhere."
)


register(Study(NAME, TITLE, CLAIM, PAPER, WHY, run, checks, draw))
