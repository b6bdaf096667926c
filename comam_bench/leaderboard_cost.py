"""leaderboard_cost.png: accuracy against cost, one point per system, one panel per multiple-choice table.

Each panel plots a table's rows: x = LLM tokens per question (prompt + completion, ingest + answer: the
table's tokens/q), y = accuracy with its 95% interval as the table shows it, each point named by its system.
x is logarithmic where the systems' token counts span more than a decade (memory systems spend 10x to 100x
what a no-memory answer does), linear otherwise. Rows that spend no tokens (the option-only floors, or a
system that never calls a model) have no place on a log axis: they are drawn as horizontal dotted lines at
their accuracy, named at the panel's right edge, because they are the reference every point is read
against. One legend for the figure; chance is the dashed line.

Same board in, same bytes out: a Figure without pyplot state, the default style, no metadata.
"""
from __future__ import annotations

import math
from pathlib import Path

from comam_bench.leaderboard_chart import COLOURS, FIG_DPI, FIG_WIDTH, _kind, figure_legend, save_figure
from comam_bench.leaderboard_runs import SMALL_N, label, title

HEADING = ("Accuracy (95% interval) against LLM tokens per question (ingest + answer)\n"
           "one point per system, one panel per task · model · protocol")
PANEL_HEIGHT, LEGEND_INCHES = 4.2, 1.0
LOG_SPAN = 10.0  # a log x axis once the largest token count is more than this many times the smallest
LABEL_GAP = 0.04  # accuracy units between two names (a 6.5 pt line on a panel about 240 pt high)
CHAR_WIDTH = 0.013  # a 6.5 pt character as a fraction of a panel's width (about 330 pt)


def _floor(row: dict) -> bool:
    """A model-free row (it never calls a model) or one with no token cost: a reference line, not a point."""
    return row["model_free"] or not row.get("tokens_per_question")


def cost_groups(board: dict) -> list[dict]:
    """The groups worth a panel: at least one row that spends tokens."""
    return [g for g in board["groups"] if any(not _floor(r) for r in g["rows"])]


def _place(boxes: list[tuple[float, float, float]], left: float, right: float, y: float) -> float:
    """The height nearest above y where a name spanning [left, right] (axis fractions) is LABEL_GAP clear of
    every box already placed whose span overlaps it; the new box is added to `boxes`."""
    ty = y
    for bl, br, by in sorted(boxes, key=lambda b: b[2]):
        if left < br and bl < right and abs(ty - by) < LABEL_GAP:
            ty = by + LABEL_GAP
    boxes.append((left, right, ty))
    return ty


def _spread_labels(points: list[tuple[float, float, str]], to_frac,
                   boxes: list[tuple[float, float, float]]) -> list[tuple[float, float, float, str]]:
    """(x, y, label y, text): each name starts just right of its point, and moves up where it would overlap a
    name already placed (`boxes`: (left, right, y), the floors' names first), so no two are drawn over each
    other. `to_frac(x)`: x as a fraction of the axis width."""
    placed = []
    for x, y, text in sorted(points, key=lambda p: (p[1], p[0], p[2])):
        left = to_frac(x) + 0.01
        placed.append((x, y, _place(boxes, left, left + CHAR_WIDTH * len(text), y), text))
    return placed


def _limits(xs: list[float], log: bool) -> tuple[float, float]:
    """The x range: room on the right for the names (about 40% of the panel)."""
    if log:
        lo = min(xs) / 1.6
        return lo, 10 ** (math.log10(lo) + (math.log10(max(xs)) - math.log10(lo)) / 0.6)
    return 0.0, max(xs) / 0.6


