"""Shared by the tests that drive the CLI: the CLI in a subprocess, file scans."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli(args, tmp_path, extra_env=None, timeout=300):
    """`comam-bench ARGS` in a fresh process (offline, a private cache); returns the CompletedProcess."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COMAM_BENCH_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "comam_bench.cli.main", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=REPO)


def written_text(folder: Path) -> str:
    """Every file under `folder`, read as text, with its path first (a path can leak a secret too)."""
    parts = []
    for path in sorted(Path(folder).rglob("*")):
        parts.append(str(path))
        if path.is_file():
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)
