"""List import cycles among comam_bench's modules.

    python scripts/import_cycles.py [--module-level] [--among MODULE ...]

Reads every module's source (nothing is imported) and follows `import` / `from ... import` statements that
name a comam_bench module: all of them by default (a lazy import inside a function still ties two modules
together), only those at module level with --module-level. Prints each strongly connected group of two or
more modules (one cycle per line) and exits 1 when there is any; --among keeps only the groups that hold one
of the given modules.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "comam_bench"


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str], module_level: bool) -> set[str]:
    """The package modules `name` imports (a `from pkg import mod` counts as mod when mod is a module)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if module_level else list(ast.walk(tree))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {_owner(m, known) for m in found if _owner(m, known)} - {name}


def _owner(dotted: str, known: set[str]) -> str | None:
    """The longest known module that `dotted` is or lies in."""
    while dotted:
        if dotted in known:
            return dotted
        dotted = dotted.rpartition(".")[0]
    return None


def cycles(module_level: bool = False, root: Path = ROOT) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a loop (Tarjan's algorithm)."""
    files = module_files(root)
    graph = {n: imports_of(n, p, set(files), module_level) for n, p in files.items()}
    # A package's __init__ is imported by every submodule's import: that edge alone is not a cycle to report.
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return sorted(groups)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module-level", action="store_true", help="only imports at module level")
    parser.add_argument("--among", nargs="*", default=[], help="only cycles holding one of these modules")
    args = parser.parse_args(argv)
    found = [g for g in cycles(args.module_level) if not args.among or set(g) & set(args.among)]
    for group in found:
        print(" <-> ".join(group))
    print(f"{len(found)} import cycle(s)" + (" (module-level imports)" if args.module_level else " (all imports)"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
