"""Memory: what a request needs (an estimate, counted on the meta device) against what the machine has,
refused with both figures (:func:`check_memory`) before anything is allocated."""

from __future__ import annotations

import math
import os

import torch

from earthmover.errors import EarthmoverError
from earthmover.train.build import build_critic, build_generator, build_plan, generator_takes_labels, label_users


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def available_memory(device=None) -> int | None:
    """Bytes that a new allocation can still get on `device` (CPU: MemAvailable; CUDA: free memory);
    None when unknown."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
            return int(free)
        except Exception:
            return None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(need: float, what: str, fix: str, device=None) -> None:
    """Refuse a request whose estimated memory `need` (bytes) exceeds what `device` has free."""
    have = available_memory(device)
    if have is not None and need > have:
        where = "free on the GPU" if device is not None and str(device).startswith("cuda") else "available"
        raise EarthmoverError(
            f"{what} needs about {format_bytes(need)} of memory but {format_bytes(have)} is {where}; {fix}"
        )


def network_sizes(config, sample_shape) -> tuple[int, int, int]:
    """(parameters of the generator, of the critic, activations per sample through both), counted on
    the meta device: nothing is allocated, whatever the width."""
    plan = build_plan(config)
    classes = 10 if label_users(config, plan) else 0  # a conditional run's label width, for the estimate only
    generator_labels = generator_takes_labels(config, plan)
    with torch.device("meta"):
        generator, latent_dim = build_generator(config, tuple(sample_shape), plan, classes)
        critic = build_critic(config, tuple(sample_shape), plan, classes)
    params_g = sum(p.numel() for p in generator.parameters())
    params_c = sum(p.numel() for p in critic.parameters())
    try:
        counts: list[int] = []

        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor):
                counts.append(output[0].numel())

        handles = [
            m.register_forward_hook(hook)
            for net in (generator, critic)
            for m in net.modules()
            if not list(m.children())
        ]
        try:
            with torch.no_grad():
                labels = (torch.zeros(2, dtype=torch.long, device="meta"),)
                fake = generator(torch.zeros(2, latent_dim, device="meta"), *labels[: classes > 0 and generator_labels])
                critic(fake, *labels[: config.model.conditional != "none"])
        finally:
            for h in handles:
                h.remove()
        activations = sum(counts)
    except Exception:  # a layer without a meta kernel: count the parameters only
        activations = 0
    return params_g, params_c, activations


def training_memory(config, sample_shape, batch_size: int | None = None) -> float:
    """A rough lower bound, in bytes, of what one training step holds: float32 weights, gradients
    and two optimizer moments of both networks (plus the EMA copy), and per sample of the batch the
    data, a fake and the activations through both networks for the real and fake halves, kept for
    the backward pass and the gradient penalty's double backward (x3)."""
    params_g, params_c, activations = network_sizes(config, sample_shape)
    per_sample = math.prod(sample_shape)
    weights = 4 * (4 * params_g + 4 * params_c + (params_g if config.model.ema else 0))
    batch_size = config.data.batch_size if batch_size is None else batch_size
    batch = 4 * batch_size * (3 * per_sample + 3 * 2 * activations)
    return float(weights + batch)
