"""The losses a run adds up, each a small pure piece the one training loop plugs in by what it declares.

* :mod:`~earthmover.losses.objectives` - how critic scores become critic and generator losses;
* :mod:`~earthmover.losses.penalties` - extra critic terms that need the critic and its inputs;
* :mod:`~earthmover.losses.constraints` - what happens to the critic's weights (clipping, spectral norm);
* :mod:`~earthmover.losses.heads` - critic heads: what a critic says beyond its score;
* :mod:`~earthmover.losses.acgan`, :mod:`~earthmover.losses.infogan` and
  :mod:`~earthmover.losses.conditional_heads` - AC-GAN's class logits and InfoGAN's Q, as heads.
"""
