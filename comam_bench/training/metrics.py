"""What a training run leaves to read: metrics.jsonl (one row per step, one per validation) and a PNG.

Rows are flat: {"step": 3, "kind": "train", "reward/extraction": 0.41, "weight/profile": 0.29, ...}; a
validation row has kind "validation" and keys "val/...". The plot is drawn from the file alone, so it can be
redrawn for any finished or interrupted run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

AGENT_KEYS = ("extraction", "profile", "retrieval")


class MetricsLog:
    """Append-only JSONL; a resumed run keeps appending (rows carry their step), a fresh run starts it anew."""

    def __init__(self, path: str | Path, fresh: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh and self.path.exists():
            self.path.unlink()

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(_rounded(row), sort_keys=True) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        return read_rows(self.path)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _series(rows: Iterable[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(r["global_step"], r[key]) for r in rows if key in r and r[key] is not None]
    return [p[0] for p in points], [p[1] for p in points]


def plot_curves(metrics_file: str | Path, png: str | Path, title: str = "") -> Path:
    """Four panels against the step: rewards, credit weights, loss and KL, validation accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(metrics_file)
    train = [r for r in rows if r.get("kind") == "train"]
    val = [r for r in rows if r.get("kind") == "validation"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = [
        (axes[0][0], "rewards (batch mean)", [f"reward/{a}" for a in AGENT_KEYS] + ["reward/answer"], train),
        (axes[0][1], "credit weights w_n", [f"weight/{a}" for a in AGENT_KEYS], train),
        (axes[1][0], "loss and KL", [f"loss/{a}" for a in AGENT_KEYS] + [f"kl/{a}" for a in AGENT_KEYS], train),
        (axes[1][1], "validation", ["val/accuracy", "val/accuracy/letter"] + [f"val/reward/{a}" for a in AGENT_KEYS], val),
    ]
    for ax, name, keys, source in panels:
        for key in keys:
            xs, ys = _series(source, key)
            if xs:
                ax.plot(xs, ys, marker="o" if len(xs) < 20 else None, markersize=3, label=key)
        ax.set_title(name)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    png = Path(png)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
