"""ImageStream: one uint8 tensor in memory, batches gathered by index and mapped to [-1, 1]
exactly as ImageSet.to_float, and a position that resumes exactly."""
from __future__ import annotations

import pytest
import torch

from earthmover.data.image_set import ImageSet
from earthmover.data.streams import ImageStream
from earthmover.errors import EarthmoverError


def image_set(n=10):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 4, 4), generator=g, dtype=torch.uint8)
    images[0, 0, 0, :2] = torch.tensor([0, 255], dtype=torch.uint8)
    return ImageSet(images=images, labels=None, name="t")


def test_storage_stays_uint8_and_batches_match_to_float():
    s = image_set()
    stream = ImageStream(s.images, 4, seed=3, device="cpu")
    assert stream.storage.dtype == torch.uint8 and stream.storage.data_ptr() == s.images.data_ptr()  # no copy
    floats = s.to_float()
    old = ImageStream(floats, 4, seed=3)  # float storage, as before: same order, same values
    for _ in range(7):  # crosses pass boundaries (10 images, batch 4: 2 batches a pass)
        a, b = stream.next_batch(), old.next_batch()
        assert a.dtype == torch.float32 and torch.equal(a, b)
    assert stream.epoch == 3 and float(floats.min()) == -1.0 and float(floats.max()) == 1.0
    assert torch.equal(stream.reference(5), old.reference(5))


def test_resume_continues_the_same_batches():
    s = image_set(12)
    a = ImageStream(s.images, 5, seed=1)
    for _ in range(3):
        a.next_batch()
    state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in a.state_dict().items()}
    b = ImageStream(s.images, 5, seed=99)
    b.load_state_dict(state)
    for _ in range(5):
        assert torch.equal(a.next_batch(), b.next_batch())


def test_batch_larger_than_data():
    with pytest.raises(EarthmoverError, match="batch_size = 11.*<= 10"):
        ImageStream(image_set().images, 11, seed=0)
