"""A hostile user's cases (issue 26): a shared run directory runs no code, two commands on one run
do not corrupt it, faults outside the step loop end in one line, hostile run files, odd
environments, names and paths, and a failed download that is not cached.

Like tests/test_cli_errors.py (whose helpers this file reuses), the table cases run through the
real CLI (``earthmover.cli.main``, what ``python -m earthmover`` calls) in ONE child process whose
working directory is the workspace; each case may set environment variables. Every case must end
with exit status 2, exactly one line on stderr, no traceback, and a byte-identical workspace.
The cases that need a process of their own (plug-ins imported or not, locks, signals, file-size
limits, closed pipes) run ``earthmover`` / ``python -m earthmover`` as real subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# The table: (id, argv, expected piece of the message[, options]). The workspace W (cwd) holds
# what test_cli_errors' workspace holds that these need (see _make_workspace) and:
#   run_plugin   W/run whose config.toml records plugins = "em_marker_mod" (W/em_marker_mod.py writes
#                W/MARKER when imported); run_this: plugins = "this" (the standard library's Zen)
#   run_deep     config.toml holding a 100,000-deep array
#   run_badmetrics  metrics.jsonl with lines that are not objects and a "step": "abc"
#   run_nokeys   its only checkpoint lacks critic_iterations, lr_scale, sample_shape
#   run_steptext its only checkpoint says "step": "twenty"
#   run_nan      its only checkpoint's generator weights are NaN
#   em_raises.py raises on import; em_syntax.py is not Python
#   fifo.npz     a named pipe; loopdir/digits/ images and loopdir/digits/self -> self
#   fakezip.npz  starts with PK but is not a zip (fetched by file:// URL into W/cache)
#   run_w8       W/run whose config.toml says width 8 (its checkpoints hold width 16); corrupt.pt garbage
#   incep_stats.npz / nan_stats.npz / shape_stats.npz  FID statistics: of another network, NaN sigma, wrong shapes
#   full/        a folder holding a file; folder/ an empty folder
# Options: "env": {NAME: value} for the case ({W} is the workspace); "status": another exit status;
# "hide": [package] makes those packages look uninstalled for the case (an optional extra left out).
EXPORT = ["--run", "run", "--format", "safetensors"]
AUG = ["--data", "imgs.npz", "--augment.policy", "color"]
CK = "run/checkpoints/step_0000002.pt"
NO_WANDB_LOGIN = {"WANDB_MODE": "", "WANDB_API_KEY": "", "NETRC": "{W}/no-netrc", "WANDB_CONFIG_DIR": "{W}/no-wandb"}
CASES = [
    # ---------------------------------------------------------------- 1. a run directory runs no code
    ("plugin-recorded-sample", ["sample", "--run", "run_this", "--out", "s.png"], "EARTHMOVER_PLUGINS=this"),
    ("plugin-recorded-resume", ["train", "--resume", "run_this", "--steps", "3"], "EARTHMOVER_PLUGINS=this"),
    ("plugin-recorded-eval", ["eval", "--run", "run_this", "--features", "digits"], "EARTHMOVER_PLUGINS=this"),
    (
        "plugin-recorded-config",
        ["train", "--out", "new", "--config", "run_this/config.toml"],
        "plug-in 'this'",
    ),
    ("plugin-dot", ["train", "--out", "new", "--plugins", "."], "'.' is not a module name"),
    ("plugin-dot-name", ["train", "--out", "new", "--plugins", ".foo"], "'.foo' is not a module name"),
    ("plugin-raises", ["train", "--out", "new", "--plugins", "em_raises"], "em_raises"),
    ("plugin-raises-says-error", ["train", "--out", "new", "--plugins", "em_raises"], "RuntimeError: boom"),
    ("plugin-syntax-error", ["train", "--out", "new", "--plugins", "em_syntax"], "SyntaxError"),
    (
        "plugin-env-dot",
        ["sample", "--run", "run", "--out", "s.png"],
        "'..x' is not a module name",
        {"env": {"EARTHMOVER_PLUGINS": "..x"}},
    ),
    # ---------------------------------------------------------------- 4. hostile run files
    ("deep-config-sample", ["sample", "--run", "run_deep", "--out", "s.png"], "config.toml"),
    ("deep-config-resume", ["train", "--resume", "run_deep", "--steps", "4"], "config.toml"),
    ("checkpoint-missing-keys-resume", ["train", "--resume", "run_nokeys", "--steps", "4"], "critic_iterations"),
    ("checkpoint-step-text-sample", ["sample", "--run", "run_steptext", "--out", "s.png"], "step"),
    ("checkpoint-step-text-resume", ["train", "--resume", "run_steptext", "--steps", "4"], "step"),
    ("checkpoint-nan-sample", ["sample", "--run", "run_nan", "--out", "s.png"], "NaN"),
    # ---------------------------------------------------------------- 5. environment, names and paths
    (
        "env-data-proc",
        ["train", "--out", "new", "--data", "cifar10"],
        "EARTHMOVER_DATA",
        {"env": {"EARTHMOVER_DATA": "/proc/x"}},
    ),
    (
        "env-data-file",
        ["train", "--out", "new", "--data", "fashion-mnist"],
        "EARTHMOVER_DATA",
        {"env": {"EARTHMOVER_DATA": "{W}/file"}},
    ),
    (
        "env-cache-file",
        ["train", "--out", "new", "--data", "file://{W}/imgs.npz"],
        "EARTHMOVER_CACHE",
        {"env": {"EARTHMOVER_CACHE": "{W}/file"}},
    ),
    (
        "env-cache-proc",
        ["train", "--out", "new", "--data", "file://{W}/imgs.npz"],
        "EARTHMOVER_CACHE",
        {"env": {"EARTHMOVER_CACHE": "/proc/x"}},
    ),
    ("data-fifo", ["train", "--out", "new", "--data", "fifo.npz"], "not a regular file"),
    ("data-symlink-loop", ["train", "--out", "new", "--data", "loopdir"], "self"),
    ("data-bad-ipv6-url", ["train", "--out", "new", "--data", "http://[::1/x.npz"], "http://[::1/x.npz"),
    ("sample-out-format", ["sample", "--run", "run", "--out", "s.xyz"], "png"),
    ("emd-plan-format", ["emd", "pts.npy", "pts2.npy", "--plan", "plan.xyz"], "png"),
    ("sample-seed-overflow", ["sample", "--run", "run", "--seed", "99999999999999999999999"], "--seed"),
    ("fid-unknown-key", ["fid", "imgs.npz:nokey", "imgs.npz", "--features", "digits"], "nokey"),
    # ---------------------------------------------------------------- 3. output that cannot be written
    # a fault while writing: exit 4 (README), one line naming the file and the cause
    ("emd-json-dev-full", ["emd", "pts.npy", "pts2.npy", "--json", "/dev/full"], "/dev/full", {"status": 4}),
    # ---------------------------------------------------------------- 6. a failed download is not cached
    (
        "url-pk-not-zip",
        ["train", "--out", "new", "--data", "file://{W}/fakezip.npz"],
        "fakezip.npz",
        {"env": {"EARTHMOVER_CACHE": "{W}/cache"}},
    ),
    # ---------------------------------------------------------------- more of my own
    ("report-metrics-binary", ["report", "run_binmetrics"], "metrics.jsonl"),
    ("sample-config-not-toml", ["sample", "--run", "run_badtoml", "--out", "s.png"], "config.toml"),
    ("sample-config-is-folder", ["sample", "--run", "run_tomlfolder", "--out", "s.png"], "config.toml"),
    ("resume-checkpoints-is-file", ["train", "--resume", "run_ckfile", "--steps", "4"], "checkpoints"),
    ("sample-checkpoint-fifo", ["sample", "--run", "run", "--checkpoint", "fifo.npz"], "not a regular file"),
    ("emd-fifo", ["emd", "fifo.npz", "pts.npy"], "not a regular file"),
    ("fid-key-on-npy", ["fid", "pts.npy:images", "imgs.npz", "--features", "digits"], "pts.npy"),
    ("train-config-deep", ["train", "--out", "new", "--config", "deep.toml"], "deep.toml"),
    ("emd-nan-points", ["emd", "nan.npy", "pts.npy"], "NaN"),
    # ---------------------------------------------------------------- this turn's commands (issue 26, 20 more)
    ("export-format-typo", ["export", "--run", "run", "--format", "onx", "--out", "g.onnx"], "did you mean 'onnx'"),
    ("export-out-missing-folder", ["export", *EXPORT, "--out", "missing/g.st"], "'missing' does not exist"),
    ("export-out-unwritable", ["export", *EXPORT, "--out", "/proc/g.safetensors"], "not writable"),
    ("export-out-is-folder", ["export", *EXPORT, "--out", "folder"], "is a folder"),
    ("export-out-other-suffix", ["export", *EXPORT, "--out", "g.onnx"], "suffix of the onnx format"),
    (
        "export-checkpoint-other-run",
        ["export", "--run", "run_w8", *EXPORT[2:], "--out", "g.st", "--checkpoint", CK],
        "fit",
    ),
    ("export-checkpoint-corrupt", ["export", *EXPORT, "--out", "g.st", "--checkpoint", "corrupt.pt"], "corrupt.pt"),
    (
        "export-extra-missing",
        ["export", "--run", "run", "--format", "onnx", "--out", "g.onnx"],
        '".[export]"',
        {"hide": ["onnx"]},
    ),
    ("stats-n-above-set", ["stats", "imgs.npz", "--out", "s.npz", "--features", "digits", "--n", "100"], "holds 8"),
    ("stats-out-unwritable", ["stats", "imgs.npz", "--out", "/proc/s.npz", "--features", "digits"], "not writable"),
    ("stats-one-image", ["stats", "one.npz", "--out", "s.npz", "--features", "digits"], "holds 1 images"),
    ("fid-stats-other-network", ["fid", "imgs.npz", "incep_stats.npz", "--features", "digits"], "'inception' there"),
    ("fid-stats-nan-sigma", ["fid", "imgs.npz", "nan_stats.npz", "--features", "digits"], "NaN"),
    ("fid-stats-wrong-shapes", ["fid", "imgs.npz", "shape_stats.npz", "--features", "digits"], "(3, 3)"),
    ("log-unknown-nearest", ["train", "--out", "new", "--run.log", "tensorbord"], "did you mean 'tensorboard'"),
    ("log-duplicated-and-typo", ["train", "--out", "new", "--run.log", "tensorboard,tensorboard,wandbb"], "wandbb"),
    ("log-wandb-missing", ["train", "--out", "new", "--run.log", "wandb"], '".[wandb]"', {"hide": ["wandb"]}),
    ("log-wandb-no-login", ["train", "--out", "new", "--run.log", "wandb"], "wandb login", {"env": NO_WANDB_LOGIN}),
    ("png-dir-is-file", ["sample", "--run", "run", "--png-dir", "file", "--n", "4"], "is a file"),
    ("png-dir-not-empty", ["sample", "--run", "run", "--png-dir", "full", "--n", "4"], "--overwrite"),
    ("png-dir-n-0", ["sample", "--run", "run", "--png-dir", "pngs", "--n", "0"], "--n: 0 is invalid"),
    ("png-dir-unwritable", ["sample", "--run", "run", "--png-dir", "/proc/pngs", "--n", "4"], "not writable"),
    ("png-dir-toy-run", ["sample", "--run", "run", "--png-dir", "pngs", "--n", "4"], "--npz"),
    # the flags wired this turn (augmentation, accumulation, amp)
    ("augment-policy-typo", ["train", "--out", "new", "--augment.policy", "colr"], "did you mean 'color'"),
    ("augment-on-toy-data", ["train", "--out", "new", "--augment.policy", "color"], "2-D toy"),
    ("augment-p-above-1", ["train", "--out", "new", *AUG, "--augment.p", "1.5"], "augment.p = 1.5 is invalid"),
    ("augment-p-nan", ["train", "--out", "new", *AUG, "--augment.p", "nan"], "augment.p = nan is invalid"),
    ("augment-target-1", ["train", "--out", "new", *AUG, "--augment.target", "1"], "augment.target = 1.0"),
    ("augment-target-negative", ["train", "--out", "new", *AUG, "--augment.target", "-0.5"], "augment.target"),
    ("accumulate-0", ["train", "--out", "new", "--run.accumulate", "0"], "run.accumulate = 0 is invalid"),
    ("accumulate-not-divisor", ["train", "--out", "new", "--run.accumulate", "7", "--batch-size", "32"], "divisor"),
    ("accumulate-on-resume", ["train", "--resume", "run", "--run.accumulate", "2", "--steps", "4"], "--init"),
    ("amp-typo", ["train", "--out", "new", "--run.amp", "bf17"], "did you mean 'bf16'"),
    ("amp-bf16-no-cuda", ["train", "--out", "new", "--run.amp", "bf16", "--device", "cuda"], "no CUDA device"),
]


# ------------------------------------------------------------------------------------------------
# The runner (this file run as a script): every case through earthmover.cli.main in this process,
# with the case's environment, as test_cli_errors' runner does.


def _hash_tree(root: Path) -> dict[str, str]:
    """As test_cli_errors' hashes, where a named pipe or a link is named, not read (a pipe would block)."""
    import hashlib
    import stat

    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        out[rel + "/"] = "dir"
        for name in sorted(filenames):
            path = Path(dirpath) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                out[os.path.join(rel, name)] = f"link to {os.readlink(path)}"
            elif not stat.S_ISREG(mode):
                out[os.path.join(rel, name)] = "special"
            else:
                out[os.path.join(rel, name)] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def _copy(src: str, dst: str) -> None:
    import shutil
    import stat

    if stat.S_ISFIFO(os.lstat(src).st_mode):
        os.mkfifo(dst)
    else:
        shutil.copy2(src, dst)


