"""Image sources: every source on small files made here, the uint8 -> [-1, 1] map, resizing,
channel conversion, labels, and each error a user can cause. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data_support import isolated  # noqa: F401 (the autouse fixture)
from earthmover.data.images import ImageSet, find_mnist, load_images
from earthmover.data.sources.public import DATASETS
from earthmover.errors import EarthmoverError

FIXTURE = Path(__file__).parent / "data" / "mnist_small.npz"


def ramp(n=5, h=6, w=7, c=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n, h, w) if c is None else (n, h, w, c)
    x = rng.integers(0, 256, size=shape, dtype=np.uint8)
    x.flat[0], x.flat[1] = 0, 255  # both ends present
    return x


def write_idx(path: Path, array: np.ndarray) -> None:
    """The real IDX layout: 0, 0, dtype code (0x08 = uint8), ndim, big-endian uint32 dims, data."""
    payload = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.astype(np.uint8).tobytes()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(payload)


def save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# ------------------------------------------------------------------------------ ImageSet


def test_to_float_maps_0_and_255_exactly_and_is_affine():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = ImageSet(images=x, labels=None, name="ramp").to_float()
    assert f.dtype == torch.float32 and f.shape == (1, 1, 16, 16)
    assert f.min().item() == -1.0 and f.max().item() == 1.0
    assert f.flatten()[0].item() == -1.0 and f.flatten()[255].item() == 1.0
    expected = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    assert torch.allclose(f.flatten().double(), expected, rtol=0, atol=1e-6)


def test_imageset_properties_and_validation():
    s = ImageSet(images=torch.zeros(4, 3, 5, 6, dtype=torch.uint8), labels=torch.tensor([0, 2, 1, 2]), name="t")
    assert (len(s), s.channels, s.height, s.width, s.image_shape, s.num_classes) == (4, 3, 5, 6, (3, 5, 6), 3)
    assert ImageSet(images=s.images, labels=None, name="t").num_classes is None
    with pytest.raises(EarthmoverError, match="uint8"):
        ImageSet(images=torch.zeros(4, 3, 5, 6), labels=None, name="t")
    with pytest.raises(EarthmoverError, match="int64"):
        ImageSet(images=s.images, labels=torch.tensor([0, 1]), name="t")


# ------------------------------------------------------------------------------ mnist


def test_mnist_found_through_env_var(monkeypatch):
    monkeypatch.setenv("EARTHMOVER_MNIST", str(FIXTURE))
    assert find_mnist() == FIXTURE
    train = load_images("mnist")
    assert train.name == "mnist:train" and train.images.shape == (512, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert train.num_classes == 10
    test = load_images("mnist:test", limit=100)
    assert test.name == "mnist:test" and test.images.shape == (100, 1, 28, 28)
    assert load_images("mnist", split="test").images.shape[0] == 256
    with np.load(FIXTURE) as raw:
        assert torch.equal(test.images[:, 0], torch.from_numpy(raw["x_test"][:100]))


def test_mnist_lookup_order_cache_then_shared(tmp_path, monkeypatch):
    assert find_mnist() is None
    beside_repo = tmp_path / "pkg" / "shared" / "data" / "mnist.npz"  # found from the package's folder
    beside_repo.parent.mkdir(parents=True)
    beside_repo.write_bytes(FIXTURE.read_bytes())
    assert find_mnist() == beside_repo
    shared = tmp_path / "shared" / "data" / "mnist.npz"  # ../../shared from cwd tmp_path/work/sub
    shared.parent.mkdir(parents=True)
    shared.write_bytes(FIXTURE.read_bytes())
    assert find_mnist() == shared  # the cwd walk comes before the package's folder
    cached = tmp_path / "cache" / "mnist.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(FIXTURE.read_bytes())
    assert find_mnist() == cached
    monkeypatch.setenv("EARTHMOVER_MNIST", str(FIXTURE))
    assert find_mnist() == FIXTURE


def test_mnist_missing_offline_says_url_file_and_where(tmp_path):
    with pytest.raises(EarthmoverError, match="download failed") as err:
        load_images("mnist")
    message = str(err.value)
    assert "\n" not in message and "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in message
    assert f"save them in {tmp_path / 'cache' / 'datasets' / 'mnist'}: " in message
    assert all(f"http://127.0.0.1:9/{r.file}" in message for r in DATASETS["mnist"].files)  # all four
    assert "EARTHMOVER_MNIST" in message
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == [".lock"]  # nothing half-written


def test_mnist_env_var_pointing_nowhere(monkeypatch, tmp_path):
    monkeypatch.setenv("EARTHMOVER_MNIST", str(tmp_path / "absent.npz"))
    with pytest.raises(EarthmoverError, match="EARTHMOVER_MNIST.*no such file"):
        load_images("mnist")


def test_mnist_unknown_and_conflicting_split(monkeypatch):
    monkeypatch.setenv("EARTHMOVER_MNIST", str(FIXTURE))
    with pytest.raises(EarthmoverError, match="split 'valid'.*train, test"):
        load_images("mnist:valid")
    with pytest.raises(EarthmoverError, match="split 'valid'"):
        load_images("mnist", split="valid")
    with pytest.raises(EarthmoverError, match="one place"):
        load_images("mnist:test", split="valid")


# ------------------------------------------------------------------------------ digits


def test_digits_split_scaling_and_labels():
    from sklearn.datasets import load_digits

    raw = load_digits()
    train, test = load_images("digits"), load_images("digits:test")
    assert train.images.shape == (1500, 1, 8, 8) and test.images.shape == (297, 1, 8, 8)
    assert train.name == "digits:train" and test.num_classes == 10
    expected = np.rint(raw.images * 255 / 16).astype(np.uint8)
    assert torch.equal(test.images[:, 0], torch.from_numpy(expected[1500:]))
    assert test.labels.tolist() == raw.target[1500:].tolist()
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0  # 16 -> 255, 0 -> 0


# ------------------------------------------------------------------------------ npz / npy


def test_npz_with_split_keys(tmp_path):
    x_tr, x_te = ramp(5), ramp(3, seed=1)
    np.savez(tmp_path / "d.npz", x_train=x_tr, y_train=np.arange(5), x_test=x_te, y_test=np.array([2, 0, 1]))
    s = load_images(tmp_path / "d.npz", split="test")
    assert s.name == "d.npz:test" and s.images.shape == (3, 1, 6, 7)
    assert torch.equal(s.images[:, 0], torch.from_numpy(x_te)) and s.labels.tolist() == [2, 0, 1]
    with pytest.raises(EarthmoverError, match="split 'val'.*test, train"):
        load_images(str(tmp_path / "d.npz"), split="val")


def test_npz_images_labels_keys_and_nhwc(tmp_path):
    x = ramp(4, c=3)
    np.savez(tmp_path / "rgb.npz", images=x, labels=np.array([[1], [0], [1], [1]]))
    s = load_images(tmp_path / "rgb.npz")
    assert s.images.shape == (4, 3, 6, 7)
    assert torch.equal(s.images, torch.from_numpy(x).permute(0, 3, 1, 2))
    assert s.labels.tolist() == [1, 0, 1, 1] and s.num_classes == 2


def test_npz_first_array_and_float_ranges(tmp_path):
    x = ramp(3)
    np.savez(tmp_path / "a.npz", anything=x.astype(np.float32) / 255.0)
    s = load_images(tmp_path / "a.npz")
    assert s.labels is None and torch.equal(s.images[:, 0], torch.from_numpy(x))
    np.savez(tmp_path / "b.npz", images=x.astype(np.float64) / 127.5 - 1.0)
    assert torch.equal(load_images(tmp_path / "b.npz").images[:, 0], torch.from_numpy(x))


def test_npy_images_only_with_limit(tmp_path):
    x = ramp(6)
    np.save(tmp_path / "x.npy", x)
    s = load_images(str(tmp_path / "x.npy"), limit=2)
    assert s.labels is None and s.images.shape == (2, 1, 6, 7)
    assert torch.equal(s.images[:, 0], torch.from_numpy(x[:2]))


def test_npz_bad_values_and_corrupt_files(tmp_path):
    np.save(tmp_path / "neg.npy", np.full((2, 4, 4), -3, dtype=np.int16))
    with pytest.raises(EarthmoverError, match="0..255"):
        load_images(tmp_path / "neg.npy")
    np.save(tmp_path / "flat.npy", np.zeros((2, 16), dtype=np.uint8))
    with pytest.raises(EarthmoverError, match="not images"):
        load_images(tmp_path / "flat.npy")
    np.savez(tmp_path / "lab.npz", images=ramp(3), labels=np.arange(2))
    with pytest.raises(EarthmoverError, match="labels of shape"):
        load_images(tmp_path / "lab.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(EarthmoverError, match="cannot be read"):
        load_images(tmp_path / "junk.npz")
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(EarthmoverError, match="cannot be read"):
        load_images(tmp_path / "junk.npy")


def test_empty_dataset(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 4, 4), dtype=np.uint8))
    with pytest.raises(EarthmoverError, match="no images"):
        load_images(tmp_path / "empty.npy")
    np.savez(tmp_path / "none.npz")
    with pytest.raises(EarthmoverError, match="no arrays"):
        load_images(tmp_path / "none.npz")


# ------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_images_with_labels_beside(tmp_path, gz):
    x, y = ramp(5, 28, 28), np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    ext = ".gz" if gz else ""
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{ext}", x)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{ext}", y)
    s = load_images(tmp_path / f"t10k-images-idx3-ubyte{ext}")
    assert s.images.shape == (5, 1, 28, 28) and torch.equal(s.images[:, 0], torch.from_numpy(x))
    assert s.labels.tolist() == [3, 1, 4, 1, 5]


def test_idx_without_labels_and_errors(tmp_path):
    x = ramp(2)
    write_idx(tmp_path / "train-images-idx3-ubyte", x)
    assert load_images(tmp_path / "train-images-idx3-ubyte").labels is None
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(2))
    with pytest.raises(EarthmoverError, match="not the labels file"):
        load_images(tmp_path / "train-labels-idx1-ubyte")
    data = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "cut-images-idx3-ubyte").write_bytes(data[:-5])
    with pytest.raises(EarthmoverError, match="truncated or corrupt"):
        load_images(tmp_path / "cut-images-idx3-ubyte")
    (tmp_path / "bad-images-idx3-ubyte").write_bytes(b"\x1f\x8bxyz" + data)
    with pytest.raises(EarthmoverError, match="bad header"):
        load_images(tmp_path / "bad-images-idx3-ubyte")
    (tmp_path / "bad-images-idx3-ubyte.gz").write_bytes(data)  # not gzip despite its name
    with pytest.raises(EarthmoverError, match="cannot be read"):
        load_images(tmp_path / "bad-images-idx3-ubyte.gz")


# ------------------------------------------------------------------------------ folders


def test_folder_with_class_subfolders(tmp_path):
    a, b = ramp(2, 5, 4, seed=1), ramp(3, 5, 4, seed=2)
    for i, img in enumerate(a):
        save_png(tmp_path / "imgs" / "cat" / f"{i}.png", img)
    for i, img in enumerate(b):
        save_png(tmp_path / "imgs" / "ant" / f"{i}.png", img)
    (tmp_path / "imgs" / ".hidden").mkdir()
    s = load_images(tmp_path / "imgs")
    assert s.classes == ["ant", "cat"] and s.num_classes == 2 and s.name == "imgs"
    assert s.labels.tolist() == [0, 0, 0, 1, 1]
    assert s.images.shape == (5, 1, 5, 4)
    assert torch.equal(s.images[:, 0], torch.from_numpy(np.concatenate([b, a])))  # PNG is lossless
    assert load_images(tmp_path / "imgs", limit=4).labels.tolist() == [0, 0, 0, 1]


def test_flat_folder_rgb_and_gray_mixed(tmp_path):
    rgb, gray = ramp(1, 4, 4, c=3)[0], ramp(1, 4, 4)[0]
    save_png(tmp_path / "f" / "a.png", rgb)
    save_png(tmp_path / "f" / "b.png", gray)
    s = load_images(tmp_path / "f")
    assert s.labels is None and s.images.shape == (2, 3, 4, 4)
    assert torch.equal(s.images[0], torch.from_numpy(rgb).permute(2, 0, 1))
    assert torch.equal(s.images[1], torch.from_numpy(gray).expand(3, 4, 4))  # gray replicated
    one = load_images(tmp_path / "f", channels=1)
    assert one.images.shape == (2, 1, 4, 4) and torch.equal(one.images[1, 0], torch.from_numpy(gray))


def test_folder_mixed_sizes_need_image_size(tmp_path):
    save_png(tmp_path / "f" / "a.png", ramp(1, 4, 4)[0])
    save_png(tmp_path / "f" / "b.png", ramp(1, 8, 6)[0])
    with pytest.raises(EarthmoverError, match="mixed sizes.*image_size"):
        load_images(tmp_path / "f")
    s = load_images(tmp_path / "f", image_size=5)
    assert s.images.shape == (2, 1, 5, 5)


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EarthmoverError, match="no images"):
        load_images(tmp_path / "empty")
    (tmp_path / "cls" / "a").mkdir(parents=True)
    save_png(tmp_path / "cls" / "b" / "0.png", ramp(1)[0])
    with pytest.raises(EarthmoverError, match="class folder .* no images"):
        load_images(tmp_path / "cls")
    save_png(tmp_path / "both" / "x.png", ramp(1)[0])
    save_png(tmp_path / "both" / "sub" / "y.png", ramp(1)[0])
    with pytest.raises(EarthmoverError, match="both images and subfolders"):
        load_images(tmp_path / "both")
    save_png(tmp_path / "broken" / "ok.png", ramp(1)[0])
    (tmp_path / "broken" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(EarthmoverError, match="bad.png.*cannot be read"):
        load_images(tmp_path / "broken")


def test_16bit_png_scaled_not_clipped(tmp_path):
    (tmp_path / "w").mkdir()
    wide = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "w" / "a.png")
    assert load_images(tmp_path / "w").images.flatten().tolist() == [0, 1, 128, 255]


def test_jpeg_folder_reads(tmp_path):
    (tmp_path / "j").mkdir()
    Image.fromarray(np.full((8, 8, 3), 200, dtype=np.uint8)).save(tmp_path / "j" / "a.jpg", quality=95)
    s = load_images(tmp_path / "j")
    assert s.images.shape == (1, 3, 8, 8)
    assert abs(int(s.images.float().mean().round()) - 200) <= 2


# ------------------------------------------------------------------------------ resize / channels


def test_resize_shape_and_constant_preserved(tmp_path):
    x = np.full((3, 28, 28), 77, dtype=np.uint8)
    x[0, :, :14] = 0
    np.save(tmp_path / "x.npy", x)
    s = load_images(tmp_path / "x.npy", image_size=32)
    assert s.images.shape == (3, 1, 32, 32) and s.images.dtype == torch.uint8
    assert torch.all(s.images[1:] == 77)  # a constant image stays constant under bilinear resampling
    assert s.images[0, 0, :, 0].eq(0).all() and s.images[0, 0, :, -1].eq(77).all()
    small = load_images(tmp_path / "x.npy", image_size=7)
    assert small.images.shape == (3, 1, 7, 7)
    # antialiasing: shrinking a 9x9 checkerboard by 3 gives mid-gray; point sampling would give 0/255
    board = ((np.indices((9, 9)).sum(0) % 2) * 255).astype(np.uint8)[None]
    np.save(tmp_path / "b.npy", board)
    shrunk = load_images(tmp_path / "b.npy", image_size=3).images
    assert int(shrunk.min()) >= 118 and int(shrunk.max()) <= 138


def test_channel_conversion_exact(tmp_path):
    x = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    x[0, ..., 0], x[0, ..., 1], x[0, ..., 2] = 255, 0, 0
    x[1] = 255
    np.save(tmp_path / "c.npy", x)
    gray = load_images(tmp_path / "c.npy", channels=1).images
    assert gray.shape == (2, 1, 2, 2)
    assert int(gray[0, 0, 0, 0]) == round(0.299 * 255) and int(gray[1].min()) == 255
    np.save(tmp_path / "g.npy", ramp(2))
    rgb = load_images(tmp_path / "g.npy", channels=3).images
    assert rgb.shape == (2, 3, 6, 7) and torch.equal(rgb[:, 0], rgb[:, 2])
    img = Image.fromarray(x[0])  # agrees with PIL's luminance
    assert abs(int(np.asarray(img.convert("L"))[0, 0]) - int(gray[0, 0, 0, 0])) <= 1


def test_bad_arguments(tmp_path):
    np.save(tmp_path / "x.npy", ramp(2))
    for kwargs, word in [({"image_size": 0}, "image_size"), ({"channels": 2}, "channels"), ({"limit": 0}, "limit")]:
        with pytest.raises(EarthmoverError, match=word):
            load_images(tmp_path / "x.npy", **kwargs)


# ------------------------------------------------------------------------------ source strings


def test_unknown_source_suggests_nearest():
    with pytest.raises(EarthmoverError, match="did you mean 'mnist'"):
        load_images("mnsit")
    with pytest.raises(EarthmoverError, match="did you mean 'digits'"):
        load_images("digit")
    with pytest.raises(EarthmoverError, match="not a known source") as err:
        load_images("zzzzzz")
    assert "did you mean" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(EarthmoverError, match="no such file"):
        load_images(tmp_path / "absent.npz")
    with pytest.raises(EarthmoverError, match="no such file"):
        load_images("some/dir/x.npy")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(EarthmoverError, match="unrecognized file type"):
        load_images(tmp_path / "notes.txt")


def test_torchvision_missing_says_install_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails even where it is installed
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(EarthmoverError, match=r"torchvision built for your torch.*does not import beside torch") as err:
        load_images("torchvision:MNIST")
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------ URLs


def test_file_url_downloaded_once_into_cache(tmp_path):
    x = ramp(3)
    src = tmp_path / "remote.npz"
    np.savez(src, x_train=x, y_train=np.array([7, 8, 9]))
    s = load_images(src.as_uri(), cache_dir=tmp_path / "c")
    assert s.images.shape == (3, 1, 6, 7) and s.labels.tolist() == [7, 8, 9] and s.name == "remote.npz:train"
    cached = list((tmp_path / "c" / "downloads").iterdir())
    assert len(cached) == 1 and cached[0].name.endswith("-remote.npz")
    src.unlink()  # the second load must come from the cache
    assert torch.equal(load_images(src.as_uri(), cache_dir=tmp_path / "c").images, s.images)


def test_http_url_downloaded_once(local_server, tmp_path):
    root, base, _ = local_server
    x = ramp(4)
    np.savez_compressed(root / "set.npz", images=x)
    s = load_images(f"{base}/set.npz")  # cache: $EARTHMOVER_CACHE from the autouse fixture
    assert torch.equal(s.images[:, 0], torch.from_numpy(x)) and s.labels is None
    (root / "set.npz").unlink()
    assert torch.equal(load_images(f"{base}/set.npz").images, s.images)
    downloads = tmp_path / "cache" / "downloads"
    assert [p.name.endswith("-set.npz") for p in downloads.iterdir()] == [True]  # no temp files left


def test_http_errors_leave_no_file(local_server, tmp_path):
    root, base, _ = local_server
    with pytest.raises(EarthmoverError, match="download failed"):
        load_images(f"{base}/absent.npz")
    (root / "fake.npz").write_text("<html>not found</html>")
    with pytest.raises(EarthmoverError, match="not a valid .npz"):
        load_images(f"{base}/fake.npz")
    with pytest.raises(EarthmoverError, match=r"\.npz"):
        load_images(f"{base}/page.html")
    downloads = tmp_path / "cache" / "downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []


# ------------------------------------------------------------------------------ single-array .npz


def test_npz_with_only_x_test_is_simply_read(tmp_path):
    """A sample dump holding one array x_test (issue 9): read it, whatever split is the default."""
    x = ramp(4)
    np.savez(tmp_path / "samples.npz", x_test=x)
    s = load_images(tmp_path / "samples.npz")
    assert s.name == "samples.npz:test" and torch.equal(s.images[:, 0], torch.from_numpy(x))
    assert torch.equal(load_images(tmp_path / "samples.npz", split="test").images, s.images)
    with pytest.raises(EarthmoverError, match="split 'train'.*expected one of test"):
        load_images(tmp_path / "samples.npz", split="train")  # asked for explicitly: still refused


def test_npz_with_several_splits_defaults_to_train(tmp_path):
    np.savez(tmp_path / "d.npz", x_test=ramp(2), x_train=ramp(3), x_valid=ramp(1))
    assert load_images(tmp_path / "d.npz").name == "d.npz:train"
    np.savez(tmp_path / "e.npz", x_test=ramp(2), x_valid=ramp(1))
    with pytest.raises(EarthmoverError, match="split 'train'.*test, valid"):
        load_images(tmp_path / "e.npz")


def test_fid_command_reads_an_npz_holding_only_x_test(tmp_path, monkeypatch, capsys):
    """`earthmover fid samples.npz mnist:test` with samples.npz = {x_test}: no split error."""
    from earthmover.cli import main

    monkeypatch.setenv("EARTHMOVER_MNIST", str(FIXTURE))
    with np.load(FIXTURE) as raw:
        np.savez(tmp_path / "samples.npz", x_test=raw["x_test"][:64])
    code = main(["fid", str(tmp_path / "samples.npz"), "mnist:test", "--features", "digits", "--n", "64"])
    out = capsys.readouterr()
    assert code in (0, None), out.err
    assert "split" not in out.err
