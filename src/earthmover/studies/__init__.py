"""Studies: commands that reproduce claims of the WGAN literature, with numbers and a figure.

Each study is one module with one function ``run(seed=0, quick=False) -> result`` that builds
its data, runs, and returns a small dataclass of numbers (``result.to_dict()``, ``result.rows()``
for a printed table) and a ``draw(result, path)`` that saves the figure (matplotlib, Agg).

- ``parallel-lines`` (:mod:`~earthmover.studies.parallel_lines`): WGAN paper, Example 1; for
  disjoint parallel lines JS, KL and TV are constant while W = |theta| says how far apart they are.
- ``vanishing-gradients`` (:mod:`~earthmover.studies.vanishing_gradients`): Arjovsky & Bottou 2017;
  the saturating generator gradient vanishes as the discriminator improves, a WGAN-GP critic's does not.
- ``clipping-vs-penalty`` (:mod:`~earthmover.studies.clipping_vs_penalty`): WGAN-GP paper, Figures 1-2;
  weight clipping piles the critic's weights at +-c and keeps it nearly flat, the penalty does not.

- ``duality`` (:mod:`~earthmover.studies.duality`): WGAN paper, section 3; the earth mover's
  distance as a primal LP equals its dual, a maximum over 1-Lipschitz potentials, to 1e-9.
- ``critic-vs-discriminator`` (:mod:`~earthmover.studies.critic_vs_discriminator`): WGAN paper,
  Figure 2; on disjoint data a trained discriminator passes the fakes a vanishing gradient, a
  WGAN-GP critic one of norm ~1.

Every study module also has ``PAPER``, ``CLAIM`` (one sentence) and ``checks(result)``: the
measured numbers against the claim's thresholds (:class:`~earthmover.studies.common.Check`).

``earthmover study NAME [--out DIR] [--seed S] [--quick]`` runs one and writes DIR/NAME.png and
DIR/NAME.json (see :mod:`earthmover.studies.command`).
"""
from __future__ import annotations

STUDIES = {
    "parallel-lines": "earthmover.studies.parallel_lines",
    "vanishing-gradients": "earthmover.studies.vanishing_gradients",
    "clipping-vs-penalty": "earthmover.studies.clipping_vs_penalty",
    "duality": "earthmover.studies.duality",
    "critic-vs-discriminator": "earthmover.studies.critic_vs_discriminator",
}
"""Study name -> module (imported on use, so `earthmover --help` stays cheap)."""

__all__ = ["STUDIES"]
