# The trained generator, out of the run: earthmover.load, then samples and a TorchScript file.
# A 20-step toy run stands in for yours (a few seconds on 2 CPU cores); tests/test_docs.py runs this file.
import torch

import earthmover
from earthmover import Config, Trainer
from earthmover.cli import main

config = Config.from_preset("quickstart", data__name="8gaussians", run__steps=20, run__measure_n=200)
Trainer(config, run_dir="runs/mine", quiet=True).fit()

gen = earthmover.load("runs/mine")  # a run, RUN/checkpoints/step_*.pt, or an exported .safetensors
x = gen.sample(16, seed=0)  # the samples `earthmover sample --run runs/mine --n 16 --seed 0` draws
assert torch.equal(x, gen.sample(16, seed=0))  # a seed gives the same samples every time
print(gen, tuple(x.shape), gen.latent_dim, gen.num_classes)  # .module: the generator, in eval mode

# the same from the shell: earthmover export --run runs/mine --format torchscript --out generator.pt
main(["export", "--run", "runs/mine", "--format", "torchscript", "--out", "generator.pt"])
scripted = torch.jit.load("generator.pt")
print(scripted(torch.zeros(2, gen.latent_dim)).shape)  # z of shape (N, latent_dim): N samples
