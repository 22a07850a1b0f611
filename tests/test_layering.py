"""The package's shape, read from its own source: imports point one way, no circles, small files.

Every ``import`` of earthmover is counted wherever it is written (inside functions too). Layers, bottom
up: ``registry``/``errors`` import nothing of earthmover but each other; the pieces (losses, nets, data, metrics, ot,
augment, export, and the small helpers beside them) never import ``train``, ``studies`` or the CLI;
``train`` never imports ``studies`` or the CLI. Command modules (``cli.py``, ``*/command.py``,
``*_command.py``) are the CLI layer wherever they sit, and the only place for imports inside functions
(start-up time). No file under src/ over 500 lines, no function over 80.

``KNOWN`` lists what this tree still breaks, each to the figure: fixing one fails the test until its
line goes (so the list only shrinks), and any new breach fails at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "earthmover"
MAX_FILE, MAX_FUNC = 500, 80
BOTTOM = {"earthmover.registry", "earthmover.errors", "earthmover.plugins"}  # plugins: which modules may be imported
PIECES = ("losses", "nets", "data", "metrics", "ot", "augment", "export")
ABOVE_PIECES = ("earthmover.train", "earthmover.studies", "earthmover.cli")

# What the tree still breaks (to be emptied; see the module docstring).
KNOWN: set[str] = set()
# Modules that still import earthmover inside functions (outside the command modules), with how many.
KNOWN_LAZY: dict[str, int] = {}


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _targets(name: str, path: Path, node: ast.AST, mods: dict) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    if isinstance(node, ast.Import):
        wanted = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        wanted = [f"{base}.{alias.name}" for alias in node.names]  # a name that is no module: its module
    found = set()
    for target in wanted:
        while target and target not in mods:
            target = target.rsplit(".", 1)[0] if "." in target else ""
        if target and target != name and not target.startswith(name + "."):
            found.add(target)
    return found


def is_command(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return name == f"{PACKAGE}.cli" or last == "command" or last.endswith("_command") or name == f"{PACKAGE}.__main__"


def _lazy_imports(tree: ast.Module) -> list[ast.AST]:
    """Imports written inside a function or class body (not at module level, not under TYPE_CHECKING)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out += [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return out


def findings(root: Path) -> tuple[set[str], dict[str, int]]:
    """(every breach as one line, {module: imports of earthmover inside functions} outside commands)."""
    mods = modules(root)
    edges: dict[str, set[str]] = {}
    lazy: dict[str, int] = {}
    out: set[str] = set()
    for name, path in mods.items():
        text = path.read_text()
        tree = ast.parse(text)
        rel = path.relative_to(root).as_posix()
        if text.count("\n") > MAX_FILE:
            out.add(f"file {rel}")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= MAX_FUNC:
                out.add(f"function {rel}:{node.name}")
        edges[name] = set().union(*(_targets(name, path, n, mods) for n in ast.walk(tree) if _is_import(n)))
        n_lazy = sum(bool(_targets(name, path, n, mods)) for n in _lazy_imports(tree))
        if n_lazy and not is_command(name):
            lazy[name] = n_lazy
        out |= {f"layer {name} -> {t}" for t in edges[name] if not _allowed(name, t)}
    out |= {"circle " + ", ".join(c) for c in _circles(edges)}
    return out, lazy


def _is_import(node: ast.AST) -> bool:
    return isinstance(node, (ast.Import, ast.ImportFrom))


def _allowed(source: str, target: str) -> bool:
    if source in BOTTOM:
        return target in BOTTOM  # the bottom: registry and errors, one on the other at most
    if is_command(source):
        return True
    if any(source == f"{PACKAGE}.{p}" or source.startswith(f"{PACKAGE}.{p}.") for p in PIECES) or not (
        source.startswith(ABOVE_PIECES)
    ):
        return not (target.startswith(ABOVE_PIECES) or is_command(target))  # a piece (or a helper beside them)
    if source.startswith(f"{PACKAGE}.train"):
        return not (target.startswith((f"{PACKAGE}.studies", f"{PACKAGE}.cli")) or is_command(target))
    return True


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_package_keeps_its_shape():
    found, _ = findings(SRC)
    assert sorted(found - KNOWN) == [], "new breaches of the layers (see tests/test_layering.py)"
    assert sorted(KNOWN - found) == [], "fixed: remove these lines from KNOWN"


def test_imports_inside_functions_only_in_command_modules():
    _, lazy = findings(SRC)
    assert {k: v for k, v in lazy.items() if v > KNOWN_LAZY.get(k, 0)} == {}
    assert {k: v for k, v in KNOWN_LAZY.items() if lazy.get(k, 0) < v} == {}, "fewer now: lower KNOWN_LAZY"


def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_planted_circle_a_layer_breach_and_long_code_are_found(tmp_path):
    long_body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNC))
    root = _plant(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "",
            "registry.py": "from earthmover import errors, data\n",  # the bottom imports nothing above it
            "data/__init__.py": "",
            "data/a.py": "def f():\n    from earthmover.data import b\n",  # a circle through a lazy import
            "data/b.py": "from earthmover.data.a import f\n",
            "nets/__init__.py": "",
            "nets/x.py": "from ..train.loop import Trainer\n",  # a piece importing train (relative)
            "train/__init__.py": "",
            "train/loop.py": "import earthmover.studies.s\nTrainer = 1\n",  # train importing studies
            "studies/__init__.py": "",
            "studies/s.py": f"def long():\n{long_body}",
            "big.py": "x = 1\n" * (MAX_FILE + 1),
            "ot/__init__.py": "",
            "ot/command.py": "def run():\n    from earthmover.train import loop\n",  # commands may do both
        },
    )
    found, lazy = findings(root)
    assert found == {
        "layer earthmover.registry -> earthmover.data",
        "circle earthmover.data.a, earthmover.data.b",
        "layer earthmover.nets.x -> earthmover.train.loop",
        "layer earthmover.train.loop -> earthmover.studies.s",
        "function earthmover/studies/s.py:long",
        "file earthmover/big.py",
    }
    assert lazy == {"earthmover.data.a": 1}
