"""Shared settings for the training tests: the tiny run they build on."""

from earthmover.train.config import Config

# A run small enough for a test: 2 hidden layers of 16, batch 32, 64-sample measures, one thread.
TINY_VALUES = {
    "run.steps": 6,
    "run.log_every": 1,
    "run.sample_every": 1000,
    "run.device": "cpu",
    "run.threads": 1,
    "run.measure_n": 64,
    "data.name": "8gaussians",
    "data.batch_size": 32,
    "model.width": 16,
    "model.depth": 2,
}
# The same as command-line flags (without steps, sampling and quiet, which tests choose).
TINY_FLAGS = [
    "--data",
    "8gaussians",
    "--width",
    "16",
    "--model.depth",
    "2",
    "--batch-size",
    "32",
    "--run.threads",
    "1",
    "--run.measure-n",
    "64",
    "--log-every",
    "1",
    "--device",
    "cpu",
]


def tiny_config(preset: str = "wgan-gp", **values) -> Config:
    """A preset's config shrunk to TINY_VALUES, then ``values`` (dotted names, or section__field)."""
    config = Config.from_preset(preset)
    for key, value in {**TINY_VALUES, **{k.replace("__", "."): v for k, v in values.items()}}.items():
        config.set(key, value)
    return config
