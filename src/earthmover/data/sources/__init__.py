"""Image sources, one module each: ``npz`` (.npz/.npy files), ``idx`` (MNIST's IDX format),
``folder`` (folders of PNG/JPEG/... files), ``digits`` (scikit-learn's 8x8 digits),
``public`` (mnist, fashion-mnist, cifar10: downloaded, verified and cached), ``url`` (an .npz
behind a URL) and ``torchvision`` (``torchvision.datasets`` classes).

Each ``load_*`` returns ``(images, labels or None, name, class names or None)``; the images may be
any array :func:`earthmover.data.image_set.as_uint8_nchw` accepts. ``earthmover.data.images``
chooses the source and applies the common steps (limit, resize, channels).

The named sources register themselves in :data:`earthmover.data.sources.registry.IMAGE_SOURCES`
when their module is imported; the imports below fix the order listings show them in.
"""

# isort: off
from earthmover.data.sources import public, digits, torchvision  # noqa: F401  (registration)
# isort: on
