"""No import cycle among the project's modules.

Every module under ``chalicelib/`` is parsed (``ast``: nothing is imported, so no module runs)
and each of its imports becomes an edge to the project module it names: ``from a.b import c``
points at ``a.b.c`` when that is a module, else at ``a.b``. Imports inside functions count —
a lazy import only hides a cycle from the interpreter, not from the reader (the
``services/actions.py`` ↔ ``services/workflow.py`` circle was one), and so do the route
modules' ``lazy("chalicelib.services.…")`` names (``chalicelib/lazy.py``). Importing a package's
submodule from outside the package is an edge to the package's ``__init__`` too: Python runs
it first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "chalicelib"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, package: str) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its longest prefix that is a project module."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                       for alias in node.names]
        elif _is_lazy_module(node):
            targets = [node.args[0].value]  # lazy("chalicelib.services.x"): an import, deferred
        else:
            continue
        for target in targets:
            found = _known(target, modules)
            if found is not None and found != module:
                yield found
                yield from _packages_run_first(found, module, modules)


def _is_lazy_module(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "lazy"
            and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))


def _packages_run_first(target: str, importer: str, modules: dict[str, Path]) -> Iterator[str]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, unless the importer
    is inside them (then they are already running): ``a.b``'s ``__init__`` importing a module
    that imports ``a.b.c`` from outside is a cycle at run time."""
    parts = target.split(".")[:-1]
    while parts:
        package = ".".join(parts)
        if package in modules and not (importer == package or importer.startswith(package + ".")):
            yield package
        parts.pop()


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    modules = project_modules(root, package)
    return {name: set(imports_of(name, path, modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), each
    written as the path ``a → b → … → a``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the number of modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(sorted(c)[0], c, graph) for c in components]


def _path_through(start: str, component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest way from ``start`` back to itself inside its component (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no cycle")


def test_no_import_cycle_among_the_projects_modules():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join("  " + " → ".join(c) for c in found)


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def later():\n    from . import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from pkg.a import something\n")  # into the cycle, not part of it

    assert cycles(import_graph(tmp_path, "pkg")) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_the_checker_finds_a_cycle_through_a_package_init(tmp_path):
    """``outside`` imports ``pkg.sub.leaf``; Python runs ``pkg/sub/__init__`` first, which
    imports ``outside`` back."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("from pkg.sub import leaf\nfrom pkg import outside\n")
    (tmp_path / "pkg" / "sub" / "leaf.py").write_text("")
    (tmp_path / "pkg" / "outside.py").write_text("from pkg.sub.leaf import x\n")

    assert cycles(import_graph(tmp_path, "pkg")) == [["pkg.outside", "pkg.sub", "pkg.outside"]]
