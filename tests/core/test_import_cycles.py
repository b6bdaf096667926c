"""No import cycles inside comam_bench: read from the source with ast, so nothing is imported.

Every `import`/`from ... import` statement counts, also those inside functions: a lazy import hides a cycle
from Python but not from a reader, and it is how most cycles start. The edge from a module to its parent
package (which Python imports first) is not counted: only the modules a statement names.
"""
from __future__ import annotations

import ast
from pathlib import Path

import comam_bench

PACKAGE = Path(comam_bench.__file__).resolve().parent

# Cycles that exist today and are being removed; each entry is the sorted module list of one cycle. The test
# fails when one of them is gone too, so the list only ever shrinks.
KNOWN_CYCLES: set[tuple[str, ...]] = set()  # none left (issue 27); a new one fails the test


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imported(module: str, path: Path, names: dict[str, Path]) -> set[str]:
    """The package's modules that `module` imports anywhere in its source."""
    def known(name: str) -> str | None:
        while name and name not in names:  # `a.b.func` -> the module a.b
            name = name.rpartition(".")[0]
        return name or None

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Imports under `if TYPE_CHECKING:` never run: annotations only, no cycle.
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
                   for stmt in node.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {known(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..a import b
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from a import b` names the module a.b when b is one, else a itself
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in names else known(base) for a in node.names}
    return found - {None, module}


def import_graph() -> dict[str, set[str]]:
    names = _module_names()
    return {module: _imported(module, path, names) for module, path in names.items()}


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = set()
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next((e for e in edges if e not in index or e in on_stack), None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.add(tuple(sorted(component)))
            elif nxt in index:
                low[node] = min(low[node], index[nxt])
            else:
                index[nxt] = low[nxt] = len(index)
                stack.append(nxt)
                on_stack.add(nxt)
                work.append((nxt, iter(sorted(graph[nxt]))))
    return found


def test_the_checker_finds_a_cycle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == {("a", "b", "c")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_the_graph_reads_lazy_and_relative_imports():
    graph = import_graph()
    assert "comam_bench.leaderboard_chart" in graph["comam_bench.leaderboard"]  # imported inside a function
    assert "comam_bench.errors" in graph["comam_bench.runner"]
    assert graph["comam_bench.errors"] == set()


def test_no_import_cycles_beyond_the_known_ones():
    found = cycles(import_graph())
    new = found - KNOWN_CYCLES
    assert not new, f"new import cycle(s): {sorted(new)}; import the shared names from a lower module instead"
    gone = KNOWN_CYCLES - found
    assert not gone, f"cycle(s) removed, well done: take {sorted(gone)} out of KNOWN_CYCLES"
