"""NumPy files: ``.npz`` archives (opened with ``allow_pickle=False``) and ``.npy`` arrays.

An ``.npz`` is read as, in this order:

* arrays ``x_<split>`` / ``y_<split>`` (``x_train``, ``y_train``, ``x_test``, ...): the split
  asked for; with no split asked, ``train`` if present, else the only ``x_`` array there is
  (so a file holding just ``x_test``, such as a sample dump, is simply read);
* arrays ``images`` / ``labels``;
* else the first array, without labels.

A ``.npy`` holds images only, no labels.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from earthmover.data.numpy_files import not_numpy_reason
from earthmover.errors import EarthmoverError

__all__ = ["load_npz", "load_npy", "npz_error"]


def npz_error(path: Path, err: Exception) -> EarthmoverError:
    reason = not_numpy_reason(path)  # numpy calls any garbage "pickled (object) data"
    if reason:
        return EarthmoverError(f"file {str(path)!r} cannot be read: it is {reason}")
    return EarthmoverError(
        f"file {str(path)!r}: cannot be read as .npz/.npy "
        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'corrupt'}); "
        "re-download or re-create it with numpy.savez"
    )


def load_npz(path: Path, split: str | None, name: str):
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if not keys:
                raise EarthmoverError(f"file {str(path)!r} holds no arrays; save images into it with numpy.savez")
            splits = sorted(k[2:] for k in keys if k.startswith("x_"))
            if splits:
                if split is None:
                    split = "train" if "train" in splits or len(splits) > 1 else splits[0]
                if split not in splits:
                    raise EarthmoverError(
                        f"split {split!r} for {str(path)!r}: expected one of {', '.join(splits)} (arrays x_<split>)"
                    )
                images = npz[f"x_{split}"]
                labels = npz[f"y_{split}"] if f"y_{split}" in keys else None
                return images, labels, (name if ":" in name else f"{name}:{split}"), None
            if split not in (None, "train"):  # FILE.npz:KEY names an array (issue 26): never ignored
                if split not in keys:
                    raise EarthmoverError(
                        f"{str(path)!r} holds no array {split!r} (it holds {', '.join(keys)}); name one of those"
                    )
                return npz[split], None, f"{name}:{split}", None
            if "images" in keys:
                return npz["images"], (npz["labels"] if "labels" in keys else None), name, None
            return npz[keys[0]], None, name, None
    except EarthmoverError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise npz_error(path, err) from None


def load_npy(path: Path, limit: int | None):
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise npz_error(path, err) from None
    return np.array(array[:limit] if limit is not None else array)
