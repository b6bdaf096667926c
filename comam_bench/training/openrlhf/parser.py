"""OpenRLHF's own argument parser for train_ppo_ray, read from the installed package's source.

0.11.2 builds its parser inside `if __name__ == "__main__":` of openrlhf/cli/train_ppo_ray.py, after module
imports of ray, vllm and deepspeed, so neither importing the module nor `--help` works on a machine without
them. This module reads that file (found with importlib.util.find_spec, which imports only the top-level
`openrlhf` package, which is empty), takes the statements of the __main__ block up to
`args = parser.parse_args()`, and runs them with argparse alone: OpenRLHF's exact parser, with every flag,
type, choice and default. `checked_args` runs the rest of that block too, OpenRLHF's own post-parse checks
and adjustments (its asserts, e.g. the number of sample batches against the actor processes), on a given
argv, stopping before the final `train(args)`. Standard library only (the block imports
openrlhf.utils.config, which is light).
"""
from __future__ import annotations

import argparse
import ast
import datetime
import importlib.util
import os
from pathlib import Path

ENTRY_FILE = ("cli", "train_ppo_ray.py")


def entry_source() -> Path | None:
    """The installed openrlhf/cli/train_ppo_ray.py, or None when OpenRLHF is not installed."""
    spec = importlib.util.find_spec("openrlhf")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*ENTRY_FILE)
    return path if path.is_file() else None


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _is_parse_args(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "parse_args")


def _is_train_call(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "train")


def _main_block(path: Path | None) -> tuple[Path, list[ast.stmt]]:
    path = path or entry_source()
    if path is None:
        raise ImportError("OpenRLHF is not installed: pip install --no-deps openrlhf==0.11.2")
    tree = ast.parse(path.read_text(), filename=str(path))
    main = next((n for n in tree.body if _is_main_guard(n)), None)
    if main is None:
        raise ValueError(f"{path}: no `if __name__ == '__main__':` block to read the parser from")
    return path, main.body


def _run(path: Path, body: list[ast.stmt], namespace: dict) -> dict:
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102 - its own code
    return namespace


def build_parser(path: Path | None = None) -> argparse.ArgumentParser:
    """OpenRLHF's parser, built by running its own statements; abbreviations off so every flag must be exact."""
    path, block = _main_block(path)
    body = []
    for stmt in block:
        if _is_parse_args(stmt):
            break
        body.append(stmt)
    namespace = _run(path, body, {"argparse": argparse, "datetime": datetime.datetime, "os": os})
    parser = namespace.get("parser")
    if not isinstance(parser, argparse.ArgumentParser):
        raise ValueError(f"{path}: the __main__ block did not build `parser`")
    parser.allow_abbrev = False
    return parser


def checked_args(argv: list[str], path: Path | None = None):
    """The hierarchized args train_ppo_ray would train with: OpenRLHF's parser on argv, then every statement
    of its __main__ block after parse_args (asserts and adjustments), except the final train(args).
    Raises SystemExit (argparse) or AssertionError (a failed check) as the real entry point would."""
    path, block = _main_block(path)
    parser = build_parser(path)
    at = next(i for i, stmt in enumerate(block) if _is_parse_args(stmt))
    rest = [stmt for stmt in block[at + 1:] if not _is_train_call(stmt)]
    namespace = {"argparse": argparse, "datetime": datetime.datetime, "os": os, "args": parser.parse_args(argv)}
    return _run(path, rest, namespace)["args"]


def unknown_flags(argv: list[str], parser: argparse.ArgumentParser | None = None) -> list[str]:
    """The --flags of argv that the parser does not define (exact names)."""
    parser = parser or build_parser()
    known = set(parser._option_string_actions)
    return [a for a in argv if a.startswith("--") and a.split("=", 1)[0] not in known]
