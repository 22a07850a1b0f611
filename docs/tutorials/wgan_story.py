# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The Wasserstein GAN story
#
# Why does a GAN trained with the original objective stall, and why does the Wasserstein critic keep
# giving its generator something to learn from? This notebook retells the argument of Arjovsky, Chintala
# and Bottou (2017) and Gulrajani et al. (2017) with earthmover's pieces, one computation per claim:
#
# 1. on two parallel lines, JS and KL cannot see the distance between the distributions; the earth
#    mover's distance (EMD) can;
# 2. the EMD is a linear program, and its dual is a search over 1-Lipschitz functions: the critic;
# 3. against a good discriminator, the original (saturating) generator cost has no gradient left;
# 4. how to keep a critic 1-Lipschitz: weight clipping against the gradient penalty;
# 5. WGAN-GP on the 25 Gaussians, then on MNIST, with `Config` and `Trainer`.
#
# Every number below is computed when the documentation is built, and the key ones are asserted,
# so the page cannot drift from the code. Run it yourself from the root of a clone (the MNIST part
# reads the small MNIST file that ships with the tests, so nothing is downloaded):
#
# ```bash
# pip install -e ".[docs]"
# jupytext --to notebook docs/tutorials/wgan_story.py          # then open it in Jupyter, or:
# EARTHMOVER_DOCS_SCALE=full python docs/tutorials/wgan_story.py
# ```
#
# The install fetched the docs tools into a fresh environment in about 6 minutes here (27 s of it CPU, the rest
# the package index); the conversion takes about a second; the full scale runs 6 minutes on an idle 2-core box
# (373 s: a minute for the 25 Gaussians, five for MNIST's 800 steps), printing each training run's summary line
# and the assertions' figures. The site build and CI run the quick scale.

# %%
import math
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from earthmover import Config, Trainer, constraints, objectives, ot, penalties
from earthmover.data.toy import make_toy

# "quick" (the default, as CI and the site build run it: a few training steps) or
# "full" (the scale the text describes: on an idle 2-core box about a minute for the
# 25 Gaussians and five for MNIST; 6 minutes for the whole notebook).
SCALE = os.environ.get("EARTHMOVER_DOCS_SCALE", "quick")
FULL = SCALE == "full"
torch.manual_seed(0)
plt.rcParams.update({"figure.dpi": 90, "axes.grid": True, "grid.alpha": 0.3})
print(f"scale: {SCALE}, torch {torch.__version__}")


