"""The layout shows the architecture: no import cycles among the library's modules, and no module
so long that it must hold more than one concept.

Imports are read with `ast` from every .py file under frcrn/ and jobs/, function-level (lazy) and
TYPE_CHECKING imports included: a lazy import hides a cycle from Python, not from a reader.
``from pkg import name`` counts as importing the submodule ``pkg.name`` when there is one, else
``pkg`` itself; ``import a.b`` counts as importing ``a.b``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("frcrn", "jobs")
MAX_LINES = 400
ONE_CONCEPT = "One concept:"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the library packages."""
    return {_module_name(path, root): path for package in PACKAGES for path in sorted((root / package).rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names, relative levels resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the library modules it imports (anywhere in the file)."""
    sources = _sources(root)
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in sources else base)
        graph[module] = {t for t in targets if t in sources and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_graph_sees_relative_lazy_and_submodule_imports():
    """The walker resolves what the library actually does, so a clean result means something."""
    graph = import_graph()
    assert "frcrn.training.trainer" in graph["frcrn.training.ray_train"]  # `from .trainer import ...`
    assert "frcrn.model.checkpoint" in graph["frcrn.enhance"]  # `from .model.checkpoint import ...`
    assert "frcrn.cli.eval" in graph["frcrn.cli"]  # `from . import eval as evaluate`
    assert "frcrn.evaluation.run" in graph["frcrn.cli.eval"]  # lazy, inside eval_main
    assert "frcrn.quality.dnsmos" in graph["jobs.stages"]  # absolute
    assert "frcrn.training.sources" in graph["frcrn.training.mixtures"]  # under TYPE_CHECKING
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_long_modules_say_which_one_concept_they_hold():
    """Over MAX_LINES lines only when the docstring names the one concept that needs the length."""
    too_long = []
    for path in _sources().values():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        stated = [line for line in docstring.splitlines() if line.startswith(ONE_CONCEPT)]
        if not (stated and stated[0][len(ONE_CONCEPT):].strip()):
            too_long.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not too_long, (f"over {MAX_LINES} lines without a docstring line starting with {ONE_CONCEPT!r} "
                          f"that names the one concept they hold; split them: {', '.join(too_long)}")
