"""The leaderboard's figures, drawn from a built board (see leaderboard.py), never from records directly.

leaderboard.png: one panel per task × model × protocol group: overall accuracy per system as horizontal
bars in table order (ranked rows, then small samples), 95% interval whiskers, the value and n beside each
bar, the chance line, and the option-only baselines hatched with their best score as a dotted line. Every
bar carries its system's name, so no colour has to identify a system; colour only says what kind of row it is.
One legend for the figure, above the panels; each panel's own chance and option-only values are in its
right-hand title.

leaderboard_by_type.png: per-type accuracy as a heatmap with the value in each cell, drawn only for groups
small enough to stay readable.

Same board in, same bytes out: a Figure without pyplot state, the default style, no metadata.
"""
from __future__ import annotations

import math
from pathlib import Path

from comam_bench.leaderboard_runs import SHORT_TYPES, SMALL_N, label, title

FIG_WIDTH, FIG_DPI = 11.0, 100
ROW_INCHES, PANEL_INCHES = 0.3, 1.0  # per bar, and per panel for its titles and axis
LEGEND_INCHES = 0.9  # the figure's title and its one legend
MAX_HEAT_ROWS = 30  # more rows than this and the per-type heatmap's labels no longer fit
# Two lines: on one, the bold 11 pt heading is wider than the 11-inch figure and its ends are cut off.
CHART_HEADING = ("Overall accuracy per system with its 95% interval, one panel per task · model · protocol\n"
                 "(interval: history × topic clusters resampled, or Wilson over questions where too few)")
COLOURS = {"system": "#4C72B0", "small": "#A9BCDB", "model_free": "#BBBBBB"}


def _kind(row: dict) -> str:
    return "model_free" if row["model_free"] else "small" if row.get("small_sample") else "system"


def _figure(heights: list[float], extra: float = 0.0):
    """A constrained-layout Figure with one panel per height (inches), `extra` inches for a title and legend."""
    import matplotlib.style
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        fig = Figure(figsize=(FIG_WIDTH, max(sum(heights) + extra, 2.0)), dpi=FIG_DPI, layout="constrained")
        axes = fig.subplots(len(heights), 1, squeeze=False, height_ratios=heights)[:, 0] if heights else []
    return fig, list(axes)


def save_figure(fig, path: Path) -> bool:
    """Write fig as a PNG with reproducible bytes (no metadata: matplotlib would stamp its version) at
    FIG_DPI; a None fig (nothing to draw) writes nothing. Returns whether a file was written."""
    if fig is None:
        return False
    fig.savefig(path, format="png", dpi=FIG_DPI, metadata={"Software": None})
    return True


def draw_group(ax, group: dict) -> None:
    """One panel: sorted bars, 95% whiskers, chance and option-only lines, value and n labels."""
    rows = group["rows"]
    ys = list(range(len(rows)))[::-1]  # the first (best) row at the top
    accs = [r["accuracy"] for r in rows]
    ax.barh(ys, accs, height=0.7, color=[COLOURS[_kind(r)] for r in rows],
            hatch=None, edgecolor="white", zorder=2)
    for y, r in zip(ys, rows):
        if r["model_free"]:
            ax.barh([y], [r["accuracy"]], height=0.7, color="none", edgecolor="#666666", hatch="//", zorder=3)
    low = [a - r["ci95"][0] for a, r in zip(accs, rows)]
    high = [r["ci95"][1] - a for a, r in zip(accs, rows)]
    # A dot at the estimate too, so a zero-accuracy row is not an empty line.
    ax.errorbar(accs, ys, xerr=[low, high], fmt="o", color="black", markersize=3, ecolor="black", elinewidth=1,
                capsize=3, zorder=4, label="accuracy, 95% interval")
    for y, r in zip(ys, rows):
        ax.text(r["ci95"][1] + 0.01, y, f"{r['accuracy']:.3f}  n={r['n']}", va="center", fontsize=7, zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.85})
    ax.axvline(group["chance"], color="#C44E52", linestyle="--", linewidth=1.2, zorder=1, label="chance level")
    free = [r["accuracy"] for r in rows if r["model_free"]]
    lines = [f"chance {group['chance']:.2f}"]
    if free:
        ax.axvline(max(free), color="#555555", linestyle=":", linewidth=1.2, zorder=1,
                   label="best option-only baseline")
        lines.append(f"best option-only baseline {max(free):.3f}")
    # The lines' values differ per panel, so they are said here; the figure's one legend says what they are.
    ax.set_title(" · ".join(lines), fontsize=8, loc="right", color="#555555")
    ax.set_yticks(ys, [label(group, r) for r in rows], fontsize=8)
    ax.set_xlim(0, 1.12)
    ax.set_xticks([i / 10 for i in range(11)])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.6, zorder=0)
    norm = " by per-token log-likelihood (token norm)" if group.get("protocol") == "likelihood" else ""
    ax.set_xlabel(f"accuracy (4-option multiple choice{norm})", fontsize=8)
    ax.set_title(title(group), fontsize=10, loc="left")


