# WGAN-GP on the 8 Gaussians with the library, 150 steps: about 10 s on 2 CPU cores
# (tests/test_docs.py runs it). The modes fill in with more steps: quickstart trains 4,500.
from earthmover import Config, Trainer

config = Config.from_preset("quickstart", data__name="8gaussians", run__steps=150)
# samples for the final measures (modes covered, EMD to the data)
config.set("run.measure_n", 1000)
summary = Trainer(config, run_dir="runs/library", quiet=True).fit()
print(summary.line())
# step 150 in 9s: modes covered 7/8, high quality 3.0%, EMD to data 0.3487  [runs/library]
