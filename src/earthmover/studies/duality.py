"""Kantorovich-Rubinstein duality, computed (WGAN paper, section 3 and Appendix; Villani 2008).

The earth mover's distance is a linear program over transport plans gamma (the primal),

    W(a, b) = min <M, gamma>  over gamma >= 0 with marginals a and b,

and its dual is a maximum over potentials f, g with f_i + g_j <= M_ij. When a and b live on one
set of points and M is a metric, one potential phi does both jobs (f = phi, g = -phi) and it is
1-Lipschitz:

    W(a, b) = max over 1-Lipschitz phi of  E_a[phi] - E_b[phi].

That is the identity the WGAN critic rests on: a critic held (near) 1-Lipschitz and trained to
maximize E D(x) - E D(G(z)) estimates W.

The study takes two histograms on one set of points, on a line and in the plane, solves the
primal LP with scipy's HiGHS (:func:`earthmover.ot.emd`, ``method="lp"``), reads the duals from
the solver, builds phi as the c-transform of g (:func:`earthmover.ot.kantorovich_potential`) and
checks (:func:`earthmover.ot.check_duality`): primal = dual, primal = E_a[phi] - E_b[phi],
phi 1-Lipschitz, and the other exact solvers (the closed form on the line, POT's network simplex)
agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from earthmover.ot import check_duality, emd, kantorovich_potential
from earthmover.plotting import save_figure
from earthmover.studies.common import at_most
from earthmover.studies.registry import Study, register

NAME = "duality"
PAPER = (
    "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN, section 3 (Kantorovich-Rubinstein duality, "
    "Theorem 3 and its proof in the appendix)"
)
CLAIM = (
    "The earth mover's distance, a minimum over transport plans, equals a maximum over 1-Lipschitz "
    "critics phi of E_P[phi] - E_Q[phi]: the quantity a WGAN critic is trained to maximize."
)
TOLERANCE = 1e-9


@dataclass
class DualityCase:
    name: str
    """"line" or "plane"."""
    points: list[list[float]]
    """The shared support, (n, d)."""
    a: list[float]
    b: list[float]
    plan: list[list[float]]
    """The LP's optimal transport plan gamma (n, n)."""
    phi: list[float]
    """The potential with f = phi, g = -phi, at the points."""
    primal: float
    """<M, gamma>."""
    dual: float
    """sum f a + sum g b with the solver's own duals."""
    gap: float
    """|primal - dual|."""
    symmetric_gap: float
    """|primal - (E_a[phi] - E_b[phi])|."""
    lipschitz: float
    """max over point pairs of |phi_i - phi_j| / |x_i - x_j|."""
    feasibility: float
    """max (f_i + g_j - M_ij, 0): dual feasibility of the solver's duals."""
    slackness: float
    """max |M_ij - f_i - g_j| where gamma_ij > 0 (complementary slackness)."""
    other_methods: dict[str, float]
    """The distance from the other exact solvers ("1d" on the line, "network-simplex")."""
    max_method_gap: float
    """max |other - primal|."""


@dataclass
class DualityResult:
    cases: list[DualityCase]
    seed: int = 0
    tolerance: float = TOLERANCE

    def to_dict(self) -> dict:
        return asdict(self)

    def rows(self) -> tuple[list[str], list[list]]:
        header = [
            "support",
            "points",
            "primal <M,gamma>",
            "dual f.a+g.b",
            "|gap|",
            "|primal - (E_a phi - E_b phi)|",
            "Lip(phi)",
            "max |other solver - LP|",
        ]
        rows = [
            [c.name, len(c.points), c.primal, c.dual, c.gap, c.symmetric_gap, c.lipschitz, c.max_method_gap]
            for c in self.cases
        ]
        return header, rows

    def summary(self) -> list[str]:
        return [
            f"{c.name}: primal {c.primal:.12g} = dual {c.dual:.12g} (gap {c.gap:.2g}); with g = -phi gap "
            f"{c.symmetric_gap:.2g}; Lip(phi) = {c.lipschitz:.12g}; other solvers within {c.max_method_gap:.2g}"
            for c in self.cases
        ]