def _runner(cases_file: str, results_file: str) -> None:
    import shutil

    from test_cli_errors import _run_one

    def timeout(signum, frame):
        raise TimeoutError("case ran past 60 s")

    signal.signal(signal.SIGALRM, timeout)
    root = Path.cwd()
    sys.path.insert(0, str(root))  # as `python -m earthmover` run here would have it
    pristine = root.parent / (root.name + ".pristine")
    shutil.copytree(root, pristine, symlinks=True, copy_function=_copy)
    results = {}
    for case in json.loads(Path(cases_file).read_text()):
        env = {k: v.replace("{W}", str(root)) for k, v in case["options"].get("env", {}).items()}
        saved = {k: os.environ.get(k) for k in env}
        hidden = {name: sys.modules.get(name) for name in case["options"].get("hide", [])}
        before = _hash_tree(root)
        os.environ.update(env)
        sys.modules.update(dict.fromkeys(hidden))  # None in sys.modules: find_spec and import see no package
        try:
            signal.alarm(60)
            status, out, err = _run_one([a.replace("{W}", str(root)) for a in case["argv"]])
        finally:
            signal.alarm(0)
            for name, module in hidden.items():
                sys.modules.pop(name) if module is None else sys.modules.__setitem__(name, module)
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        after = _hash_tree(root)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        results[case["id"]] = {"status": status, "stdout": out, "stderr": err, "changed": changed}
        if changed:
            for child in root.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            shutil.copytree(pristine, root, symlinks=True, dirs_exist_ok=True, copy_function=_copy)
    shutil.rmtree(pristine)
    Path(results_file).write_text(json.dumps(results))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    _runner(sys.argv[1], sys.argv[2])
    raise SystemExit(0)


