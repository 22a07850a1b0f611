"""Every mistake a user can make ends in one clear line, and no failed command damages a run (issue 13).

CASES is a table, one line per bad or hostile input: the command line and a piece of the message
it must print. Each case must end with exit status 2, exactly one line on stderr (no traceback),
and a workspace (a trained run, data files, ...) byte-identical before and after: validate and
load first, write last. Extend it with one line.

Speed: a new Python process costs about 2 s here, so the cases run through the real CLI
(``earthmover.cli.main``, what ``python -m earthmover`` calls) in ONE child process, which
captures file descriptors 1 and 2 per case and turns an escaping exception into a traceback and
status 1 as Python would. A few tests at the end run true separate processes (signals, a real
allocation refusal) to show the two agree.

Unwritable locations: the tests run as root, for whom chmod denies nothing. They use paths under a
regular FILE (``file/out``: no one can create it), ``/proc`` (a filesystem that refuses new
files), and, for a checkpoints folder that exists but cannot be written, ``chattr +i`` (the
immutable flag binds root too; those cases are skipped where chattr is missing).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# ------------------------------------------------------------------------------------------------
# The table: (id, argv, expected piece of the message). {W} is the workspace (the cwd of every case):
#   W/run      a tiny trained toy run (quickstart, 2 steps, checkpoints 0, 1, 2)
#   W/run8     the same with width 8 (another architecture)
#   W/run_edited  W/run with optim.name changed to rmsprop in its config.toml by hand
#   W/file     a regular file; W/folder an empty folder; W/kept.json a file (made immutable in a case)
#   W/imgs.npz 8 gray 8x8 images; W/one.npz one image
#   W/pts.npy, W/pts2.npy 2-D points; W/huge.npy 100000 points; W/strings.npy, W/complex.npy;
#   W/garbage.npy, W/garbage.npz random bytes; W/badutf8.toml invalid UTF-8
# Options (fourth item, a dict): "immutable": [paths made chattr +i for the case].
TINY_ARGS = [
    "--data",
    "8gaussians",
    "--width",
    "16",
    "--batch-size",
    "32",
    "--run.threads",
    "1",
    "--device",
    "cpu",
    "--quiet",
]
CASES = [
    # ---------------------------------------------------------------- train: numbers and names
    ("train-steps-0", ["train", "--out", "new", "--steps", "0"], "run.steps = 0 is invalid"),
    ("train-steps-text", ["train", "--out", "new", "--steps", "ten"], "run.steps must be an integer, got 'ten'"),
    ("train-batch-0", ["train", "--out", "new", "--batch-size", "0"], "data.batch_size = 0 is invalid"),
    ("train-batch-huge", ["train", "--out", "new", "--batch-size", "99999999999"], "needs about"),
    ("train-width-huge", ["train", "--out", "new", "--width", "10000000"], "needs about"),
    ("train-width-negative", ["train", "--out", "new", "--width", "-3"], "model.width = -3 is invalid"),
    ("train-seed-negative", ["train", "--out", "new", "--seed", "-1"], "run.seed = -1 is invalid"),
    ("train-lr-negative", ["train", "--out", "new", "--lr-d", "-1e-4"], "optim.lr_d = -0.0001 is invalid"),
    ("train-lr-nan", ["train", "--out", "new", "--lr-g", "nan"], "optim.lr_g = nan is invalid"),
    ("train-n-critic-0", ["train", "--out", "new", "--n-critic", "0"], "optim.n_critic = 0 is invalid"),
    ("train-ema-1", ["train", "--out", "new", "--ema", "1"], "model.ema = 1.0 is invalid"),
    ("train-keep-0", ["train", "--out", "new", "--keep-checkpoints", "0"], "run.keep_checkpoints = 0 is invalid"),
    (
        "train-infogan-one-value-code",
        ["train", "--out", "new", "--head.infogan", "1", "--head.infogan-categorical", "1"],
        "head.infogan_categorical = 1 is invalid",
    ),
    ("train-data-typo", ["train", "--out", "new", "--data", "8gausians"], "did you mean '8gaussians'"),
    ("train-data-typo-lists-toys", ["train", "--out", "new", "--data", "8gausians"], "25gaussians"),
    ("train-data-missing-path", ["train", "--out", "new", "--data", "nowhere/x.npz"], "no such file or folder"),
    ("train-data-garbage-npz", ["train", "--out", "new", "--data", "garbage.npz"], "not a NumPy file"),
    ("train-preset-unknown", ["train", "--out", "new", "--preset", "wgan-gpp"], "invalid choice: 'wgan-gpp'"),
    ("train-objective-unknown", ["train", "--out", "new", "--objective", "wasserstien"], "did you mean 'wasserstein'"),
    ("train-arch-unknown", ["train", "--out", "new", "--arch", "resnett"], "model.arch = 'resnett' is invalid"),
    ("train-device-unknown", ["train", "--out", "new", "--device", "gpu"], "run.device = 'gpu' is invalid"),
    ("train-device-cuda-missing", ["train", "--out", "new", "--device", "cuda"], "run.device = 'cuda' but"),
    ("train-flag-unknown", ["train", "--out", "new", "--optim.lr-dd", "1"], "did you mean --optim.lr-d"),
    ("train-dcgan-on-toy", ["train", "--out", "new", "--arch", "dcgan"], "model.arch = 'dcgan' needs image data"),
    # ---------------------------------------------------------------- train: paths
    ("train-out-is-file", ["train", "--out", "file"], "--out 'file' is a file"),
    ("train-out-under-file", ["train", "--out", "file/run"], "is a file, not a folder"),
    ("train-out-unwritable", ["train", "--out", "/proc/earthmover-run"], "is not writable"),
    ("train-out-holds-run", ["train", "--out", "run"], "already holds a run"),
    ("train-config-missing", ["train", "--out", "new", "--config", "missing.toml"], "does not exist"),
    ("train-config-folder", ["train", "--out", "new", "--config", "folder"], "is a folder"),
    ("train-config-bad-utf8", ["train", "--out", "new", "--config", "badutf8.toml"], "is not valid TOML"),
    ("train-config-bad-toml", ["train", "--out", "new", "--config", "pts.npy"], "is not valid TOML"),
    ("train-resume-missing", ["train", "--resume", "nowhere"], "is not a run directory"),
    ("train-resume-file", ["train", "--resume", "file"], "is not a run directory"),
    ("train-resume-steps-below", ["train", "--resume", "run", "--steps", "1"], "pass --steps 3 or more"),
    ("train-init-missing", ["train", "--out", "new", "--init", "nope.pt"], "--init 'nope.pt' does not exist"),
    (
        "train-init-other-arch",
        ["train", "--out", "new", *TINY_ARGS, "--init", "run8/checkpoints/step_0000002.pt"],
        "does not fit",
    ),
    ("train-init-with-resume", ["train", "--resume", "run", "--init", "run/checkpoints/step_0000002.pt"], "--init"),
    ("train-resume-and-out", ["train", "--resume", "run", "--out", "other"], "--out"),
    # ---------------------------------------------------------------- train --resume: what the checkpoint means
    ("resume-optimizer", ["train", "--resume", "run", "--optim.name", "rmsprop"], "optim.name"),
    ("resume-dataset", ["train", "--resume", "run", "--data", "25gaussians"], "data.name"),
    ("resume-preset", ["train", "--resume", "run", "--preset", "sngan"], "preset"),
    ("resume-objective", ["train", "--resume", "run", "--objective", "hinge"], "objective.name"),
    ("resume-width", ["train", "--resume", "run", "--width", "32"], "model.width"),
    (
        "resume-batch-huge",
        ["train", "--resume", "run", "--steps", "4", "--batch-size", "99999999999"],
        "data.batch_size",
    ),
    ("resume-config-edited", ["train", "--resume", "run_edited", "--steps", "4"], "in step_0000002.pt"),
    (
        "resume-checkpoints-unwritable",
        ["train", "--resume", "run", "--steps", "4"],
        "not writable",
        {"immutable": ["run/checkpoints"]},
    ),
    ("resume-run-unwritable", ["train", "--resume", "run", "--steps", "4"], "not writable", {"immutable": ["run"]}),
    # ---------------------------------------------------------------- sample
    ("sample-n-0", ["sample", "--run", "run", "--n", "0"], "argument --n: 0 is invalid"),
    ("sample-n-negative", ["sample", "--run", "run", "--n", "-5"], "argument --n: -5 is invalid"),
    ("sample-n-text", ["sample", "--run", "run", "--n", "many"], "argument --n: 'many' is not an integer"),
    ("sample-n-huge", ["sample", "--run", "run", "--n", "100000000000"], "needs about"),
    ("sample-seed-negative", ["sample", "--run", "run", "--seed", "-1"], "argument --seed: -1 is invalid"),
    (
        "sample-truncation-negative",
        ["sample", "--run", "run", "--truncation", "-1"],
        "argument --truncation: -1 is invalid",
    ),
    ("sample-truncation-0", ["sample", "--run", "run", "--truncation", "0"], "argument --truncation: 0 is invalid"),
    (
        "sample-truncation-nan",
        ["sample", "--run", "run", "--truncation", "nan"],
        "argument --truncation: nan is invalid",
    ),
    (
        "sample-truncation-inf",
        ["sample", "--run", "run", "--truncation", "inf"],
        "argument --truncation: inf is invalid",
    ),
    ("sample-run-missing", ["sample", "--run", "nowhere"], "is not a run directory"),
    ("sample-run-file", ["sample", "--run", "file"], "is not a run directory"),
    ("sample-checkpoint-missing", ["sample", "--run", "run", "--checkpoint", "nope.pt"], "does not exist"),
    ("sample-checkpoint-folder", ["sample", "--run", "run", "--checkpoint", "run/checkpoints"], "is a folder"),
    ("sample-checkpoint-garbage", ["sample", "--run", "run", "--checkpoint", "garbage.npy"], "was refused"),
    (
        "sample-checkpoint-other-arch",
        ["sample", "--run", "run", "--checkpoint", "run8/checkpoints/step_0000002.pt"],
        "does not fit",
    ),
    ("sample-out-folder", ["sample", "--run", "run", "--out", "folder"], "is a folder"),
    ("sample-out-under-file", ["sample", "--run", "run", "--out", "file/x.png"], "is a file, not a folder"),
    ("sample-out-unwritable", ["sample", "--run", "run", "--out", "/proc/x.png"], "is not writable"),
    ("sample-out-missing-parent", ["sample", "--run", "run", "--out", "nowhere/x.png"], "does not exist"),
    ("sample-npz-folder", ["sample", "--run", "run", "--npz", "folder"], "is a folder"),
    ("sample-npz-unwritable", ["sample", "--run", "run", "--npz", "/proc/x.npz"], "is not writable"),
    # ---------------------------------------------------------------- report
    ("report-missing", ["report", "nowhere"], "no metrics.jsonl"),
    ("report-file", ["report", "file"], "no metrics.jsonl"),
    ("report-plots-unwritable", ["report", "run"], "not writable", {"immutable": ["run/plots"]}),
    # ---------------------------------------------------------------- fid
    ("fid-n-0", ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--n", "0"], "argument --n: 0 is invalid"),
    (
        "fid-n-negative",
        ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--n", "-5"],
        "argument --n: -5 is invalid",
    ),
    ("fid-n-1", ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--n", "1"], "argument --n: 1 is invalid"),
    (
        "fid-batch-0",
        ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--batch-size", "0"],
        "argument --batch-size: 0 is invalid",
    ),
    (
        "fid-device-cuda3",
        ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--device", "cuda:3"],
        "--device 'cuda:3'",
    ),
    ("fid-device-bogus", ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--device", "tpu7"], "'tpu7'"),
    ("fid-one-image-a", ["fid", "one.npz", "imgs.npz", "--features", "digits"], "set A"),
    ("fid-one-image-b", ["fid", "imgs.npz", "one.npz", "--features", "digits"], "set B"),
    ("fid-a-missing", ["fid", "nowhere.npz", "imgs.npz", "--features", "digits"], "no such file or folder"),
    ("fid-b-garbage", ["fid", "imgs.npz", "garbage.npy", "--features", "digits"], "not a NumPy file"),
    (
        "fid-json-unwritable",
        ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--json", "/proc/r.json"],
        "is not writable",
    ),
    (
        "fid-json-missing-parent",
        ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--json", "nowhere/r.json"],
        "does not exist",
    ),
    ("fid-json-folder", ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--json", "folder"], "is a folder"),
    (
        "fid-json-under-file",
        ["fid", "imgs.npz", "imgs.npz", "--features", "digits", "--json", "file/r.json"],
        "is a file, not a folder",
    ),
    ("fid-inception-missing", ["fid", "imgs.npz", "imgs.npz", "--inception", "nowhere.pt"], "does not exist"),
    ("fid-features-unknown", ["fid", "imgs.npz", "imgs.npz", "--features", "vgg"], "invalid choice: 'vgg'"),
    # ---------------------------------------------------------------- eval
    ("eval-n-0", ["eval", "--run", "run", "--n", "0"], "argument --n: 0 is invalid"),
    ("eval-n-reference-1", ["eval", "--run", "run", "--n-reference", "1"], "argument --n-reference: 1 is invalid"),
    ("eval-batch-0", ["eval", "--run", "run", "--batch-size", "0"], "argument --batch-size: 0 is invalid"),
    ("eval-seed-negative", ["eval", "--run", "run", "--seed", "-2"], "argument --seed: -2 is invalid"),
    ("eval-device-cuda3", ["eval", "--run", "run", "--features", "digits", "--device", "cuda:3"], "'cuda:3'"),
    ("eval-metrics-unknown", ["eval", "--run", "run", "--metrics", "fid,fvd"], "unknown fvd"),
    ("eval-run-missing", ["eval", "--run", "nowhere"], "no such run directory"),
    ("eval-toy-run", ["eval", "--run", "run", "--features", "digits", "--metrics", "is", "--n", "10"], "not images"),
    (
        "eval-json-unwritable",
        ["eval", "--run", "run", "--features", "digits", "--json", "/proc/e.json"],
        "is not writable",
    ),
    (
        "eval-json-missing-parent",
        ["eval", "--run", "run", "--features", "digits", "--json", "nowhere/e.json"],
        "does not exist",
    ),
    (
        "eval-checkpoint-other-arch",
        ["eval", "--run", "run", "--features", "digits", "--checkpoint", "run8/checkpoints/step_0000002.pt"],
        "does not fit",
    ),
    # ---------------------------------------------------------------- emd
    ("emd-missing", ["emd", "nowhere.npy", "pts.npy"], "does not exist"),
    ("emd-folder", ["emd", "folder", "pts.npy"], "is a folder"),
    ("emd-strings", ["emd", "strings.npy", "pts.npy"], "not numbers"),
    ("emd-complex", ["emd", "complex.npy", "pts.npy"], "complex"),
    ("emd-garbage-npy", ["emd", "garbage.npy", "pts.npy"], "not a NumPy file"),
    ("emd-garbage-npz", ["emd", "garbage.npz", "pts.npy"], "not a NumPy file"),
    ("emd-huge", ["emd", "huge.npy", "huge.npy"], "needs about"),
    ("emd-dimensions", ["emd", "pts.npy", "pts3.npy"], "dimension"),
    ("emd-json-unwritable", ["emd", "pts.npy", "pts2.npy", "--json", "/proc/r.json"], "is not writable"),
    ("emd-json-folder", ["emd", "pts.npy", "pts2.npy", "--json", "folder"], "is a folder"),
    ("emd-json-missing-parent", ["emd", "pts.npy", "pts2.npy", "--json", "nowhere/r.json"], "does not exist"),
    (
        "emd-json-not-overwritable",
        ["emd", "pts.npy", "pts2.npy", "--json", "kept.json"],
        "cannot be overwritten",
        {"immutable": ["kept.json"]},
    ),
    ("emd-plan-unwritable", ["emd", "pts.npy", "pts2.npy", "--plan", "/proc/p.png"], "is not writable"),
    ("emd-plan-under-file", ["emd", "pts.npy", "pts2.npy", "--plan", "file/p.png"], "is a file, not a folder"),
    ("emd-method-unknown", ["emd", "pts.npy", "pts2.npy", "--method", "sinkhorn"], "invalid choice: 'sinkhorn'"),
    # ---------------------------------------------------------------- study
    ("study-unknown", ["study", "parallel-line"], "did you mean 'parallel-lines'"),
    ("study-seed-negative", ["study", "parallel-lines", "--quick", "--seed", "-1"], "argument --seed: -1 is invalid"),
    ("study-threads-0", ["study", "parallel-lines", "--quick", "--threads", "0"], "argument --threads: 0 is invalid"),
    ("study-out-file", ["study", "parallel-lines", "--quick", "--out", "file"], "is a file"),
    (
        "study-out-under-file",
        ["study", "parallel-lines", "--quick", "--out", "file/studies"],
        "is a file, not a folder",
    ),
    ("study-out-unwritable", ["study", "parallel-lines", "--quick", "--out", "/proc/studies"], "is not writable"),
    # ---------------------------------------------------------------- augmentation and accumulation (issue 22)
    ("augment-unknown", ["train", "--out", "new", "--data", "imgs.npz", "--augment", "transl"], "'translation'"),
    ("augment-p", ["train", "--out", "new", "--data", "imgs.npz", "--augment.p", "1.5"], "augment.p = 1.5 is invalid"),
    (
        "augment-target",
        ["train", "--out", "new", "--data", "imgs.npz", "--augment.target", "1.5"],
        "augment.target = 1.5 is invalid",
    ),
    ("augment-toy", ["train", "--out", "new", *TINY_ARGS, "--augment", "translation"], "no pixels to translate"),
    (
        "accumulate-divide",
        ["train", "--out", "new", *TINY_ARGS, "--run.accumulate", "3"],
        "run.accumulate = 3 does not divide data.batch_size = 32",
    ),
    (
        "accumulate-minibatch",
        ["train", "--out", "new", *TINY_ARGS, "--model.minibatch", "stddev", "--run.accumulate", "2"],
        "refused beside model.minibatch = 'stddev'",
    ),
    # ---------------------------------------------------------------- the top level
    ("unknown-command", ["trian"], "invalid choice: 'trian'"),
]


# ------------------------------------------------------------------------------------------------
# The runner (this file run as a script): every case through earthmover.cli.main in this process.


def _hash_tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        out[rel + "/"] = "dir"
        for name in sorted(filenames):
            path = Path(dirpath) / name
            out[os.path.join(rel, name)] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def _run_one(argv: list[str]) -> tuple[int, str, str]:
    """Run `earthmover ARGV` as `python -m earthmover` would, capturing fds 1 and 2."""
    import tempfile
    import traceback

    from earthmover.cli import main

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            try:
                status = main(list(argv))
            except SystemExit as exc:
                code = exc.code
                if code is None or isinstance(code, int):
                    status = code or 0
                else:
                    print(code, file=sys.stderr)
                    status = 1
            except BaseException:  # what the interpreter does with an exception that escapes
                traceback.print_exc()
                status = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return int(status), out.read().decode(errors="replace"), err.read().decode(errors="replace")


def _chattr(flag: str, paths: list[Path]) -> None:
    for p in paths:
        subprocess.run(["chattr", flag, str(p)], check=True, capture_output=True)


def _runner(cases_file: str, results_file: str) -> None:
    import signal

    def timeout(signum, frame):
        raise TimeoutError("case ran past 60 s")

    signal.signal(signal.SIGALRM, timeout)
    root = Path.cwd()
    pristine = root.parent / (root.name + ".pristine")
    shutil.copytree(root, pristine, symlinks=True)
    results = {}
    for case in json.loads(Path(cases_file).read_text()):
        options = case["options"]
        immutable = [root / p for p in options.get("immutable", [])]
        before = _hash_tree(root)
        start = time.perf_counter()
        try:
            _chattr("+i", immutable)
            signal.alarm(60)
            status, out, err = _run_one(case["argv"])
        finally:
            signal.alarm(0)
            _chattr("-i", immutable)
        after = _hash_tree(root)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        results[case["id"]] = {
            "status": status,
            "stdout": out,
            "stderr": err,
            "changed": changed,
            "seconds": round(time.perf_counter() - start, 3),
        }
        if changed:  # restore the workspace, so one failing case does not spoil the next
            for child in root.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            shutil.copytree(pristine, root, symlinks=True, dirs_exist_ok=True)
    shutil.rmtree(pristine)
    Path(results_file).write_text(json.dumps(results))


if __name__ == "__main__":
    _runner(sys.argv[1], sys.argv[2])
    raise SystemExit(0)


# ------------------------------------------------------------------------------------------------
# The tests.
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from earthmover import cli  # noqa: E402
from helpers import TINY_FLAGS  # noqa: E402

TINY = [*TINY_FLAGS, "--quiet", "--sample-every", "1000"]
HAS_CHATTR = shutil.which("chattr") is not None


def _make_workspace(root: Path) -> None:
    assert cli.main(["train", "--out", str(root / "run"), "--steps", "2", "--checkpoint-every", "1", *TINY]) == 0
    assert cli.main(["train", "--out", str(root / "run8"), "--steps", "2", *TINY, "--width", "8"]) == 0
    shutil.copytree(root / "run", root / "run_edited")  # its config.toml edited by hand after the checkpoints
    toml = (root / "run_edited" / "config.toml").read_text()
    assert 'name = "adam"' in toml
    (root / "run_edited" / "config.toml").write_text(toml.replace('name = "adam"', 'name = "rmsprop"'))
    (root / "file").write_text("a regular file, not a folder\n")
    (root / "kept.json").write_text("{}\n")
    (root / "folder").mkdir()
    rng = np.random.default_rng(0)
    np.savez(root / "imgs.npz", images=rng.integers(0, 256, size=(8, 8, 8), dtype=np.uint8))
    np.savez(root / "one.npz", images=rng.integers(0, 256, size=(1, 8, 8), dtype=np.uint8))
    np.save(root / "pts.npy", rng.normal(size=(10, 2)))
    np.save(root / "pts2.npy", rng.normal(size=(7, 2)))
    np.save(root / "pts3.npy", rng.normal(size=(7, 3)))
    np.save(root / "huge.npy", rng.normal(size=(100_000, 2)).astype(np.float32))
    np.save(root / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(root / "complex.npy", rng.normal(size=(5, 2)) + 1j)
    (root / "garbage.npy").write_bytes(rng.integers(0, 256, size=512, dtype=np.uint8).tobytes())
    (root / "garbage.npz").write_bytes(rng.integers(0, 256, size=512, dtype=np.uint8).tobytes())
    (root / "badutf8.toml").write_bytes(b"[run]\nsteps = 10\n# \xff\xfe caf\xe9\n")


# Every config field is a train flag: a value of the wrong type for each (and a negative count for
# each integer field), generated from the config itself, so a new field is covered without a new line.
NOT_A = {"int": "1.5x", "float": "fast", "bool": "maybe"}


def _fields():
    """(dotted name, type name, choices or None, whether -7 is out of range) for every config field."""
    from dataclasses import fields

    from earthmover.train import config as config_module

    config = config_module.Config()
    if hasattr(config, "params"):  # fields declared with their ranges (the plug-in registry)
        for dotted, p in config.params().items():
            low = max((b for b in (p.min, p.above) if b is not None), default=None)
            kind = p.type if isinstance(p.type, str) else p.type.__name__
            yield dotted, kind, p.options, low is not None and low > -7
        return
    choices = getattr(config_module, "_CHOICES", {})
    for section in config_module.SECTIONS:
        for f in fields(getattr(config, section)):
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            yield f"{section}.{f.name}", kind, choices.get(f"{section}.{f.name}"), kind == "int"


def _field_cases():
    for dotted, kind, options, refuses_negative in _fields():
        flag = f"--{dotted.replace('_', '-')}"
        if kind in NOT_A:
            yield (f"field-{dotted}-type", ["train", "--out", "new", flag, NOT_A[kind]], dotted)
        if kind == "int" and refuses_negative:
            yield (f"field-{dotted}-negative", ["train", "--out", "new", flag, "-7"], dotted)
        if options and "bogus" not in options:
            yield (f"field-{dotted}-choice", ["train", "--out", "new", flag, "bogus"], dotted)


def _cases():
    for case in [*CASES, *_field_cases()]:
        case_id, argv, expected = case[:3]
        options = case[3] if len(case) > 3 else {}
        yield case_id, argv, expected, options


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-errors")
    workspace = root / "w"
    workspace.mkdir()
    _make_workspace(workspace)
    cases = [{"id": i, "argv": a, "options": o} for i, a, _, o in _cases() if HAS_CHATTR or not o.get("immutable")]
    (root / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EARTHMOVER_CACHE": str(root / "cache")}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(root / "cases.json"), str(root / "results.json")],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((root / "results.json").read_text())


def test_case_ids_are_unique():
    ids = [c[0] for c in _cases()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case_id, argv, expected, options", list(_cases()), ids=[c[0] for c in _cases()])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(results, case_id, argv, expected, options):
    if options.get("immutable") and not HAS_CHATTR:
        pytest.skip("needs chattr to make a folder unwritable for root")
    r = results[case_id]
    err = r["stderr"]
    assert "Traceback" not in err, err
    assert r["status"] == 2, (r["status"], err[-2000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("earthmover: error: "), err
    assert expected in lines[0], lines[0]
    assert r["changed"] == [], r["changed"]


# ------------------------------------------------------------------------------------------------
# True separate processes.


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_the_real_process_agrees_with_the_runner(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "earthmover",
            "study",
            "parallel-lines",
            "--quick",
            "--out",
            str(tmp_path / "file" / "studies"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "is a file, not a folder" in proc.stderr


def test_a_huge_batch_leaves_no_run_directory(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "earthmover", "train", "--out", str(out), "--batch-size", "99999999999", "--quiet"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "needs about" in proc.stderr and "GB" in proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------------------------------------
# What the commands that succeed around these cases do (in this process: cheap).


@pytest.fixture
def tiny_run(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--steps", "2", "--checkpoint-every", "1", *TINY]) == 0
    return out


def test_a_refused_checkpoint_is_moved_aside_and_no_longer_counts(tiny_run, capsys):
    """A crafted newest checkpoint is refused (nothing in it runs), moved to checkpoints/rejected/
    with a line saying so, and the real checkpoints are kept as run.keep_checkpoints says."""
    import pickle

    from earthmover.train import state as ckpt

    bad = tiny_run / "checkpoints" / "step_0000009.pt"
    bad.write_bytes(pickle.dumps(os.getcwd))  # a global that weights_only loading refuses
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(tiny_run), "--steps", "4", "--keep-checkpoints", "3", *TINY]) == 0
    err = capsys.readouterr().err
    assert "skipped step_0000009.pt, moved to rejected/" in err and "was refused" in err
    assert (tiny_run / "checkpoints" / "rejected" / "step_0000009.pt").read_bytes() == pickle.dumps(os.getcwd)
    assert [p.name for p in ckpt.list_checkpoints(tiny_run)] == [
        "step_0000002.pt",
        "step_0000003.pt",
        "step_0000004.pt",
    ]
    # a read-only command never moves anything
    bad.write_bytes(pickle.dumps(os.getcwd))
    assert cli.main(["sample", "--run", str(tiny_run), "--n", "8", "--out", str(tiny_run / "s.png")]) == 0
    assert bad.exists()


def test_resume_records_the_flags_it_allows(tiny_run):
    from earthmover.train.config import load_toml

    assert (
        cli.main(
            ["train", "--resume", str(tiny_run), *TINY, "--steps", "3", "--log-every", "2", "--keep-checkpoints", "5"]
        )
        == 0
    )
    saved = load_toml(tiny_run / "config.toml")
    assert (saved["run"]["steps"], saved["run"]["log_every"], saved["run"]["keep_checkpoints"]) == (3, 2, 5)


def test_init_starts_a_new_run_from_the_weights_of_a_checkpoint(tiny_run, tmp_path):
    """What the refusal of --resume --optim.name rmsprop tells the user to run instead."""
    import torch

    from earthmover.train import state as ckpt

    source = ckpt.checkpoint_path(tiny_run, 2)
    new = tmp_path / "new"
    assert (
        cli.main(
            [
                "train",
                "--config",
                str(tiny_run / "config.toml"),
                "--init",
                str(source),
                "--optim.name",
                "rmsprop",
                "--steps",
                "1",
                "--out",
                str(new),
                "--quiet",
            ]
        )
        == 0
    )
    first = ckpt.load_checkpoint(ckpt.checkpoint_path(new, 0))
    weights = ckpt.load_checkpoint(source)
    assert first["step"] == 0
    assert all(torch.equal(first["generator"][k], v) for k, v in weights["generator"].items())
    assert ckpt.load_checkpoint(ckpt.checkpoint_path(new, 1))["config"]["optim"]["name"] == "rmsprop"


def test_sample_names_the_file_it_writes(tiny_run, capsys):
    assert (
        cli.main(
            [
                "sample",
                "--run",
                str(tiny_run),
                "--n",
                "8",
                "--out",
                str(tiny_run / "grid"),
                "--npz",
                str(tiny_run / "s"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"wrote {tiny_run / 'grid.png'} and {tiny_run / 's.npz'}" in out
    assert (tiny_run / "grid.png").is_file() and (tiny_run / "s.npz").is_file()


def test_metrics_after_a_resume_hold_no_stale_final_record(tiny_run):
    def records():
        return [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]

    finals = [r["step"] for r in records() if any(k.startswith("final/") for k in r)]
    assert finals == [2]
    assert cli.main(["train", "--resume", str(tiny_run), *TINY, "--steps", "3"]) == 0
    steps = [r["step"] for r in records()]
    finals = [r["step"] for r in records() if any(k.startswith("final/") for k in r)]
    assert finals == [3] and steps == sorted(steps) and steps[-1] == 3


def test_a_large_sample_draws_a_bounded_picture_and_keeps_all_in_the_npz(tiny_run, capsys, monkeypatch):
    from earthmover.train import sample_command as command

    monkeypatch.setitem(command.PICTURE_LIMIT, "points", 8)
    assert (
        cli.main(
            [
                "sample",
                "--run",
                str(tiny_run),
                "--n",
                "20",
                "--out",
                str(tiny_run / "p.png"),
                "--npz",
                str(tiny_run / "p.npz"),
            ]
        )
        == 0
    )
    assert "the picture shows the first 8 of 20; all are in the .npz" in capsys.readouterr().out
    with np.load(tiny_run / "p.npz") as z:
        assert z["samples"].shape == (20, 2)