def checks(result: DualityResult) -> list:
    out = []
    for c in result.cases:
        out.append(at_most(f"{c.name}: |primal - dual|", c.gap, result.tolerance))
        out.append(
            at_most(f"{c.name}: |primal - (E_a[phi] - E_b[phi])| with g = -f", c.symmetric_gap, result.tolerance)
        )
        out.append(at_most(f"{c.name}: Lipschitz constant of phi", c.lipschitz, 1.0 + result.tolerance, fmt="{:.10g}"))
        out.append(at_most(f"{c.name}: other exact solvers vs the LP", c.max_method_gap, result.tolerance))
    return out


def _histograms(n: int, rng: np.random.Generator, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A shared support of n points and two histograms on it, with some empty bins on each side."""
    if dim == 1:
        x = np.linspace(0.0, 1.0, n)[:, None]
        t = x[:, 0]
        # interleaved bumps, so that mass moves both ways and phi goes up and down
        a = np.exp(-0.5 * ((t - 0.35) / 0.1) ** 2) + 0.5 * np.exp(-0.5 * ((t - 0.9) / 0.05) ** 2)
        b = 0.5 * np.exp(-0.5 * ((t - 0.08) / 0.06) ** 2) + np.exp(-0.5 * ((t - 0.65) / 0.07) ** 2)
    else:
        x = rng.uniform(-1.0, 1.0, (n, 2))
        a = np.exp(-0.5 * np.sum((x - [-0.4, -0.3]) ** 2, 1) / 0.3**2)
        b = np.exp(-0.5 * np.sum((x - [0.5, 0.4]) ** 2, 1) / 0.25**2)
    a = a * rng.uniform(0.5, 1.5, n)
    b = b * rng.uniform(0.5, 1.5, n)
    a[a < 0.05 * a.max()] = 0.0
    b[b < 0.05 * b.max()] = 0.0
    return x, a / a.sum(), b / b.sum()


def _case(name: str, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> DualityCase:
    lp = emd(a, b, x=x, y=x, method="lp")
    report = check_duality(lp)
    phi = kantorovich_potential(lp)
    others = {"network-simplex": emd(a, b, x=x, y=x, method="network-simplex").distance}
    if x.shape[1] == 1:
        others["1d"] = emd(a, b, x=x, y=x, method="1d").distance
    if report.symmetric_gap is None or report.lipschitz is None:  # x is both sides' support: never
        raise ValueError(f"{name}: check_duality did not see one shared set of points")
    return DualityCase(
        name=name,
        points=x.tolist(),
        a=lp.a.tolist(),
        b=lp.b.tolist(),
        plan=lp.plan.tolist(),
        phi=phi.tolist(),
        primal=report.primal,
        dual=report.dual,
        gap=report.gap,
        symmetric_gap=report.symmetric_gap,
        lipschitz=report.lipschitz,
        feasibility=report.feasibility,
        slackness=report.slackness,
        other_methods=others,
        max_method_gap=max(abs(v - report.primal) for v in others.values()),
    )


def run(seed: int = 0, quick: bool = False, n_line: int | None = None, n_plane: int | None = None) -> DualityResult:
    """Full: 60 points on the line, 40 in the plane. Quick: 20 and 15."""
    rng = np.random.default_rng(int(seed))
    n_line = int(n_line or (20 if quick else 60))
    n_plane = int(n_plane or (15 if quick else 40))
    cases = [_case("line", *_histograms(n_line, rng, 1)), _case("plane", *_histograms(n_plane, rng, 2))]
    return DualityResult(cases=cases, seed=int(seed))


def draw(result: DualityResult, path: str | Path) -> Path:
    """Row per case: the two histograms and the plan (arrows), the plan as a matrix, and the potential phi."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 8.6), dpi=90)
    for row, c in zip(axes, result.cases):
        x = np.asarray(c.points)
        a, b, plan, phi = np.asarray(c.a), np.asarray(c.b), np.asarray(c.plan), np.asarray(c.phi)
        ax = row[0]
        if c.name == "line":
            t = x[:, 0]
            w = 0.35 * np.min(np.diff(t)) if len(t) > 1 else 0.01
            ax.bar(t - w / 2, a, width=w, color="tab:blue", label="P (weights a)")
            ax.bar(t + w / 2, b, width=w, color="tab:red", label="Q (weights b)")
            top = max(a.max(), b.max())
            for i, j in zip(*np.nonzero(plan > 1e-9 * plan.sum())):
                if i != j:  # an arc from P's bin to Q's bin, above the bars
                    ax.annotate(
                        "",
                        xy=(t[j], top * 1.05),
                        xytext=(t[i], top * 1.05),
                        arrowprops=dict(
                            arrowstyle="->",
                            color="0.3",
                            lw=0.3 + 20 * plan[i, j],
                            connectionstyle="arc3,rad=-0.25",
                            alpha=0.6,
                        ),
                    )
            ax.set_ylim(0, top * 1.6)
            ax.set_xlabel("x")
            ax.set_title("line: P and Q on one support; arrows = the optimal plan", fontsize=9)
        else:
            ax.scatter(x[:, 0], x[:, 1], s=2000 * a, c="tab:blue", alpha=0.6, label="P (weights a)")
            ax.scatter(x[:, 0], x[:, 1], s=2000 * b, c="tab:red", alpha=0.6, label="Q (weights b)")
            ax.scatter(x[:, 0], x[:, 1], s=4, c="k")
            for i, j in zip(*np.nonzero(plan > 1e-9 * plan.sum())):
                if i != j:
                    ax.annotate(
                        "", xy=x[j], xytext=x[i], arrowprops=dict(arrowstyle="->", color="0.3", lw=0.4 + 8 * plan[i, j])
                    )
            ax.set_aspect("equal")
            ax.set_title("plane: P and Q on one support; arrows = the optimal plan", fontsize=9)
        ax.legend(fontsize=8, loc="upper left")

        ax = row[1]
        shown = np.where(plan > 0, plan, np.nan)
        im = ax.imshow(shown, cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="mass moved")
        ax.set_xlabel("to point j (Q)")
        ax.set_ylabel("from point i (P)")
        ax.set_title(f"{c.name}: plan gamma, <M, gamma> = {c.primal:.6f}", fontsize=9)

        ax = row[2]
        if c.name == "line":
            t = x[:, 0]
            ax.plot(t, phi, "k.-", label="phi (f = phi, g = -phi)")
            base = phi[0]
            ax.plot([t[0], t[-1]], [base, base + (t[-1] - t[0])], ":", c="0.5", label="slopes +-1")
            ax.plot([t[0], t[-1]], [base, base - (t[-1] - t[0])], ":", c="0.5")
            ax.set_xlabel("x")
            ax.legend(fontsize=8)
        else:
            sc = ax.scatter(x[:, 0], x[:, 1], c=phi, cmap="coolwarm", s=60, edgecolors="k", linewidths=0.4)
            fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.04, label="phi")
            ax.set_aspect("equal")
        ax.set_title(
            f"{c.name}: potential phi, Lipschitz constant {c.lipschitz:.9f}\n"
            f"|E_a phi - E_b phi - primal| = {c.symmetric_gap:.1g}",
            fontsize=9,
        )
    fig.suptitle(
        "Kantorovich-Rubinstein duality, computed: min over plans = max over 1-Lipschitz potentials", fontsize=11
    )
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- registration

TITLE = "Why a critic computes W: Kantorovich-Rubinstein duality"
WHY = (
    "Why does maximizing E C(real) - E C(fake) over 1-Lipschitz critics give the earth mover's distance? "
    "Because W is a linear program over transport plans whose dual is exactly that maximum "
    "(Kantorovich-Rubinstein). Computed exactly on small histograms: the primal minimum over plans equals"
    " the dual maximum over potentials f, g = -f to machine precision, and the optimal potential is "
    "1-Lipschitz. The WGAN critic is a neural approximation of that potential."
)


register(Study(NAME, TITLE, CLAIM, PAPER, WHY, run, checks, draw))
