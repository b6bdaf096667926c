"""Where a run's data came from, as its record keeps it, and where to find that data again.

`comam-bench view` and `leaderboard --html` show question texts, which samples do not store, so they
reload the task's files. A run made with `--data-dir` records that folder in run.json (`task.data_dir`)
relative to the results folder holding the run (the two usually move together: a clone, a copied
results tree), or absolute where no relative path exists (another drive). Redacted like the rest of the
record, so no credential in a path ever lands there. Records written before this field existed carry
the folder as it was typed (`task.info.data_dir`, relative to wherever the run was started); it is tried
from the current folder and from the project root.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def recorded_data_dir(data_dir: str | Path | None, results_root: str | Path) -> str | None:
    """run.json's `task.data_dir` for a run given `--data-dir data_dir` writing under `results_root`;
    None when the run was given none (a synthetic task's generator, the Hugging Face hub)."""
    if data_dir is None:
        return None
    folder, root = Path(data_dir).expanduser().resolve(), Path(results_root).resolve()
    home = Path(os.path.expanduser("~")).resolve()
    if home != Path(home.anchor) and folder.is_relative_to(home) and not root.is_relative_to(home):
        # "../../../root/.cache/x" would name the home folder (comam_bench.portable's rule): "~/.cache/x"
        return "~/" + folder.relative_to(home).as_posix()
    try:
        return Path(os.path.relpath(folder, root)).as_posix()
    except ValueError:  # Windows: another drive has no relative path
        return str(folder)


def data_dir_candidates(record: dict[str, Any], run_dir: Path) -> tuple[list[Path | None], str | None]:
    """(folders to try in order, the folder as the record names it) for reloading a run's task data.
    [None] means: load as the task spec says (generate synthetic data, or the hub when online)."""
    task = record.get("task") if isinstance(record.get("task"), dict) else {}
    if "data_dir" in task:
        if task["data_dir"] is None:
            return [None], None
        path = Path(task["data_dir"]).expanduser()  # "~/...": a folder under the home folder
        results_root = Path(run_dir).parent.parent  # RESULTS/runs/<id>
        return [path if path.is_absolute() else results_root / path], str(task["data_dir"])
    info = task.get("info") if isinstance(task.get("info"), dict) else {}
    legacy = info.get("data_dir")
    if info.get("source") != "local" or not legacy:
        return [None], None
    from comam_bench.registry import project_root

    path = Path(legacy)
    tries = [path] if path.is_absolute() else [Path.cwd() / path, project_root() / path]
    return list(dict.fromkeys(tries)), str(legacy)