def kind_handles(rows: list[dict]) -> list:
    """Legend patches for the kinds of rows present (colour says the kind, never the system)."""
    from matplotlib.patches import Patch

    kinds = {_kind(r) for r in rows}
    handles = []
    if "system" in kinds:
        handles.append(Patch(color=COLOURS["system"], label="memory system / sanity system"))
    if "small" in kinds:
        handles.append(Patch(color=COLOURS["small"], label=f"‡ fewer than {SMALL_N} questions (unranked)"))
    if "model_free" in kinds:
        handles.append(Patch(facecolor=COLOURS["model_free"], edgecolor="#666666", hatch="//",
                             label="† option-only baseline (no model)"))
    return handles


def figure_legend(fig, axes, extra: list, heading: str) -> None:
    """One legend for the whole figure, above the panels, under `heading` (what the figure shows): every
    panel's labelled artists (each label once), then `extra` handles. A legend per panel repeated the same
    entries and covered bars. (The heading is the legend's title, not a suptitle: constrained layout puts a
    suptitle and an outside legend on top of each other.)"""
    handles, seen = [], set()
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen:
                seen.add(lab)
                handles.append(h)
    handles += [h for h in extra if h.get_label() not in seen]
    if handles:
        legend = fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 3), fontsize=8,
                            frameon=False, title=heading, title_fontsize=11)
        legend.get_title().set_fontweight("bold")


def chart_figure(board: dict):
    """The leaderboard.png Figure (tests read its plotting data: bars, whiskers, lines, labels)."""
    groups = board["groups"]
    fig, axes = _figure([PANEL_INCHES + ROW_INCHES * len(g["rows"]) for g in groups], LEGEND_INCHES)
    if not groups:
        fig.text(0.5, 0.5, "no complete runs", ha="center", va="center")
        return fig
    for ax, group in zip(axes, groups):
        draw_group(ax, group)
    figure_legend(fig, axes, kind_handles([r for g in groups for r in g["rows"]]), CHART_HEADING)
    return fig


def render_chart(board: dict, path: Path) -> None:
    """Write leaderboard.png; reproducible bytes (no metadata, default style)."""
    save_figure(chart_figure(board), path)


def _heat_groups(board: dict) -> list[dict]:
    return [g for g in board["groups"] if len(g["types"]) >= 2 and 2 <= len(g["rows"]) <= MAX_HEAT_ROWS]


def by_type_figure(board: dict):
    """Per-type accuracy heatmaps, one panel per readable group; None when no group qualifies."""
    groups = _heat_groups(board)
    if not groups:
        return None
    fig, axes = _figure([PANEL_INCHES + ROW_INCHES * len(g["rows"]) for g in groups], LEGEND_INCHES / 2)
    fig.suptitle("Accuracy per question type (colour: 0 to 1), one panel per task · model · protocol; a cell holds "
                 "few questions, so read with care", fontsize=10, fontweight="bold")
    image = None
    for ax, group in zip(axes, groups):
        types, rows = group["types"], group["rows"]
        values = [[r["by_type"].get(t) for t in types] for r in rows]
        grid = [[math.nan if v is None else v for v in line] for line in values]
        image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for i, line in enumerate(values):
            for j, v in enumerate(line):
                text = "–" if v is None else f"{v:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="black" if v is None or v > 0.6 else "white")
        ax.set_xticks(range(len(types)), [SHORT_TYPES.get(t, t) for t in types], fontsize=8)
        ax.set_yticks(range(len(rows)), [f"{label(group, r)}  n={r['n']}" for r in rows], fontsize=8)
        per_cell = sorted(r["n"] for r in rows)[len(rows) // 2] / len(types)
        ax.set_title(f"{title(group)}  (≈{per_cell:.0f} questions per cell)", fontsize=9, loc="left")
    # One colour scale for the figure (every panel maps 0..1 alike), not one per panel.
    fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01, label="accuracy")
    return fig


def render_by_type(board: dict, path: Path) -> bool:
    """Write leaderboard_by_type.png if any group is readable as a heatmap; returns whether it was written."""
    return save_figure(by_type_figure(board), path)
