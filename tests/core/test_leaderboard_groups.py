"""Leaderboard groups per protocol, small samples, collapsed rows, machine-free names, and the chart's data."""
import json
import re

from matplotlib.container import ErrorbarContainer

from comam_bench.leaderboard import (SMALL_N, build_board, collect_runs, render_markdown, stable_model_name,
                                     write_outputs)
from comam_bench.leaderboard_chart import by_type_figure, chart_figure
from test_leaderboard import QWEN, make_run
from helpers_paths import REPO

ROOT = REPO
# An absolute path: a slash that no relative path part, glob or "…/" shortening comes before; or a drive letter.
ABS_PATH = re.compile(r"(?<![\w.*~\-/…])/[A-Za-z][\w.-]*/|\b[A-Za-z]:\\")


def _texts(fig) -> str:
    """Every string the figure draws: titles, tick labels, annotations, legend entries."""
    out = []
    for ax in fig.axes:
        out += [ax.get_title(loc="left"), ax.get_title(), ax.get_title(loc="right"),
                *(t.get_text() for t in ax.get_yticklabels())]
        out += [t.get_text() for t in ax.texts]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    for legend in fig.legends:
        out += [legend.get_title().get_text(), *(t.get_text() for t in legend.get_texts())]
    return "\n".join(out)


def test_protocols_get_separate_groups(tmp_path):
    # Two records identical but for the protocol (Contract B): two tables, never one ranking.
    make_run(tmp_path, "gen", "rag", QWEN, 6, n=SMALL_N)
    make_run(tmp_path, "ll", "rag", QWEN, 8, n=SMALL_N, protocol="likelihood")
    board = build_board(collect_runs(tmp_path))
    assert [(g["model"], g["protocol"], [r["run_id"] for r in g["rows"]]) for g in board["groups"]] == [
        (QWEN, "discriminative", ["gen"]), (QWEN, "likelihood", ["ll"])]
    text = render_markdown(board)
    assert "## personamem-32k · hf:qwen-7b · discriminative" in text
    assert "## personamem-32k · hf:qwen-7b · likelihood" in text
    titles = [ax.get_title(loc="left") for ax in chart_figure(board).axes]
    assert titles == ["personamem-32k · hf:qwen-7b · discriminative", "personamem-32k · hf:qwen-7b · likelihood"]
    saved = json.loads(write_outputs(board, tmp_path / "out")["json"].read_text())
    assert [g["protocol"] for g in saved["groups"]] == ["discriminative", "likelihood"]


def test_model_free_rows_join_every_protocol_group(tmp_path):
    make_run(tmp_path, "gen", "rag", QWEN, 6, n=SMALL_N)
    make_run(tmp_path, "ll", "rag", QWEN, 8, n=SMALL_N, protocol="likelihood")
    make_run(tmp_path, "lo", "longest-option", None, 5, n=SMALL_N)
    groups = build_board(collect_runs(tmp_path))["groups"]
    assert [sorted(r["system"] for r in g["rows"]) for g in groups] == [["longest-option", "rag"]] * 2


def test_small_samples_are_marked_and_listed_unranked(tmp_path):
    make_run(tmp_path, "big", "rag", QWEN, 6, n=SMALL_N)  # 0.3 over 20
    make_run(tmp_path, "small", "mem0", QWEN, 8)  # 0.8 over 10: better, but not ranked above it
    board = build_board(collect_runs(tmp_path))
    rows = board["groups"][0]["rows"]
    assert [(r["run_id"], r["small_sample"]) for r in rows] == [("big", False), ("small", True)]
    text = render_markdown(board)
    assert "| 1 | rag | 20 | 0.300 |" in text and "| – | mem0 ‡ | 10 | 0.800 |" in text
    assert "Fewer than 20 questions" in text


def test_identical_rows_collapse_into_one(tmp_path):
    # Two checkpoints of one system with the same results (as the committed comam runs): one row, ×2.
    for i, ckpt in enumerate(("/tmp/a/joint/checkpoint", "/tmp/a/local-only/checkpoint")):
        make_run(tmp_path, f"c{i}", "comam", QWEN, 6, n=SMALL_N, args={"checkpoint": ckpt})
    make_run(tmp_path, "other", "comam", QWEN, 5, n=SMALL_N, args={"checkpoint": "/tmp/a/independent/checkpoint"})
    board = build_board(collect_runs(tmp_path))
    rows = board["groups"][0]["rows"]
    assert [(r["collapsed"], r["run_ids"]) for r in rows] == [(2, ["c0", "c1"]), (1, ["other"])]
    assert len(rows[0]["config_hashes"]) == 2
    text = render_markdown(board)
    assert f"| 1 | comam [{rows[0]['config_hash'][:8]}] ×2 configs | 20 | 0.300 |" in text
    assert "| 2 runs |" in text