def draw_cost_panel(ax, group: dict) -> None:
    """One table: its systems as points with vertical 95% whiskers, its floors as lines, chance dashed."""
    rows = [r for r in group["rows"] if not _floor(r)]
    floors = [r for r in group["rows"] if _floor(r)]
    xs = [r["tokens_per_question"] for r in rows]
    log = max(xs) / min(xs) > LOG_SPAN
    for kind in ("system", "small"):
        mine = [r for r in rows if _kind(r) == kind]
        if not mine:
            continue
        ys = [r["accuracy"] for r in mine]
        err = [[r["accuracy"] - r["ci95"][0] for r in mine], [r["ci95"][1] - r["accuracy"] for r in mine]]
        ax.errorbar([r["tokens_per_question"] for r in mine], ys, yerr=err, fmt="o", color=COLOURS[kind],
                    ecolor=COLOURS[kind], markersize=5, elinewidth=1, capsize=2, zorder=3,
                    label="system: accuracy, 95% interval" if kind == "system"
                    else f"‡ fewer than {SMALL_N} questions (unranked)")
    lo, hi = _limits(xs, log)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(lo, hi)

    def to_frac(x: float) -> float:
        return (math.log10(x) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) if log else (x - lo) / (hi - lo)

    boxes: list[tuple[float, float, float]] = []
    ax.axhline(group["chance"], color="#C44E52", linestyle="--", linewidth=1.0, zorder=1, label="chance level")
    for r in sorted(floors, key=lambda r: (r["accuracy"], r["system"])):
        text = f"{label(group, r)} {r['accuracy']:.3f}"
        ty = _place(boxes, 1.0 - CHAR_WIDTH * len(text), 1.0, r["accuracy"])
        ax.axhline(r["accuracy"], color="#777777", linestyle=":", linewidth=1.0, zorder=1,
                   label="no tokens spent (option-only floor, † no model): a line at its accuracy")
        ax.annotate(text, (hi, r["accuracy"]), xytext=(-2, ty), textcoords=("offset points", "data"), fontsize=6.5,
                    va="center", ha="right", color="#555555", zorder=2, annotation_clip=False,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3, "alpha": 0.8})
    for x, y, ty, text in _spread_labels([(r["tokens_per_question"], r["accuracy"], label(group, r)) for r in rows],
                                         to_frac, boxes):
        ax.annotate(text, (x, y), xytext=(6, ty), textcoords=("offset points", "data"), fontsize=6.5,
                    va="center", ha="left", zorder=4, annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": "#AAAAAA", "linewidth": 0.5,
                                "shrinkA": 0, "shrinkB": 2} if ty != y else None)
    # Up to just above the highest interval or name: the points get the panel's height, not empty space.
    top = max([r["ci95"][1] for r in rows] + [b[2] for b in boxes] + [group["chance"]])
    ax.set_ylim(0, min(1.0, top + 0.08))
    ax.grid(color="#E5E5E5", linewidth=0.6, zorder=0)
    ax.set_xlabel("LLM tokens per question (prompt + completion)" + (", log scale" if log else ""), fontsize=8)
    ax.set_ylabel("accuracy", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title(group), fontsize=9, loc="left")


def cost_figure(board: dict):
    """The leaderboard_cost.png Figure; None when no table has a row that spends tokens."""
    import matplotlib.style
    from matplotlib.figure import Figure

    groups = cost_groups(board)
    if not groups:
        return None
    cols = 2 if len(groups) > 1 else 1
    nrows = math.ceil(len(groups) / cols)
    with matplotlib.style.context("default"):
        fig = Figure(figsize=(FIG_WIDTH, PANEL_HEIGHT * nrows + LEGEND_INCHES), dpi=FIG_DPI, layout="constrained")
        axes = list(fig.subplots(nrows, cols, squeeze=False).flat)
    for ax, group in zip(axes, groups):
        draw_cost_panel(ax, group)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    figure_legend(fig, axes[:len(groups)], [], HEADING)
    return fig


def render_cost(board: dict, path: Path) -> bool:
    """Write leaderboard_cost.png when any table has a row that spends tokens; returns whether it did."""
    return save_figure(cost_figure(board), path)