# ------------------------------------------------------------------------------------------------
# The workspace.
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from earthmover import cli  # noqa: E402
from helpers import TINY_FLAGS  # noqa: E402

TINY = [*TINY_FLAGS, "--quiet", "--sample-every", "1000"]
MARKER_MODULE = "from pathlib import Path\nPath('MARKER').write_text('imported')\n"


def _copy_run(root: Path, name: str, keep_only_last: bool = False) -> Path:
    import shutil

    dst = root / name
    shutil.copytree(root / "run", dst)
    if keep_only_last:
        for p in sorted((dst / "checkpoints").glob("step_*.pt"))[:-1]:
            p.unlink()
    return dst


def _edit_checkpoint(run: Path, edit) -> None:
    (path,) = sorted((run / "checkpoints").glob("step_*.pt"))
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, path)


def _make_workspace(root: Path) -> None:
    assert cli.main(["train", "--out", str(root / "run"), "--steps", "2", "--checkpoint-every", "1", *TINY]) == 0
    toml = (root / "run" / "config.toml").read_text()
    for name, plugin in (("run_plugin", "em_marker_mod"), ("run_this", "this")):
        (_copy_run(root, name) / "config.toml").write_text(f'plugins = "{plugin}"\n' + toml)
    (root / "em_marker_mod.py").write_text(MARKER_MODULE)
    (root / "em_raises.py").write_text("raise RuntimeError('boom')\n")
    (root / "em_syntax.py").write_text("def (:\n")
    deep = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"
    (_copy_run(root, "run_deep") / "config.toml").write_text(deep)
    (root / "deep.toml").write_text(deep)
    metrics = (_copy_run(root, "run_badmetrics") / "metrics.jsonl").open("a")
    metrics.write('[1, 2, 3]\n5\n{"step": "abc", "loss/critic": 1.0}\n')
    metrics.close()
    (_copy_run(root, "run_binmetrics") / "metrics.jsonl").write_bytes(b"\xff\xfe\x00garbage\n")
    (_copy_run(root, "run_badtoml") / "config.toml").write_text("[run\nsteps = \n")
    (_copy_run(root, "run_tomlfolder") / "config.toml").unlink()
    (root / "run_tomlfolder" / "config.toml").mkdir()
    ck = _copy_run(root, "run_ckfile")
    import shutil

    shutil.rmtree(ck / "checkpoints")
    (ck / "checkpoints").write_text("not a folder\n")

    def drop(ckpt):
        for key in ("critic_iterations", "lr_scale", "sample_shape"):
            ckpt.pop(key, None)

    _edit_checkpoint(_copy_run(root, "run_nokeys", keep_only_last=True), drop)
    _edit_checkpoint(_copy_run(root, "run_steptext", keep_only_last=True), lambda c: c.__setitem__("step", "twenty"))

    def nan(ckpt):
        for key in [k for k in ckpt if "generator" in k]:
            for t in ckpt[key].values():
                if torch.is_tensor(t) and t.is_floating_point():
                    t.fill_(float("nan"))

    _edit_checkpoint(_copy_run(root, "run_nan", keep_only_last=True), nan)
    (root / "file").write_text("a regular file, not a folder\n")
    rng = np.random.default_rng(0)
    np.savez(root / "imgs.npz", images=rng.integers(0, 256, size=(8, 8, 8), dtype=np.uint8))
    np.save(root / "pts.npy", rng.normal(size=(10, 2)))
    np.save(root / "pts2.npy", rng.normal(size=(7, 2)))
    np.save(root / "nan.npy", np.full((5, 2), np.nan))
    os.mkfifo(root / "fifo.npz")
    from PIL import Image

    (root / "loopdir" / "digits").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, size=(8, 8), dtype=np.uint8)).save(
            root / "loopdir" / "digits" / f"{i}.png"
        )
    os.symlink("self", root / "loopdir" / "digits" / "self")
    (root / "fakezip.npz").write_bytes(b"PK\x03\x04" + bytes(200))
    w8 = _copy_run(root, "run_w8") / "config.toml"
    assert "width = 16" in w8.read_text()
    w8.write_text(w8.read_text().replace("width = 16", "width = 8"))
    (root / "corrupt.pt").write_bytes(bytes(range(256)) * 4)
    np.savez(root / "one.npz", images=rng.integers(0, 256, size=(1, 8, 8), dtype=np.uint8))
    dim = 128  # the digit classifier's features
    np.savez(root / "incep_stats.npz", mu=np.zeros(dim), sigma=np.eye(dim), features=np.array("inception"))
    np.savez(root / "nan_stats.npz", mu=np.zeros(dim), sigma=np.full((dim, dim), np.nan))
    np.savez(root / "shape_stats.npz", mu=np.zeros(dim), sigma=np.eye(3))
    (root / "full").mkdir()
    (root / "folder").mkdir()
    (root / "full" / "0.png").write_bytes(b"kept")
    (root / "cache" / "downloads").mkdir(parents=True)


