"""The image data path's speed: loading a large folder of JPEGs (first load and cached second load),
and the batches/s of the in-memory stream against the training step rate.

    python benchmarks/data.py                        # both parts, 50,000 JPEGs
    python benchmarks/data.py --part folder --n 50000
    python benchmarks/data.py --part stream --data mnist --steps 20

Part "folder" writes N small JPEGs (32x32 RGB, 10 class folders) to a temporary directory, then
times ``load_images(folder, image_size=32)`` twice in fresh processes: the first load decodes
every file (in a thread pool) and writes the one-array cache, the second reads that cache. A
third fresh process times a load with ``image_size=28 channels=1`` (another key: decoded again).

Part "stream" times ``ImageStream.next_batch`` (uint8 storage, gather by index, map to [-1, 1])
at batch 64 on ``--data`` and, for comparison, the old way (float32 storage, gather by index);
then the training step rate of ``--preset wgan-gp --arch dcgan`` at the same batch, so the share
of a step the data path takes is step time / data time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_jpegs(root: Path, n: int) -> float:
    from PIL import Image

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    base = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:32, 0:32]
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = (base[i % 64] // 2 + ((xx * (i % 7) + yy * (i % 5)) % 128)[..., None]).astype(np.uint8)
        Image.fromarray(img).save(root / f"class{i % 10}" / f"{i:06d}.jpg", quality=90)
    return time.perf_counter() - start


LOAD = """
import sys, time
t = time.perf_counter()
from earthmover.data.images import load_images
t_import = time.perf_counter() - t
t = time.perf_counter()
s = load_images(sys.argv[1], image_size=int(sys.argv[2]), channels=(int(sys.argv[3]) or None))
print(f"{time.perf_counter() - t:.2f} {t_import:.2f} {tuple(s.images.shape)}")
"""


def time_load(folder: Path, cache: Path, size: int, channels: int) -> tuple[float, float, str]:
    """(seconds in load_images, seconds importing earthmover, shape) in a fresh process."""
    env = dict(os.environ, EARTHMOVER_CACHE=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", LOAD, str(folder), str(size), str(channels)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split(maxsplit=2)
    return float(out[0]), float(out[1]), out[2].strip()


def part_folder(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="earthmover-bench-") as tmp:
        folder, cache = Path(tmp) / "jpegs", Path(tmp) / "cache"
        wrote = write_jpegs(folder, n)
        size = sum(p.stat().st_size for p in folder.rglob("*.jpg"))
        print(f"wrote {n} JPEGs (32x32 RGB, {size / n:.0f} bytes each on average) in {wrote:.1f} s")
        print(f"load average before loading: {open('/proc/loadavg').read().split()[:3]} on {os.cpu_count()} cores")
        first, imp, shape = time_load(folder, cache, 32, 0)
        print(
            f"first load  (decode in {os.cpu_count()} worker processes, write cache): {first:6.2f} s -> {shape} "
            f"(+{imp:.1f} s importing earthmover)"
        )
        second, imp, _ = time_load(folder, cache, 32, 0)
        print(
            f"second load (stat the files, read the cached array):            {second:6.2f} s "
            f"(+{imp:.1f} s importing earthmover)"
        )
        other, imp, shape = time_load(folder, cache, 28, 1)
        print(f"another transform (28x28 gray: a new key, decoded again):       {other:6.2f} s -> {shape}")
        cached = sum(p.stat().st_size for p in (cache / "folders").iterdir())
        print(f"cache: {cached / 2**20:.0f} MiB in {cache / 'folders'}")


def part_stream(data: str, batch: int, steps: int) -> None:
    import torch

    from earthmover.data.images import load_images
    from earthmover.data.streams import ImageStream
    from earthmover.train.config import Config
    from earthmover.train.loop import Trainer

    image_set = load_images(data)
    print(
        f"{data}: {len(image_set)} images {image_set.image_shape}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )

    def rate(stream, n=2000) -> float:
        for _ in range(50):
            stream.next_batch()
        start = time.perf_counter()
        for _ in range(n):
            stream.next_batch()
        return n / (time.perf_counter() - start)

    new = rate(ImageStream(image_set.images, batch, 0))
    old = rate(ImageStream(image_set.to_float(), batch, 0))
    print(
        f"data path, batch {batch}: uint8 storage {new:,.0f} batches/s "
        f"({len(image_set) * image_set.images[0].numel() / 2**20:.0f} MiB); "
        f"float32 storage {old:,.0f} batches/s ({len(image_set) * image_set.images[0].numel() * 4 / 2**20:.0f} MiB)"
    )
    config = Config.from_preset("wgan-gp", data__name=data, data__batch_size=batch, model__arch="dcgan")
    trainer = Trainer(config, None, quiet=True)
    trainer.train_step()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    per_step = (time.perf_counter() - start) / steps
    n_critic = config.optim.n_critic
    print(
        f"training (wgan-gp, dcgan, batch {batch}, n_critic {n_critic}): {1 / per_step:.2f} steps/s, "
        f"{n_critic / per_step:.1f} real batches/s consumed"
    )
    print(
        f"the data path serves batches {new / (n_critic / per_step):,.0f}x faster than training consumes them "
        f"({100 * (n_critic / new) / per_step:.2f}% of a step)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["folder", "stream", "both"], default="both")
    parser.add_argument("--n", type=int, default=50_000, help="JPEGs to write for the folder part")
    parser.add_argument("--data", default="mnist", help="source for the stream part")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="training steps timed for the step rate")
    args = parser.parse_args()
    if args.part in ("folder", "both"):
        part_folder(args.n)
    if args.part in ("stream", "both"):
        part_stream(args.data, args.batch, args.steps)


if __name__ == "__main__":
    main()