def test_the_path_pattern_itself():
    assert ABS_PATH.search("hf:/work/main/x") and ABS_PATH.search("C:\\models\\x")
    assert not ABS_PATH.search("hf:…/smoke/base_model (`runs/*/run.json`) hf:models/qwen")


def test_stable_model_names():
    assert stable_model_name("hf:/work/main/results/training/smoke/base_model") == "hf:…/smoke/base_model"
    assert stable_model_name("hf:/x/y.gguf,window=2048") == "hf:/x/y.gguf,window=2048"  # two parts: kept
    assert stable_model_name("smollm2,window=2048") == "smollm2,window=2048"
    assert stable_model_name("hf:models/qwen") == "hf:models/qwen"
    assert stable_model_name(None) is None


def test_no_machine_path_in_any_output(tmp_path):
    model = f"hf:{tmp_path}/training/smoke/base_model"
    make_run(tmp_path / "runs", "ck", "comam", model, 6, n=SMALL_N, extra={"spec_hash": "0123abcd"})
    board = build_board(collect_runs(tmp_path / "runs"))
    assert board["groups"][0]["model"] == "hf:…/smoke/base_model"
    paths = write_outputs(board, tmp_path / "out")
    for key in ("markdown", "json"):
        assert str(tmp_path) not in paths[key].read_text() and not ABS_PATH.search(paths[key].read_text()), key
    assert str(tmp_path) not in _texts(chart_figure(board)) + _texts(by_type_figure(board) or chart_figure(board))


def test_chart_whiskers_lines_and_order(tmp_path):
    make_run(tmp_path, "a", "rag", QWEN, 12, n=SMALL_N)
    make_run(tmp_path, "b", "no-memory", QWEN, 4, n=SMALL_N)
    make_run(tmp_path, "c", "longest-option", None, 9, n=SMALL_N)
    board = build_board(collect_runs(tmp_path))
    group = board["groups"][0]
    ax = chart_figure(board).axes[0]
    # Bars sorted best first (top of the panel), each labelled with its system.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["rag", "longest-option †", "no-memory"]
    assert [t.get_position()[1] for t in ax.get_yticklabels()] == [2, 1, 0]
    # One whisker per row, spanning exactly its 95% interval, at the row's bar.
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = bars.lines[2][0].get_segments()
    ys = [t.get_position()[1] for t in ax.get_yticklabels()]
    got = sorted((round(seg[0][0], 4), round(seg[1][0], 4), seg[0][1]) for seg in segments)
    want = sorted((r["ci95"][0], r["ci95"][1], y) for r, y in zip(group["rows"], ys))
    assert got == want and len(got) == 3
    # The chance line and the best option-only baseline are drawn where they belong.
    vlines = {line.get_linestyle(): line.get_xdata()[0] for line in ax.lines if len(set(line.get_xdata())) == 1}
    assert vlines["--"] == group["chance"] and vlines[":"] == 0.45
    assert "chance 0.25" in _texts(ax.figure) and "best option-only baseline 0.450" in _texts(ax.figure)


def test_committed_leaderboard_is_built_from_committed_records_without_paths():
    board = build_board(collect_runs(ROOT / "results" / "runs"), ROOT / "results" / "runs")
    markdown = (ROOT / "results" / "LEADERBOARD.md").read_text(encoding="utf-8")
    saved = (ROOT / "results" / "leaderboard.json").read_text(encoding="utf-8")
    assert markdown == render_markdown(board), "regenerate with `comam-bench leaderboard`"
    assert json.loads(saved) == json.loads(json.dumps(board)), "regenerate with `comam-bench leaderboard`"
    for name, text in (("LEADERBOARD.md", markdown), ("leaderboard.json", saved),
                       ("leaderboard.png", _texts(chart_figure(board)))):
        assert not ABS_PATH.search(text), f"{name} holds a machine path: {ABS_PATH.search(text).group(0)}"


def test_by_type_figure_only_where_readable_and_never_stale(tmp_path):
    make_run(tmp_path / "runs", "a", "rag", QWEN, 6, n=SMALL_N)
    make_run(tmp_path / "runs", "b", "mem0", QWEN, 5, n=SMALL_N)
    paths = write_outputs(build_board(collect_runs(tmp_path / "runs")), tmp_path / "out")
    assert paths["png_by_type"].is_file()
    paths = write_outputs(build_board([]), tmp_path / "out")  # nothing readable left: the old figure goes
    assert "png_by_type" not in paths and not (tmp_path / "out" / "leaderboard_by_type.png").exists()