def show_picture(path: Path, width: int = 520) -> None:
    """A PNG a run wrote, shown in the notebook (its path printed when run as a script)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(path)
    else:
        display(Image(filename=str(path), width=width))


# %% [markdown]
# ## 1. Two parallel lines
#
# Example 1 of the WGAN paper: P₀ is the uniform distribution on the segment {0} × [0, 1] and P_θ
# the same segment moved to x = θ. For every θ ≠ 0 the two supports are disjoint, so
#
# * the Jensen-Shannon divergence is log 2, the KL divergence is +∞ and the total variation is 1,
#   *whatever* θ is: they say "different", never "how different";
# * the earth mover's distance is |θ|: each grain of mass moves by θ.
#
# A generator whose loss is JS sees a flat loss in θ: no gradient points it home.
# `earthmover.ot.parallel_lines` gives the closed forms.

# %%
thetas = np.linspace(-1, 1, 201)
lines = [ot.parallel_lines(t) for t in thetas]
for p in lines:
    if p.theta != 0:
        assert abs(p.js - math.log(2)) < 1e-9, p  # JS = log 2 on disjoint supports
        assert p.kl == math.inf and p.tv == 1.0, p
    assert abs(p.w - abs(p.theta)) < 1e-12, p  # W = |theta|
print(ot.parallel_lines(0.5))

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(thetas, [p.w for p in lines], label=r"earth mover's distance $W = |\theta|$")
ax.plot(thetas, [p.js for p in lines], label=r"JS ($\log 2$ except at 0)")
ax.plot(thetas, [p.tv for p in lines], "--", label="TV (1 except at 0)")
ax.set_xlabel(r"$\theta$")
ax.set_title(r"KL is $+\infty$ for every $\theta \neq 0$ (off the chart)")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# From samples, the same picture: the EMD between 1,000 points on each line is close to |θ|,
# and the histogram estimates of JS and TV sit at their ceilings.

# %%
estimate = ot.parallel_lines_estimates(0.3, n=1000, seed=0)
print(estimate)
assert abs(estimate.w - 0.3) < 0.05 and abs(estimate.js - math.log(2)) < 1e-9

# %% [markdown]
# ## 2. The earth mover's distance is a linear program
#
# Between two histograms a and b on points x₁ … xₙ with ground cost M_ij = |x_i − x_j|, the EMD is
#
#     W(a, b) = min over plans γ ≥ 0 of ⟨M, γ⟩   subject to   γ 1 = a,  γᵀ 1 = b,
#
# a linear program over transport plans γ. Its dual is
# max over (f, g) of Σ f_i a_i + Σ g_j b_j subject to f_i + g_j ≤ M_ij, and when a and b
# live on the same points an optimum has g = −f with f 1-Lipschitz: the Kantorovich-Rubinstein
# duality, W = sup over 1-Lipschitz f of E_a f − E_b f. That supremum is what a WGAN critic approximates.
# `ot.emd(..., method="lp")` solves the primal with scipy's HiGHS and returns the duals too;
# `ot.check_duality` measures how well they satisfy the optimality conditions.

# %%
x = np.linspace(0.0, 7.0, 8)
a = np.array([0.30, 0.25, 0.20, 0.15, 0.10, 0.0, 0.0, 0.0])  # mass on the left
b = np.array([0.0, 0.0, 0.0, 0.05, 0.15, 0.20, 0.25, 0.35])  # mass on the right
M = np.abs(x[:, None] - x[None, :])
result = ot.emd(a, b, M, method="lp")
report = ot.check_duality(result)
phi = ot.kantorovich_potential(result)
print(f"primal <M, plan> = {report.primal:.12f}")
print(f"dual   f.a + g.b = {report.dual:.12f}  (gap {report.gap:.1e})")
print(f"Lipschitz constant of the potential: {report.lipschitz:.12f}")
assert report.gap < 1e-9 and report.ok(1e-9)  # primal = dual (strong duality)
assert report.lipschitz <= 1 + 1e-9
# the closed form on a line agrees: W = integral of |F_a - F_b|
assert abs(result.distance - ot.emd(a, b, x=x, y=x, method="1d").distance) < 1e-9

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
left.bar(x - 0.18, a, width=0.35, label="a")
left.bar(x + 0.18, b, width=0.35, label="b")
left.set_ylabel("mass")
left.legend(loc="upper center")
potential = left.twinx()  # its own scale: the potential's slope is at most 1
potential.plot(x, phi - phi.min(), "k.-")
potential.set_ylabel(r"potential $\varphi$ (shifted)")
left.set_title(f"W = {result.distance:.4f}; black: the potential, slope at most 1")
right.imshow(result.plan, cmap="Blues")
right.set_title(r"optimal plan $\gamma$ (rows: a, columns: b)")
right.set_xlabel("to point j")
right.set_ylabel("from point i")
right.grid(False)
plt.show()

# %% [markdown]
# ## 3. The saturating generator's vanishing gradient
#
# Goodfellow et al.'s original generator cost is E log(1 − σ(D(x̃))). Arjovsky and Bottou
# (2017) show that as the discriminator D gets better at rejecting fakes, the gradient this cost gives
# the generator goes to zero. In one dimension: real data near x = 2, fakes near x = −2, and a
# discriminator trained with the minimax loss. After each stretch of training we take the gradient
# of three generator costs with respect to the fake samples: the saturating one, the non-saturating
# −E log σ(D(x̃)), and the Wasserstein cost −E C(x̃) of a critic trained alongside
# with the gradient penalty.


# %%
def mlp(n_in: int, n_out: int, width: int = 64, depth: int = 3) -> nn.Sequential:
    layers, n = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(n, width), nn.LeakyReLU(0.2)]
        n = width
    return nn.Sequential(*layers, nn.Linear(n, n_out))


def score(net, x):
    return net(x).squeeze(1)  # raw scores, no sigmoid


rng = torch.Generator().manual_seed(0)
real = 2.0 + 0.1 * torch.randn(64, 1, generator=rng)
fake = -2.0 + 0.1 * torch.randn(64, 1, generator=rng)
torch.manual_seed(0)
disc, critic = mlp(1, 1), mlp(1, 1)
critic.load_state_dict(disc.state_dict())  # same start
opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3)
opt_c = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.0, 0.9))


def generator_gradient(net, loss_fn) -> float:
    x = fake.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(score(net, x)), x)
    return (grad.flatten(1).norm(dim=1) * len(x)).mean().item()  # per sample: the mean's 1/n undone


checkpoints, history, done = [1, 10, 30, 100, 300, 1000] + ([3000] if FULL else []), [], 0
for k in checkpoints:
    for _ in range(k - done):
        loss_d = objectives.minimax_critic_loss(score(disc, real), score(disc, fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_c = objectives.wasserstein_critic_loss(score(critic, real), score(critic, fake))
        loss_c = loss_c + penalties.gradient_penalty(critic, real, fake, weight=10.0, generator=rng)
        opt_c.zero_grad()
        loss_c.backward()
        opt_c.step()
    done = k
    history.append(
        (
            generator_gradient(disc, objectives.minimax_generator_loss),
            generator_gradient(disc, objectives.non_saturating_generator_loss),
            generator_gradient(critic, objectives.wasserstein_generator_loss),
        )
    )
    print(
        f"{k:5d} steps: saturating {history[-1][0]:.2e}, non-saturating {history[-1][1]:.2e}, "
        f"Wasserstein {history[-1][2]:.2e}"
    )

saturating, non_saturating, wasserstein = np.array(history).T
assert saturating[-1] < saturating.max() / 1000  # vanished: 1000x below its peak
assert non_saturating[-1] > non_saturating[0] and 0.5 < wasserstein[-1] < 1.5  # neither vanishes

fig, ax = plt.subplots(figsize=(7, 3.4))
ax.loglog(checkpoints, saturating, "o-", label=r"saturating $E \log(1 - \sigma(D))$")
ax.loglog(checkpoints, non_saturating, "s-", label=r"non-saturating $-E \log \sigma(D)$")
ax.loglog(checkpoints, wasserstein, "^-", label="Wasserstein critic (WGAN-GP)")
ax.set_xlabel("discriminator / critic steps")
ax.set_ylabel("gradient norm at the fakes")
ax.legend()
plt.show()

# %% [markdown]
# The saturating cost's gradient falls by more than three orders of magnitude: the better the
# discriminator, the less the generator learns. The non-saturating trick keeps a gradient (it grows,
# and becomes unstable near the optimum), and the Wasserstein critic's gradient norm is held near 1
# per sample by its penalty: a steady signal that points from the fakes towards the data.
#
# ## 4. Keeping the critic 1-Lipschitz: clipping against the gradient penalty
#
# The dual above needs a 1-Lipschitz critic. The WGAN paper clamps every weight to [−c, c] after
# each step (`constraints.clip_weights`, c = 0.01); WGAN-GP instead penalizes
# λ E (‖∇C(x̂)‖₂ − 1)² at points x̂ between real and fake samples
# (`penalties.gradient_penalty`, λ = 10). Train one critic each way on the 8 Gaussians against
# fixed fakes drawn near the origin:

# %%
data = make_toy("8gaussians")
real8 = data.sample(512, rng)
fake8 = 0.3 * torch.randn(512, 2, generator=rng)
torch.manual_seed(1)
clipped, penalized = mlp(2, 1, 128), mlp(2, 1, 128)
penalized.load_state_dict(clipped.state_dict())
opt_clip = torch.optim.RMSprop(clipped.parameters(), lr=5e-4)
opt_gp = torch.optim.Adam(penalized.parameters(), lr=1e-3, betas=(0.0, 0.9))
for _ in range(400 if FULL else 200):
    loss = objectives.wasserstein_critic_loss(score(clipped, real8), score(clipped, fake8))
    opt_clip.zero_grad()
    loss.backward()
    opt_clip.step()
    constraints.clip_weights(clipped, 0.01)  # after the step, as in the paper
    loss = objectives.wasserstein_critic_loss(score(penalized, real8), score(penalized, fake8))
    loss = loss + penalties.gradient_penalty(penalized, real8, fake8, weight=10.0, generator=rng)
    opt_gp.zero_grad()
    loss.backward()
    opt_gp.step()


def input_gradient_norms(net) -> torch.Tensor:
    x = penalties.interpolate(real8, fake8, rng).requires_grad_(True)
    (grad,) = torch.autograd.grad(score(net, x).sum(), x)
    return grad.flatten(1).norm(dim=1)


weights = torch.cat([p.detach().flatten() for n, p in clipped.named_parameters() if n.endswith("weight")])
at_bound = (weights.abs() > 0.0099).float().mean().item()
clip_norm, gp_norm = input_gradient_norms(clipped).mean().item(), input_gradient_norms(penalized).mean().item()
print(f"clipping: {100 * at_bound:.0f}% of the weights at +-c, mean gradient norm {clip_norm:.4f}")
print(f"gradient penalty: mean gradient norm {gp_norm:.3f}")
assert clip_norm < 0.05 and 0.5 < gp_norm < 1.5

grid = torch.stack(torch.meshgrid(torch.linspace(-2, 2, 81), torch.linspace(-2, 2, 81), indexing="xy"), -1)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
axes[0].hist(weights.numpy(), bins=60)
axes[0].set_title(r"clipped critic: weights pile up at $\pm c$")
for ax, net, name in [(axes[1], clipped, "clipping"), (axes[2], penalized, "gradient penalty")]:
    with torch.no_grad():
        values = score(net, grid.reshape(-1, 2)).reshape(81, 81)
    ax.contourf(grid[..., 0], grid[..., 1], values, levels=20, cmap="viridis")
    ax.scatter(*real8[:200].T, s=3, c="white")
    ax.scatter(*fake8[:200].T, s=3, c="red")
    ax.set_title(f"{name}: critic values (range {values.max() - values.min():.3f})")
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# The clipped critic's weights crowd the box's walls and its value surface is nearly flat (its
# gradients are small, so the generator would learn slowly, and a larger c makes training unstable).
# The penalized critic's gradient norm sits near 1 and its surface rises from the fakes towards the data.
#
# ## 5. WGAN-GP on the 25 Gaussians
#
# The whole loop is `Config` and `Trainer`. The `quickstart` preset is WGAN-GP with settings measured
# to cover all 25 modes of the WGAN-GP paper's grid in about a minute on two CPU cores (4,500 steps;
# `benchmarks/RESULTS.md`). `earthmover train` with no arguments runs exactly this.

# %%
workdir = tempfile.TemporaryDirectory(prefix="earthmover-story-")  # the runs' folders, removed at exit
runs = Path(workdir.name)
config = Config.from_preset("quickstart", run__steps=4500 if FULL else 20)
if not FULL:  # a few dozen steps of a narrower network, measured on fewer samples
    config.apply({"run.sample_every": 10, "run.measure_n": 500, "model.width": 32})
summary = Trainer(config, run_dir=runs / "25gaussians", quiet=True).fit()
print(summary.line())
assert summary.step == config.run.steps and summary.values["num_modes"] == 25
if FULL:
    assert summary.values["modes_covered"] == 25
show_picture(runs / "25gaussians" / "samples" / "final.png")

# %% [markdown]
# The picture is the generator's samples over the critic's value surface at the last step. At the
# quick scale (the site's default build) the generator has trained for a few dozen steps only; build
# with `EARTHMOVER_DOCS_SCALE=full` to see the 25 modes covered (the benchmark results record 25/25 on
# seeds 0-4, 91.2% high-quality samples on average).
#
# ## 6. MNIST
#
# The same loop on images. The `mnist` preset is WGAN-GP with the WGAN-GP paper's MNIST networks and
# rates measured on MNIST (`benchmarks/RESULTS.md`, MNIST). Here it reads the 512-image MNIST file that
# ships with the tests (`tests/data/mnist_small.npz`) so that nothing is downloaded; drop the
# `EARTHMOVER_MNIST` line to train on the real MNIST (downloaded once, about 11 MB). The run ends with
# the digit-FID, the Fréchet distance on the features of a small digit classifier that ships with
# earthmover (see the evaluation guide).

# %%
os.environ.setdefault("EARTHMOVER_MNIST", str(Path("tests/data/mnist_small.npz").resolve()))
config = Config.from_preset("mnist", run__steps=800 if FULL else 4, run__eval_n=500 if FULL else 64)
if not FULL:
    config.set("model.width", 8)
    config.set("run.sample_every", 2)
summary = Trainer(config, run_dir=runs / "mnist", quiet=True).fit()
print(summary.line())
assert summary.values["metrics/fid"] > 0
if FULL:  # 800 steps: strokes of digits (digit-FID about 12); at 300 steps the grid was still dots (about 50)
    assert summary.values["metrics/fid"] < 25
show_picture(runs / "mnist" / "samples" / "final.png")

# %% [markdown]
# At the quick scale the grid above is still noise; at the full scale (800 steps) the strokes of digits
# appear, at a digit-FID of about 12 on the small file. What the same preset gives on the full MNIST
# after 30 minutes on 2 CPU cores (EMA generator, digit-FID 1.47; recorded in
# `benchmarks/RESULTS.md` by `earthmover sample`, not by this notebook):
#
# ![--preset mnist after 30 minutes](../guides/figures/mnist_preset_30min.png)
#
# ## Where next
#
# * `earthmover study all --quick --out runs/studies` reproduces each claim above as a study with a
#   verdict (the Studies page);
# * the optimal transport guide covers `earthmover.ot` in full;
# * *Writing a plug-in* shows how a new objective or penalty plugs into the same loop.
