# A conditional (projection) WGAN-GP run on the small MNIST file that ships with the
# tests: a few seconds.
import os

from earthmover import Config, Trainer

# no download: the tests' 512 images (unset it to train on the real MNIST)
os.environ.setdefault("EARTHMOVER_MNIST", "tests/data/mnist_small.npz")
config = Config.from_preset("wgan-gp", data__name="mnist", run__steps=3, run__eval_n=64)
config.apply({"model.conditional": "projection", "model.width": 8, "run.sample_every": 3})
trainer = Trainer(config, run_dir="runs/conditional", quiet=True)
summary = trainer.fit()
print(summary.line(), trainer.num_classes)  # ... fid ...  [runs/conditional] 10