def _cases():
    for case in CASES:
        case_id, argv, expected = case[:3]
        yield case_id, argv, expected, case[3] if len(case) > 3 else {}


def _env(**extra) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
    for name in ("EARTHMOVER_PLUGINS", "EARTHMOVER_DEBUG"):
        if name not in extra:
            env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-hostile") / "w"
    root.mkdir()
    _make_workspace(root)
    return root


@pytest.fixture(scope="module")
def results(workspace):
    root = workspace.parent
    cases = [{"id": i, "argv": a, "options": o} for i, a, _, o in _cases()]
    (root / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(root / "cases.json"), str(root / "results.json")],
        cwd=workspace,
        env=_env(EARTHMOVER_CACHE=str(root / "cache")),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((root / "results.json").read_text())


def test_case_ids_are_unique():
    ids = [c[0] for c in _cases()]
    assert len(ids) == len(set(ids))


def _one_line(status: int, err: str, expected: str, code: int = 2) -> str:
    assert "Traceback" not in err, err
    assert status == code, (status, err[-2000:])
    # what a terminal shows: a progress bar that erased itself with carriage returns counts as nothing
    lines = [shown for line in err.split("\n") if (shown := line.rpartition("\r")[2].strip())]
    assert len(lines) == 1, err
    assert lines[0].startswith("earthmover: "), err
    assert expected in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case_id, argv, expected, options", list(_cases()), ids=[c[0] for c in _cases()])
