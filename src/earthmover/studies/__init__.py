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

- ``critic-tracks-quality`` (:mod:`~earthmover.studies.critic_tracks_quality`): WGAN paper,
  section 4.2; along training runs the WGAN(-GP) critic's estimate falls with the EMD of the
  samples to the data (Spearman), the minimax GAN's JS estimate does not.
- ``mode-collapse`` (:mod:`~earthmover.studies.mode_collapse`): every objective with its preset on
  the 8- and 25-gaussian mixtures, several seeds: modes, high-quality share, reverse KL, EMD;
  beside PacGAN's published 25-gaussian figures.
- ``architecture-robustness`` (:mod:`~earthmover.studies.architecture_robustness`): WGAN-GP paper,
  Figure 2 at MNIST scale; four objectives across the Figure 2 architectures, digit-FID.

``earthmover study all [--quick] --out DIR`` runs them all and writes DIR/index.html and
DIR/index.md (:mod:`~earthmover.studies.report`).

Every study module also has ``PAPER``, ``CLAIM`` (one sentence), ``TITLE``, ``WHY`` and ``checks(result)``:
the measured numbers against the claim's thresholds (:class:`~earthmover.studies.common.Check`), and
registers them as one :class:`~earthmover.studies.registry.Study` in :data:`STUDIES`; the report
(``study all``) follows the registration order, so a plug-in study (``--plugins``) joins it at the end.

``earthmover study NAME [--out DIR] [--seed S] [--quick]`` runs one and writes DIR/NAME.png and
DIR/NAME.json (see :mod:`earthmover.studies.command`).
"""

from __future__ import annotations

# isort: off
# Each module registers its study in STUDIES; this order is the report's (the order of the argument).
from earthmover.studies import (  # noqa: F401  (registration)
    parallel_lines,
    vanishing_gradients,
    critic_vs_discriminator,
    duality,
    clipping_vs_penalty,
    critic_tracks_quality,
    mode_collapse,
    architecture_robustness,
)

# isort: on
from earthmover.studies.registry import STUDIES, Study, register

__all__ = ["STUDIES", "Study", "register"]
