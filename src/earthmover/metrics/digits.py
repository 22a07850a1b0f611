"""A small digit classifier of our own: fast features and class probabilities for MNIST-like images.

The network is trained by ``scripts/train_digit_classifier.py`` on ``x_train`` of MNIST
(28x28, black background, scaled to [-1, 1]); its weights ship inside the package at
``earthmover/metrics/weights/digits_cnn.pt`` (a state_dict, loaded with ``weights_only=True``).

It plays the two roles the Inception network plays for natural images:
- ``features``: the 128-d global average pool of the last convolution (the analogue of
  Inception's 2048-d ``pool3``), for FID, KID and precision/recall on digits;
- ``probs``: softmax over the 10 digit classes, for the Inception Score on digits, class
  coverage, and InfoGAN's categorical code accuracy.
"""

from __future__ import annotations

from importlib import resources

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from earthmover.errors import EarthmoverError

FEATURE_DIM = 128
NUM_CLASSES = 10
IMAGE_SIZE = 28
WEIGHTS_RESOURCE = "weights/digits_cnn.pt"


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class DigitCNN(nn.Module):
    """28x28x1 in [-1, 1] -> 128-d pooled features -> 10 logits. About 0.1 M parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _block(1, 16),
            _block(16, 32),
            nn.MaxPool2d(2),  # 14x14
            _block(32, 64),
            nn.MaxPool2d(2),  # 7x7
            _block(64, FEATURE_DIM),  # 7x7x128
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """(N, 1, 28, 28) in [-1, 1] -> (N, 128) non-negative pooled features."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (N, 10)."""
        return self.head(self.dropout(self.features(x)))


def prepare_digits(images: Tensor) -> Tensor:
    """Bring images in [-1, 1] NCHW to what the classifier was trained on: (N, 1, 28, 28) float32.

    RGB is averaged to gray; other sizes are resized bilinearly (with antialiasing when shrinking).
    Values are clamped to [-1, 1].
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise EarthmoverError(
            f"images: expected a float tensor (N, 1 or 3, H, W) in [-1, 1], got shape {tuple(images.shape)}; "
            "pass images as NCHW"
        )
    x = images.detach().to(torch.float32)
    if x.shape[1] == 3:
        x = x.mean(dim=1, keepdim=True)
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        x = F.interpolate(
            x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=x.shape[-1] > IMAGE_SIZE
        )
    return x.clamp(-1.0, 1.0)


class DigitClassifier:
    """The packaged digit classifier as a feature extractor (name ``"digits"``)."""

    name = "digits"
    id = "digits"  # the feature cache's key; metrics.features sets it from the packaged weights' digest
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES
    has_probs = True

    def __init__(self, weights: str | None = None, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.net = load_digit_cnn(weights).to(self.device).eval()

    @torch.inference_mode()
    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = prepare_digits(images).to(self.device)
        f = self.net.features(x)
        return f.float().cpu(), self.net.head(f).float().cpu()

    def features(self, images: Tensor) -> Tensor:
        return self.features_and_logits(images)[0]

    def logits(self, images: Tensor) -> Tensor:
        return self.features_and_logits(images)[1]

    def probs(self, images: Tensor) -> Tensor:
        return self.logits(images).double().softmax(dim=1)

    def features_and_probs(self, images: Tensor, want_probs: bool = True) -> tuple[Tensor, Tensor | None]:
        f, logits = self.features_and_logits(images)
        return f, (logits.double().softmax(dim=1) if want_probs else None)

    def predict(self, images: Tensor) -> Tensor:
        return self.logits(images).argmax(dim=1)


def load_digit_cnn(weights: str | None = None) -> DigitCNN:
    """The packaged classifier (``weights=None``) or one saved by the training script at ``weights``."""
    net = DigitCNN()
    try:
        if weights is None:
            with resources.as_file(resources.files("earthmover.metrics").joinpath(WEIGHTS_RESOURCE)) as path:
                state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        where = weights or f"earthmover/metrics/{WEIGHTS_RESOURCE}"
        raise EarthmoverError(
            f"digit classifier weights: no file at {where}; "
            "run `python scripts/train_digit_classifier.py` to create them, or reinstall earthmover"
        ) from exc
    net.load_state_dict(state)
    return net.eval()
