"""The leaderboard's figures read at a glance: one legend per figure, systems named (a trained checkpoint by its
mode or recipe and step, not a hash), and the cost-accuracy figure (points named, floors as lines, log x)."""
from __future__ import annotations

import importlib.util
import json

from comam_bench.leaderboard import SMALL_N, build_board, collect_runs, render_markdown
from comam_bench.leaderboard_chart import CHART_HEADING, by_type_figure, chart_figure
from comam_bench.leaderboard_cost import HEADING, cost_figure
from comam_bench.leaderboard_runs import checkpoint_place, system_name
from comam_bench.record import RunRecord
from helpers_paths import REPO
from test_leaderboard import QWEN, make_run


def _board(tmp_path):
    make_run(tmp_path, "a", "rag", QWEN, 12, n=SMALL_N, prompt_tokens=1000.0)
    make_run(tmp_path, "b", "no-memory", QWEN, 4, n=SMALL_N, prompt_tokens=50.0)
    make_run(tmp_path, "c", "longest-option", None, 9, n=SMALL_N, prompt_tokens=0.0)
    make_run(tmp_path, "d", "rag", QWEN, 6, n=SMALL_N, protocol="likelihood", prompt_tokens=300.0)
    return build_board(collect_runs(tmp_path))


def test_the_bar_chart_has_one_legend_for_the_figure(tmp_path):
    fig = chart_figure(_board(tmp_path))
    assert len(fig.axes) == 2 and all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert legend.get_title().get_text() == CHART_HEADING
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == len(set(labels)) and "chance level" in labels and "best option-only baseline" in labels
    # Each panel's own values are in its right-hand title.
    assert fig.axes[0].get_title(loc="right") == "chance 0.25 · best option-only baseline 0.450"


def test_the_heatmap_has_one_colour_bar(tmp_path):
    make_run(tmp_path, "a", "rag", QWEN, 6, n=SMALL_N)
    make_run(tmp_path, "b", "mem0", QWEN, 5, n=SMALL_N)
    make_run(tmp_path, "c", "rag", QWEN, 6, n=SMALL_N, protocol="likelihood")
    make_run(tmp_path, "d", "mem0", QWEN, 5, n=SMALL_N, protocol="likelihood")
    fig = by_type_figure(build_board(collect_runs(tmp_path)))
    assert len(fig.axes) == 3  # two panels, one colour bar


def test_cost_figure_points_lines_and_one_legend(tmp_path):
    board = _board(tmp_path)
    fig = cost_figure(board)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2 and all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert legend.get_title().get_text() == HEADING
    disc = panels[0]
    # tokens/q 1005 (rag) and 55 (no-memory) span more than a decade: log x; points named, no hash.
    assert disc.get_xscale() == "log"
    names = [t.get_text() for t in disc.texts]
    assert "rag" in names and "no-memory" in names
    (points,) = [line for line in disc.lines if line.get_marker() == "o"]
    assert sorted(points.get_xdata()) == [55.0, 1005.0]
    # The model-free floor spends no tokens: a dotted line at its accuracy, named, never a point.
    floors = [line for line in disc.lines if line.get_linestyle() == ":"]
    assert [line.get_ydata()[0] for line in floors] == [0.45] and "longest-option † 0.450" in names
    assert panels[1].get_xscale() == "linear"  # one point: nothing to span
    assert "leaderboard_cost.png" in render_markdown(board)


def test_cost_figure_is_absent_when_nothing_spends_tokens(tmp_path):
    make_run(tmp_path, "c", "longest-option", None, 9, n=SMALL_N, prompt_tokens=0.0)
    board = build_board(collect_runs(tmp_path))
    assert cost_figure(board) is None and "leaderboard_cost.png" not in render_markdown(board)


def _checkpoint_run(tmp_path, run_id, folder, info, k=6):
    config = {"checkpoint": folder, "checkpoint_info": info}
    record = make_run(tmp_path, run_id, "comam", QWEN, k, n=SMALL_N, args={"checkpoint": folder})
    path = tmp_path / run_id / "run.json"
    record["system"] = {**record["system"], "args": {"checkpoint": folder}, "config": config}
    path.write_text(json.dumps(record))
    return RunRecord.read(path)


def test_a_trained_checkpoint_is_named_by_its_mode_and_step(tmp_path):
    joint = _checkpoint_run(tmp_path, "j", "results/training/cpu-compare/s0/joint/checkpoint",
                            {"recipe": "cpu-smollm2", "mode": "joint", "global_step": 15})
    local = _checkpoint_run(tmp_path, "l", "results/training/cpu-compare/s0/local-only/checkpoint",
                            {"recipe": "ablation-local-only", "global_step": 3})
    old = _checkpoint_run(tmp_path, "o", "/somewhere/else/exp/joint/checkpoint", None)
    assert system_name(joint) == "comam joint step 15 · cpu-compare/s0"
    assert system_name(local) == "comam ablation-local-only step 3 · cpu-compare/s0/local-only"
    assert system_name(old) == "comam trained · else/exp/joint"  # no trainer notes recorded: where it is
    assert checkpoint_place("my-results/training/x/checkpoint/") == "x"
    # Equal scores, different checkpoints: separate rows, each by name, no config hash in sight.
    board = build_board([joint, local, old])
    labels = [r["name"] for r in board["groups"][0]["rows"]]
    assert len(labels) == 3 and all("[" not in label for label in labels)
    fig = chart_figure(board)
    assert "comam joint step 15 · cpu-compare/s0" in [t.get_text() for t in fig.axes[0].get_yticklabels()]


def test_backfill_names_committed_checkpoints_from_their_training_folder(tmp_path):
    spec = importlib.util.spec_from_file_location("backfill", REPO / "scripts" / "backfill_checkpoint_info.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    training = tmp_path / "training" / "exp" / "joint"
    training.mkdir(parents=True)
    (training / "process.json").write_text(json.dumps({"recipe": "cpu-smollm2", "mode": "joint", "exit_status": 0}))
    (training / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"kind": "validation", "global_step": 0}, {"kind": "train", "global_step": 1},
        {"kind": "train", "global_step": 2}, {"kind": "validation", "global_step": 2})))
    runs = tmp_path / "results" / "runs"
    _checkpoint_run(runs, "ck", str(training / "checkpoint"), None)
    assert script.main([str(tmp_path / "results"), "--check"]) == 1
    assert script.main([str(tmp_path / "results")]) == 0
    record = RunRecord.read(runs / "ck")
    assert record.system.raw["config"]["checkpoint_info"]["global_step"] == 2
    assert system_name(record).startswith("comam joint step 2 · ")
    assert script.main([str(tmp_path / "results"), "--check"]) == 0


def test_every_figure_heading_fits_inside_its_figure(tmp_path):
    # A one-line bold heading was wider than the 11-inch figure: both its ends were cut off in the PNG.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    board = _board(tmp_path)
    for fig in (chart_figure(board), cost_figure(board), by_type_figure(board)):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        texts = [lg.get_title() for lg in fig.legends] + ([fig._suptitle] if fig._suptitle else [])
        assert texts
        for text in texts:
            box = text.get_window_extent(renderer)
            assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (text.get_text(), box, fig.bbox.width)