def test_hostile_input_is_one_line_and_changes_nothing(results, case_id, argv, expected, options):
    r = results[case_id]
    _one_line(r["status"], r["stderr"], expected.replace("{W}", ""), code=options.get("status", 2))
    assert r["changed"] == [], r["changed"]
    assert "Beautiful is better than ugly" not in r["stdout"]  # `import this` ran


# ------------------------------------------------------------------------------------------------
# 1. A recorded plug-in is imported only when the user names it again. Where it is looked up from is
# the launcher's business (`python -m earthmover` puts the cwd on sys.path, the console script does
# not), so each launcher runs as a real process once refused and once allowed; the other commands
# and the --plugins spelling run in this process.


def _cli(*argv: str, cwd: Path, launcher: str = "module", timeout: int = 300, **env) -> subprocess.CompletedProcess:
    head = [sys.executable, "-m", "earthmover"] if launcher == "module" else [_script()]
    return subprocess.run([*head, *argv], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=timeout)


def _script() -> str:
    import shutil

    found = shutil.which("earthmover") or str(Path(sys.executable).with_name("earthmover"))
    if not Path(found).exists():
        pytest.skip("the earthmover console script is not installed")
    return found


@pytest.fixture
def in_workspace(workspace, monkeypatch):
    """This process as `python -m earthmover` run in the workspace: cwd and sys.path[0] there, no plug-ins
    named; the workspace's plug-in modules are forgotten again afterwards."""
    monkeypatch.chdir(workspace)
    monkeypatch.syspath_prepend(str(workspace))
    monkeypatch.delenv("EARTHMOVER_PLUGINS", raising=False)
    monkeypatch.delenv("EARTHMOVER_DEBUG", raising=False)
    yield workspace
    for name in ("em_marker_mod", "em_raises", "em_syntax"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("launcher", ["module", "script"])
def test_a_recorded_plugin_is_not_imported_unless_named_again(workspace, launcher, tmp_path):
    pythonpath = os.pathsep.join([os.environ["PYTHONPATH"], str(workspace)])  # the plug-in is importable
    marker = workspace / "MARKER"
    before = sorted(p.name for p in workspace.iterdir())
    out = tmp_path / "s.png"
    proc = _cli(
        "sample", "--run", "run_plugin", "--out", str(out), cwd=workspace, launcher=launcher, PYTHONPATH=pythonpath
    )
    line = _one_line(proc.returncode, proc.stderr, "em_marker_mod")
    assert "EARTHMOVER_PLUGINS=em_marker_mod" in line and "--plugins em_marker_mod" in line
    assert not marker.exists() and not out.exists()
    assert sorted(p.name for p in workspace.iterdir()) == before
    # named again: imported, and the command works
    proc = _cli(
        "sample", "--run", "run_plugin", "--out", str(out), cwd=workspace, launcher=launcher,
        PYTHONPATH=pythonpath, EARTHMOVER_PLUGINS="em_marker_mod",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == "imported" and out.is_file()
    marker.unlink()


def test_a_recorded_plugin_is_refused_by_every_reader_and_named_again_by_plugins_flag(in_workspace, tmp_path, capfd):
    marker, out = in_workspace / "MARKER", tmp_path / "s.png"
    for argv in (
        ["eval", "--run", "run_plugin", "--features", "digits", "--n", "16"],
        ["train", "--resume", "run_plugin", "--steps", "3"],
    ):
        assert cli.main(argv) == 2
        line = _one_line(2, capfd.readouterr().err, "em_marker_mod")
        assert "EARTHMOVER_PLUGINS=em_marker_mod" in line and "--plugins em_marker_mod" in line
        assert not marker.exists(), argv
    assert cli.main(["--plugins", "em_marker_mod", "sample", "--run", "run_plugin", "--out", str(out)]) == 0
    assert marker.read_text() == "imported" and out.is_file()
    marker.unlink()


def test_a_plugin_that_raises_shows_its_traceback_only_with_earthmover_debug(in_workspace, tmp_path, monkeypatch):
    proc = _cli("train", "--out", str(tmp_path / "n"), "--plugins", "em_raises", cwd=in_workspace)
    _one_line(proc.returncode, proc.stderr, "RuntimeError: boom")  # the one line, from a real process once
    monkeypatch.setenv("EARTHMOVER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):  # escapes: the interpreter prints its traceback
        cli.main(["train", "--out", str(tmp_path / "n"), "--plugins", "em_raises"])
    assert not (tmp_path / "n").exists()


# ------------------------------------------------------------------------------------------------
# 2. One owner per run directory. The holders are real processes (a lock binds processes); the run
# they start from is the workspace's tiny run, copied.


def _fresh_run(workspace: Path, tmp_path: Path) -> Path:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(workspace / "run", run)
    return run


def _start(*argv: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "earthmover", *argv], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(predicate, seconds: float = 120.0) -> None:
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def _steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


LONG = ["--steps", "100000", "--checkpoint-every", "1", "--log-every", "1", "--quiet"]


def test_two_resumes_started_together_one_trains_the_other_is_refused(workspace, tmp_path):
    run = _fresh_run(workspace, tmp_path)
    steps_before = len(_steps(run))
    procs = [_start("train", "--resume", str(run), *LONG, cwd=tmp_path) for _ in range(2)]
    try:
        _wait_for(lambda: any(p.poll() is not None for p in procs), 180)
        refused = next(p for p in procs if p.poll() is not None)
        holder = next(p for p in procs if p is not refused)
        out, err = refused.communicate()
        line = _one_line(refused.returncode, err, f"process {holder.pid}")
        assert str(run) in line
        assert out == ""  # refused before it announced "resuming ..." (the lock comes first)
        _wait_for(lambda: len(_steps(run)) > steps_before + 3)
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(120) == 3
    finally:
        for p in procs:
            p.kill() if p.poll() is None else None
            p.communicate()
    steps = _steps(run)
    assert steps == sorted(steps) and len(steps) == len(set(steps))


def test_a_resume_refused_by_the_lock_prints_nothing_on_stdout(workspace, tmp_path, capfd):
    from earthmover.train.lock import RunLock

    run = _fresh_run(workspace, tmp_path)
    lock = RunLock(run)  # another open file description: flock refuses it even within one process
    try:
        assert cli.main(["train", "--resume", str(run), "--steps", "4", *TINY]) == 2
    finally:
        lock.release()
    captured = capfd.readouterr()
    _one_line(2, captured.err, "is in use")
    assert captured.out == ""  # no "resuming ..." before the refusal


def test_a_killed_holder_does_not_block_the_next_resume_and_readers_work_beside_it(workspace, tmp_path):
    run = _fresh_run(workspace, tmp_path)
    steps_before = len(_steps(run))
    holder = _start("train", "--resume", str(run), *LONG, cwd=tmp_path)
    try:
        _wait_for(lambda: len(_steps(run)) > steps_before + 3)
        # commands that only read work beside the training run
        assert cli.main(["sample", "--run", str(run), "--out", str(tmp_path / "s.png")]) == 0
        assert cli.main(["report", str(run)]) == 0
    finally:
        holder.kill()
        holder.communicate()
    last = max(int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.pt"))
    assert cli.main(["train", "--resume", str(run), "--steps", str(last + 1), *TINY]) == 0
    assert not list((run / "checkpoints").glob("*.tmp*"))


def test_a_save_leaves_the_temporary_files_of_others_alone(workspace, tmp_path):
    from earthmover.train import state

    run = _fresh_run(workspace, tmp_path)
    other = run / "checkpoints" / f".step_0000009.pt.tmp-{os.getppid()}"  # a live process, not this one
    other.write_bytes(b"another process is writing this")
    ckpt = state.load_checkpoint(state.checkpoint_path(run, 2))
    state.save_checkpoint(ckpt, state.checkpoint_path(run, 3), keep=10)
    assert other.read_bytes() == b"another process is writing this"


# ------------------------------------------------------------------------------------------------
# 3. Faults outside the step loop: real processes (signals, a file-size limit, closed pipes).


@pytest.mark.slow  # two real training processes signalled at chosen moments
def test_sigterm_just_after_config_toml_is_written_ends_with_exit_3_and_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = _start("train", "--out", str(run), *TINY, "--steps", "100000", cwd=tmp_path)
    try:
        _wait_for(lambda: (run / "config.toml").exists(), 180)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert list((run / "checkpoints").glob("step_*.pt")) and (run / "summary.json").is_file()


@pytest.mark.slow  # two real training processes signalled at chosen moments
def test_sigterm_during_the_final_measurements_ends_with_exit_3_and_a_summary(tmp_path):
    run = tmp_path / "run"
    flags = [*TINY, "--steps", "3", "--run.measure-n", "20000"]
    proc = _start("train", "--out", str(run), *flags, cwd=tmp_path)
    try:
        _wait_for(lambda: (run / "checkpoints" / "step_0000003.pt").exists(), 300)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill() if proc.poll() is None else None
    assert "Traceback" not in err
    assert proc.returncode == 3, err  # the measures stopped; the summary says so
    assert json.loads((run / "summary.json").read_text())["interrupted"] is True


def _file_size_limit(limit: int):
    def apply():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_ends_in_one_line_naming_the_folder_the_last_checkpoint_and_the_resume(workspace, tmp_path):
    run = _fresh_run(workspace, tmp_path)
    size = (run / "checkpoints" / "step_0000002.pt").stat().st_size
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    proc = subprocess.run(
        [sys.executable, "-m", "earthmover", "train", "--resume", str(run), "--steps", "3", *TINY],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
        preexec_fn=_file_size_limit(size // 2),
    )  # fmt: skip
    line = _one_line(proc.returncode, proc.stderr, str(run / "checkpoints"), code=4)
    assert "step_0000002.pt" in line and f"earthmover train --resume {run}" in line and "no space" in line
    after = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    assert after == before  # the good checkpoints kept, no temporary file left


def test_stdout_on_a_full_device_is_one_line(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 2)))
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "earthmover", "emd", "a.npy", "a.npy"],
            cwd=tmp_path, env=_env(), stdout=full, stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip
    _one_line(proc.returncode, proc.stderr, "stdout", code=4)


def test_a_closed_pipe_ends_quietly(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 2)))
    read, write = os.pipe()
    os.close(read)  # as `| head -0` leaves it
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "earthmover", "emd", "a.npy", "a.npy"],
            cwd=tmp_path, env=_env(), stdout=write, stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip
    finally:
        os.close(write)
    assert proc.stderr == "" and proc.returncode == 128 + signal.SIGPIPE


