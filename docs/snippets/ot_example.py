# Exact optimal transport with earthmover.ot: the distance, the plan, the duals, checked.
import numpy as np

from earthmover import ot

rng = np.random.default_rng(0)
X, Y = rng.normal(size=(200, 2)), rng.normal(size=(300, 2)) + [2.0, 0.0]
result = ot.emd(x=X, y=Y, method="network-simplex")  # Euclidean cost, uniform weights
report = ot.check_duality(result)
print(f"W = {result.distance:.4f}, plan {result.plan.shape}, duality gap {report.gap:.1e}")
assert report.ok(1e-8)

sliced = ot.sliced_wasserstein(X, Y, 200, 0)  # a lower bound, for large sets
print(f"from samples: {ot.emd_samples(X, Y):.4f}; sliced {sliced:.4f}")
p, q = np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.5, 0.5])
print(f"disjoint: JS = {ot.js(p, q):.6f} (log 2 = {np.log(2):.6f}), TV = {ot.tv(p, q)}")
print(f"KL = {ot.kl(p, q)}")
