"""A run remembers its --data-dir (relative to its results folder); `view` and `leaderboard --html` reload
the question texts from it, and say clearly when they cannot."""
import json
import shutil

from click.testing import CliRunner

from comam_bench.cli.main import cli
from comam_bench.data.recorded import data_dir_candidates, recorded_data_dir
from helpers_paths import FIXTURES

FIXTURE = FIXTURES / "data" / "prerelease"


def _run(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "data")
    result = CliRunner().invoke(cli, ["run", "--system", "longest-option", "--task", "personamem-128k", "--data-dir",
                                      str(tmp_path / "data"), "--results-dir", str(tmp_path / "res"), "--run-id", "r"])
    assert result.exit_code == 0, result.output
    return tmp_path / "res" / "runs" / "r"


def _view(run_dir, *extra):
    result = CliRunner().invoke(cli, ["view", str(run_dir), "--out", str(run_dir.parent / "v.html"), *extra])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_record_keeps_the_data_dir_relative_to_the_results_folder(tmp_path):
    run_dir = _run(tmp_path)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["task"]["data_dir"] == "../data"
    assert recorded_data_dir(None, tmp_path) is None


def test_a_folder_under_home_is_named_from_home_not_by_climbing_out_of_the_results_folder(tmp_path, monkeypatch):
    home, results = tmp_path / "home" / "me", tmp_path / "work" / "project" / "results"
    (home / ".cache" / "data").mkdir(parents=True)
    results.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    named = recorded_data_dir(home / ".cache" / "data", results)
    assert named == "~/.cache/data"  # not "../../../home/me/.cache/data", which names the home folder
    assert data_dir_candidates({"task": {"data_dir": named}}, results / "runs" / "r")[0] == [home / ".cache" / "data"]
    inside = home / "project" / "results"  # results under home too: the relative form names nothing private
    inside.mkdir(parents=True)
    assert recorded_data_dir(home / ".cache" / "data", inside) == "../../.cache/data"


def test_view_and_leaderboard_reload_texts_from_the_recorded_folder(tmp_path):
    run_dir = _run(tmp_path)
    shown = _view(run_dir)
    assert "note" not in shown and "not loaded" not in shown
    assert '"text": null' not in (run_dir.parent / "v.html").read_text()
    board = CliRunner().invoke(cli, ["leaderboard", "--results-dir", str(tmp_path / "res"), "--html"])
    assert board.exit_code == 0 and "not loaded" not in board.output, board.output
    # The results folder and its data moved together: the relative path still finds the files.
    shutil.move(str(tmp_path), str(tmp_path.parent / (tmp_path.name + "-moved")))
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    assert "not loaded" not in _view(moved / "res" / "runs" / "r")


def test_a_recorded_folder_that_is_gone_is_named_with_what_to_do(tmp_path):
    run_dir = _run(tmp_path)
    shutil.rmtree(tmp_path / "data")
    shown = _view(run_dir)
    assert "was run with the data folder ../data (recorded in its run.json)" in shown
    assert "Pass --data-dir DIR" in shown
    shutil.copytree(FIXTURE, tmp_path / "elsewhere")
    assert "not loaded" not in _view(run_dir, "--data-dir", str(tmp_path / "elsewhere"))


def test_records_from_before_the_field_still_find_their_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    legacy = {"task": {"name": "personamem-128k", "info": {"source": "local", "data_dir": "data"}}}
    folders, named = data_dir_candidates(legacy, tmp_path / "res" / "runs" / "r")
    assert folders[0] == tmp_path / "data" and named == "data"
    synthetic = {"task": {"name": "personamem-mini", "info": {"source": "synthetic", "data_dir": "/cache/x"}}}
    assert data_dir_candidates(synthetic, tmp_path) == ([None], None)
    assert data_dir_candidates({"task": {"data_dir": None}}, tmp_path) == ([None], None)
