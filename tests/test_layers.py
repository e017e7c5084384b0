"""The package's structure, read from its imports: layers only import downward, no cycles, and no
private name crosses a module (DESIGN.md, "Layout")."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "gdlab"

#: Floors from the bottom: a module may import from its own floor or below, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("gdlab", "gdlab.runtime", "gdlab.data", "gdlab.tables", "gdlab.claims", "gdlab.stats"),
    ("gdlab.stepsize", "gdlab.symmetry"),
    ("gdlab.experiments", "gdlab.reproducibility"),
    ("gdlab.plotting",),
    ("gdlab.studies",),
    ("gdlab.cli", "gdlab.__main__"),
)
#: Floors whose packages must not import each other (the two papers' engines are independent).
SIBLINGS = (("gdlab.stepsize", "gdlab.symmetry"),)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _floor(module: str) -> int:
    best = None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), level)
    assert best is not None, f"{module} is on no floor of LAYERS"
    return best[1]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")[: len(module.split(".")) - node.level + is_package]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every gdlab import in ``module``,
    including imports inside functions."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    found.append((sub, None, node.lineno))
                else:
                    found.append((target, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in found if m == "gdlab" or m.startswith("gdlab.")]


def test_every_module_is_on_a_floor() -> None:
    for module in MODULES:
        _floor(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down(module: str) -> None:
    mine = _floor(module)
    for target, _, line in _imports(module):
        assert _floor(target) <= mine, (
            f"{module}:{line} imports {target} (floor {_floor(target)}) from floor {mine}"
        )
        for a, b in SIBLINGS:
            for x, y in ((a, b), (b, a)):
                if module.startswith(x) and target.startswith(y):
                    raise AssertionError(
                        f"{module}:{line} imports {target}: {x} and {y} are independent"
                    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_crosses_a_module(module: str) -> None:
    for target, name, line in _imports(module):
        hidden = [p for p in target.split(".") if p.startswith("_") and not p.startswith("__")]
        assert not hidden or target.rsplit(".", 1)[0] == module.rsplit(".", 1)[0], (
            f"{module}:{line} imports the private module {target}"
        )
        if target != module and name is not None:
            assert not (name.startswith("_") and not name.startswith("__")), (
                f"{module}:{line} imports the private name {name} from {target}"
            )
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    aliases = {
        (a.asname or a.name.rsplit(".", 1)[-1])
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for a in node.names
        if f"{_resolve(module, node)}.{a.name}" in MODULES
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in aliases and node.attr.startswith("_"):
                assert node.attr.startswith("__"), (
                    f"{module}:{node.lineno} uses the private {node.value.id}.{node.attr}"
                )


def test_no_import_cycles() -> None:
    graph = {m: {t for t, _, _ in _imports(m) if t in MODULES and t != m} for m in MODULES}
    # a package's __init__ may re-export its submodules: those edges are not dependencies
    for m, targets in graph.items():
        if MODULES[m].name == "__init__.py":
            graph[m] = {t for t in targets if not t.startswith(m + ".")}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_the_check_can_fail() -> None:
    """The floor function orders the layers as documented (a wrong table would pass nothing)."""
    names = ("gdlab.claims", "gdlab.stepsize.gd", "gdlab.experiments.study")
    names += ("gdlab.plotting.intro", "gdlab.studies.intro", "gdlab.cli")
    floors = [_floor(m) for m in names]
    assert floors == sorted(floors) and len(set(floors)) == len(floors)
    assert all(a < b for a, b in itertools.pairwise(floors))
