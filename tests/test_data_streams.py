"""ImageStream: one uint8 tensor in memory, batches gathered by index and mapped to [-1, 1]
exactly as ImageSet.to_float, and a position that resumes exactly."""

from __future__ import annotations

import pytest
import torch

from earthmover.data.image_set import ImageSet
from earthmover.data.streams import ImageStream
from earthmover.errors import EarthmoverError
from earthmover.train.monitor import make_monitor


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


# ------------------------------------------------------------------------------ large folders


def folder_of_pngs(root, n=13, seed=0):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        h, w = (6, 9) if i % 3 else (8, 8)  # mixed sizes: center-cropped to the side
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"c{i % 2}" / f"{i:02d}.png")
    return root


def config(root, **kw):
    from earthmover.train.config import DataConfig

    return DataConfig(name=str(root), batch_size=4, image_size=5, **kw)


def test_over_budget_folder_streams_the_in_memory_batches(tmp_path, monkeypatch):
    from earthmover.data.folder_stream import FolderStream
    from earthmover.data.from_config import make_stream

    root = folder_of_pngs(tmp_path / "f")
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    memory = make_stream(config(root), seed=5)
    monkeypatch.setenv("EARTHMOVER_MEMORY_BUDGET", "1k")  # 13 x 3 x 5 x 5 = 975 bytes fit
    assert isinstance(make_stream(config(root), seed=5), ImageStream)
    monkeypatch.setenv("EARTHMOVER_MEMORY_BUDGET", "900")
    streamed = make_stream(config(root), seed=5)
    assert isinstance(streamed, FolderStream) and streamed.sample_shape == memory.sample_shape == (3, 5, 5)
    for _ in range(3):  # 13 images, batch 4: 3 batches a pass
        assert torch.equal(streamed.next_batch(), memory.next_batch())
    state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in streamed.state_dict().items()}
    resumed = make_stream(config(root), seed=99)
    resumed.load_state_dict(state)
    for _ in range(4):  # across the pass boundary: the same permutations
        expected = memory.next_batch()
        assert torch.equal(streamed.next_batch(), expected) and torch.equal(resumed.next_batch(), expected)
    assert streamed.epoch == memory.epoch == 2
    assert torch.equal(streamed.reference(6), memory.reference(6))
    monitor = make_monitor(streamed)
    path = monitor.snapshot(lambda n, seed: torch.zeros(n, 3, 5, 5), tmp_path / "grid.png", seed=0)
    assert path.is_file() and monitor.measures(lambda n, seed: None, 4, 0) == {}  # what image streams bring


def test_a_streamed_folder_gives_the_labels_of_its_class_folders(tmp_path, monkeypatch):
    """A conditional run on a folder too large for memory: each streamed batch comes with the
    labels the in-memory stream gives the same images (c0 -> 0, c1 -> 1)."""
    from earthmover.data.from_config import make_stream

    root = folder_of_pngs(tmp_path / "f")
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    memory = make_stream(config(root), seed=5)
    monkeypatch.setenv("EARTHMOVER_MEMORY_BUDGET", "900")
    streamed = make_stream(config(root), seed=5)
    assert streamed.num_classes == memory.num_classes == 2
    for _ in range(4):
        (x, y), (x_mem, y_mem) = streamed.next_labelled_batch(), memory.next_labelled_batch()
        assert torch.equal(x, x_mem) and torch.equal(y, y_mem)


def test_streamed_bad_file_named_or_replaced(tmp_path, monkeypatch):
    from earthmover.data.from_config import make_stream

    root = folder_of_pngs(tmp_path / "f", n=8)
    (root / "c0" / "00.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    monkeypatch.setenv("EARTHMOVER_MEMORY_BUDGET", "10")
    stream = make_stream(config(root), seed=0)
    with pytest.raises(EarthmoverError, match=r"00\.png.*cannot be read.*--data\.skip-bad") as err:
        for _ in range(4):
            stream.next_batch()
    assert "\n" not in str(err.value)
    skipping = make_stream(config(root, skip_bad=True), seed=0)
    for _ in range(4):
        assert skipping.next_batch().shape == (4, 3, 5, 5)
    assert skipping.skipped == 2  # two passes of 8, the bad file once in each


def test_memory_budget_setting(monkeypatch):
    from earthmover.data.folder_stream import DEFAULT_BUDGET, memory_budget

    monkeypatch.delenv("EARTHMOVER_MEMORY_BUDGET", raising=False)
    assert memory_budget() == DEFAULT_BUDGET == 4 << 30
    monkeypatch.setenv("EARTHMOVER_MEMORY_BUDGET", "512M")
    assert memory_budget() == 512 << 20
    monkeypatch.setenv("EARTHMOVER_MEMORY_BUDGET", "lots")
    with pytest.raises(EarthmoverError, match="EARTHMOVER_MEMORY_BUDGET='lots'.*512M"):
        memory_budget()
