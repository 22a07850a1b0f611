"""Control over what is generated: labels (conditional GANs), AC-GAN's class head, InfoGAN's codes.

Each piece is a small pure module the one training loop can use through a registered entry:

* :mod:`~earthmover.conditional.labels` — checking, drawing and binding class labels;
* :mod:`~earthmover.conditional.projection` — Miyato & Koyama's projection term;
* :mod:`~earthmover.conditional.acgan` — Odena et al.'s auxiliary classifier losses and class head;
* :mod:`~earthmover.conditional.infogan` — Chen et al.'s Q head and mutual-information lower bound.

The networks that take labels (``concat`` and ``projection`` conditioning) are in
:mod:`earthmover.nets.conditional`; InfoGAN's latent codes are in :mod:`earthmover.data.codes`.
"""
