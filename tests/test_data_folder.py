"""Folders of images (folder:PATH or a bare directory): PNG and JPEG written here with PIL, nested
class folders, mixed sizes center-cropped, channels, unreadable files (error or --data.skip-bad),
the parallel decoder's order, and the one-array cache keyed by files and transform."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from data_support import isolated  # noqa: F401 (fixture)
from earthmover.data.images import load_images
from earthmover.data.sources import folder as folder_source
from earthmover.errors import EarthmoverError


def save(path, array, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)


def test_nested_classes_png_and_jpeg(tmp_path):
    gray = np.full((6, 6), 40, np.uint8)
    save(tmp_path / "f" / "b_dogs" / "deep" / "er" / "1.jpg", gray, quality=95)
    save(tmp_path / "f" / "b_dogs" / "0.png", gray)
    save(tmp_path / "f" / "a_cats" / "x.png", gray)
    s = load_images(f"folder:{tmp_path / 'f'}")
    assert s.classes == ["a_cats", "b_dogs"] and s.labels.tolist() == [0, 1, 1]
    assert s.images.shape == (3, 1, 6, 6) and s.channels == 1  # all gray: inferred 1 channel
    assert abs(int(s.images[2].float().mean().round()) - 40) <= 2  # the JPEG


def test_mixed_sizes_are_center_cropped_then_resized(tmp_path):
    wide = np.zeros((4, 8, 3), np.uint8)
    wide[:, :2], wide[:, 2:6], wide[:, 6:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    save(tmp_path / "f" / "a.png", wide)  # 8 wide, 4 high: its center square is the green block
    tall = np.zeros((12, 4, 3), np.uint8)
    tall[4:8] = 200
    save(tmp_path / "f" / "b.png", tall)  # 4 wide, 12 high: its center square is rows 4..7
    with pytest.raises(EarthmoverError, match="mixed sizes.*--image-size"):
        load_images(tmp_path / "f")
    s = load_images(tmp_path / "f", image_size=4)
    assert s.images.shape == (2, 3, 4, 4)
    assert s.images[0, 1].eq(255).all() and s.images[0, 0].eq(0).all() and s.images[0, 2].eq(0).all()
    assert s.images[1].eq(200).all()
    up = load_images(tmp_path / "f", image_size=8).images  # resampled up: still green only, not squashed
    assert up[0, 1].eq(255).all() and up[0, 0].eq(0).all()


def test_channels_inferred_or_chosen(tmp_path):
    save(tmp_path / "f" / "a.png", np.full((4, 4, 3), (255, 0, 0), np.uint8))
    save(tmp_path / "f" / "b.png", np.full((4, 4), 90, np.uint8))
    rgb = load_images(tmp_path / "f")
    assert rgb.channels == 3 and rgb.images[1].eq(90).all()  # gray promoted beside RGB
    gray = load_images(tmp_path / "f", channels=1)
    assert gray.channels == 1 and int(gray.images[0, 0, 0, 0]) == round(0.299 * 255) and gray.images[1].eq(90).all()
    assert load_images(tmp_path / "f", channels=3, image_size=2).images.shape == (2, 3, 2, 2)


def test_png_named_jpg_still_reads(tmp_path):
    save(tmp_path / "f" / "a.png", np.full((3, 3), 7, np.uint8))
    (tmp_path / "f" / "a.png").rename(tmp_path / "f" / "a.jpg")
    assert load_images(tmp_path / "f").images.flatten().tolist() == [7] * 9


def test_corrupt_file_named_or_skipped_and_counted(tmp_path, capsys):
    for i in range(3):
        save(tmp_path / "f" / "a" / f"{i}.png", np.full((4, 4), i, np.uint8))
    save(tmp_path / "f" / "b" / "0.png", np.full((4, 4), 9, np.uint8))
    (tmp_path / "f" / "a" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    (tmp_path / "f" / "b" / "9.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(EarthmoverError, match=r"1\.png.*cannot be read.*--data\.skip-bad") as err:
        load_images(tmp_path / "f")
    assert "\n" not in str(err.value)
    s = load_images(tmp_path / "f", skip_bad=True)
    assert s.skipped == 2 and s.labels.tolist() == [0, 0, 1]
    assert s.images[:, 0, 0, 0].tolist() == [0, 2, 9]
    assert "skipped 2 unreadable" in capsys.readouterr().err


def test_all_files_bad_is_an_error(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "x.png").write_bytes(b"junk")
    with pytest.raises(EarthmoverError, match="none of its 1 image files"):
        load_images(tmp_path / "f", skip_bad=True)


def test_folder_prefix_errors(tmp_path):
    with pytest.raises(EarthmoverError, match="is not a folder"):
        load_images(f"folder:{tmp_path / 'absent'}")


def test_parallel_decode_keeps_file_order(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_source, "PROCESS_MIN_FILES", 100)  # decoded by 2 worker processes
    monkeypatch.setattr(folder_source, "_workers", lambda: 2)
    for i in range(150):
        save(tmp_path / "f" / f"{i:03d}.png", np.full((3, 3), i, np.uint8))
    s = load_images(tmp_path / "f")
    assert s.images[:, 0, 0, 0].tolist() == list(range(150))


def test_large_jpeg_reduced_decode_matches_full_decode(tmp_path):
    yy, xx = np.mgrid[0:256, 0:256]
    smooth = np.stack([xx, yy, (xx + yy) // 2], axis=-1).astype(np.uint8)
    save(tmp_path / "f" / "a.jpg", smooth, quality=95)
    fast = load_images(tmp_path / "f", image_size=32).images.float()
    full = np.asarray(Image.open(tmp_path / "f" / "a.jpg").convert("RGB").resize((32, 32), Image.BILINEAR), np.float32)
    assert (fast[0] - torch.from_numpy(full).permute(2, 0, 1)).abs().mean() < 3.0


def test_cache_second_load_reads_one_array(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_source, "CACHE_MIN_FILES", 1)
    for i in range(4):
        save(tmp_path / "f" / ("a" if i < 2 else "b") / f"{i}.png", np.full((5, 7), 10 * i, np.uint8))
    first = load_images(tmp_path / "f", image_size=4)
    cached = sorted(p.name for p in (tmp_path / "cache" / "folders").iterdir())
    assert len(cached) == 2 and cached[0].endswith(".meta.npz") and cached[1].endswith(".npy")

    calls = []
    real_read = folder_source.read_image
    monkeypatch.setattr(folder_source, "read_image", lambda *a, **k: calls.append(a[0]) or real_read(*a, **k))
    second = load_images(tmp_path / "f", image_size=4)
    assert calls == [] and torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    assert second.classes == ["a", "b"]
    load_images(tmp_path / "f", image_size=3)  # another transform: another key
    assert len(calls) == 4
    path = tmp_path / "f" / "a" / "0.png"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    load_images(tmp_path / "f", image_size=4)  # a touched file: read again
    assert len(calls) == 8


def test_cache_keeps_the_skipped_count(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(folder_source, "CACHE_MIN_FILES", 1)
    save(tmp_path / "f" / "a.png", np.zeros((2, 2), np.uint8))
    (tmp_path / "f" / "b.png").write_bytes(b"junk")
    assert load_images(tmp_path / "f", skip_bad=True).skipped == 1
    again = load_images(tmp_path / "f", skip_bad=True)
    assert again.skipped == 1 and capsys.readouterr().err.count("skipped 1") == 2
    with pytest.raises(EarthmoverError, match="b.png"):
        load_images(tmp_path / "f")  # skip_bad is part of the key: the error is not hidden by the cache
