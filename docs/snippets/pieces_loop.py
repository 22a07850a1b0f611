# The pure pieces in a loop of your own: one critic step and one generator step of WGAN-GP.
import torch
from torch import nn

from earthmover import constraints, objectives, penalties
from earthmover.data.toy import make_toy

rng = torch.Generator().manual_seed(0)
data = make_toy("8gaussians")
generator = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 2))
critic = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1))
opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.9))
opt_d = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))

real = data.sample(256, rng)
fake = generator(torch.randn(256, 2, generator=rng))
# raw scores, no sigmoid; the critic step does not train the generator: detach
scores_real, scores_fake = critic(real).squeeze(1), critic(fake.detach()).squeeze(1)
loss_d = objectives.wasserstein_critic_loss(scores_real, scores_fake)  # E D(fake) - E D(real)
gp = penalties.gradient_penalty(critic, real, fake.detach(), weight=10.0, generator=rng)
loss_d = loss_d + gp
opt_d.zero_grad()
loss_d.backward()
opt_d.step()
# weight clipping instead of the penalty: constraints.clip_weights(critic, 0.01) here,
# after the step

loss_g = objectives.wasserstein_generator_loss(critic(fake).squeeze(1))  # -E D(fake)
opt_g.zero_grad()
loss_g.backward()
opt_g.step()
print(f"critic loss {loss_d.item():.3f}, generator loss {loss_g.item():.3f}")
assert callable(constraints.apply_spectral_norm)  # or spectral normalization on the critic's layers