# ------------------------------------------------------------------------------------------------
# 6. A cached file that fails to load is moved aside, with one line.


def test_a_bad_cached_download_is_moved_aside(workspace, tmp_path, monkeypatch, capfd):
    import hashlib

    from earthmover.data.download import default_cache_dir

    url = f"file://{workspace}/imgs.npz"
    cache = tmp_path / "cache"
    name = f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-imgs.npz"
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / name).write_bytes(b"PK\x03\x04" + bytes(100))  # left by an older version
    monkeypatch.setenv("EARTHMOVER_CACHE", str(cache))
    assert default_cache_dir(cache) == cache
    flags = [*TINY, "--data", url, "--arch", "mlp", "--batch-size", "4", "--steps", "1", "--run.eval-metrics", "none"]
    assert cli.main(["train", "--out", str(tmp_path / "new"), *flags]) == 0
    err = capfd.readouterr().err
    assert "moved aside" in err and "Traceback" not in err
    with np.load(cache / "downloads" / name) as z:
        assert z["images"].shape == (8, 8, 8)


# ------------------------------------------------------------------------------------------------
# 4. metrics.jsonl lines that are not records are skipped, as a line cut by a kill is.


def test_metrics_lines_that_are_not_records_are_skipped_by_report_and_resume(workspace, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(workspace / "run_badmetrics", run)
    assert cli.main(["report", str(run)]) == 0
    assert (run / "plots" / "losses.png").is_file()
    assert cli.main(["train", "--resume", str(run), "--steps", "3", *TINY]) == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) and isinstance(r["step"], int) for r in records)
    assert [r["step"] for r in records] == sorted(r["step"] for r in records) and records[-1]["step"] == 3


# ------------------------------------------------------------------------------------------------
# earthmover.load and --run.log in Python: hostile files give one EarthmoverError line and change nothing.


def _crafted_safetensors(workspace: Path, folder: Path) -> dict[str, Path]:
    pytest.importorskip("safetensors", reason='safetensors is not installed (pip install -e ".[export]")')
    from safetensors import safe_open
    from safetensors.torch import save_file

    good = folder / "good.safetensors"
    assert cli.main(["export", "--run", str(workspace / "run"), "--format", "safetensors", "--out", str(good)]) == 0
    with safe_open(str(good), framework="pt") as handle:
        header = json.loads(handle.metadata()["earthmover"])
    zeros = {"w": torch.zeros(3)}
    files = {"foreign": ({}, zeros), "not-json": ("{nope", zeros), "a-list": ("[1, 2]", zeros)}
    files["no-config"] = ({k: v for k, v in header.items() if k != "config"}, zeros)
    files["huge-net"] = ({**header, "config": {**header["config"], "model": {"width": 10**9}}}, zeros)
    files["huge-shape"] = ({**header, "sample_shape": [10**6, 10**6]}, zeros)
    out = {}
    for name, (value, tensors) in files.items():
        meta = {} if value == {} else {"earthmover": value if isinstance(value, str) else json.dumps(value)}
        save_file(tensors, str(folder / f"{name}.safetensors"), metadata=meta)
        out[name] = folder / f"{name}.safetensors"
    data = good.read_bytes()
    (folder / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    out["truncated"] = folder / "truncated.safetensors"
    (folder / "not-a-run").mkdir()
    out["not-a-run"] = folder / "not-a-run"
    return out


LOAD_CASES = {
    "foreign": "no earthmover header",
    "truncated": "not a readable safetensors file",
    "not-json": "not a JSON object",
    "a-list": "not a JSON object",
    "no-config": "lacks a config",
    "huge-net": "do not fit",
    "huge-shape": "do not fit",
    "not-a-run": "not a run directory",
}


def test_load_refuses_hostile_files_in_one_line(workspace, tmp_path):
    import earthmover
    from earthmover.errors import EarthmoverError

    files = _crafted_safetensors(workspace, tmp_path)
    before = _hash_tree(tmp_path)
    for name, expected in LOAD_CASES.items():
        with pytest.raises(EarthmoverError) as caught:
            earthmover.load(files[name])
        message = str(caught.value)
        assert expected in message and "\n" not in message, (name, message)
    assert _hash_tree(tmp_path) == before
    assert earthmover.load(tmp_path / "good.safetensors").step == 2  # the real export still loads


def test_duplicated_logger_names_count_once():
    from earthmover.train.trackers import parse_loggers

    assert parse_loggers("tensorboard, TensorBoard,tensorboard") == ["tensorboard"]
    assert parse_loggers("none") == parse_loggers("") == []
