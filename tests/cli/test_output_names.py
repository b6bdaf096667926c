"""One naming for outputs: --results-dir (run records) in run, train, leaderboard; --output-dir for training."""
from click.testing import CliRunner

from comam_bench.cli.main import cli
from comam_bench.results import default_results_dir
from comam_bench.training.recipe import Recipe


def test_defaults_are_the_git_ignored_my_results(monkeypatch, tmp_path):
    monkeypatch.setenv("COMAM_BENCH_HOME", str(tmp_path))
    assert default_results_dir() == tmp_path / "my-results"
    assert Recipe(name="smoke").out_dir() == tmp_path / "my-results" / "training" / "smoke"
    assert Recipe(name="smoke", output_dir="elsewhere").out_dir().as_posix() == "elsewhere"


def test_help_names_the_same_options():
    runner = CliRunner()
    for command, options in (("run", ["--results-dir"]), ("leaderboard", ["--results-dir"]),
                             ("train", ["--output-dir", "--results-dir", "--resume"])):
        text = runner.invoke(cli, [command, "--help"], terminal_width=200).output
        assert all(o in text for o in options), (command, text)
        assert "my-results" in text


def test_train_options_become_recipe_overrides(monkeypatch):
    seen = {}

    def fake_train_recipe(name, sets, progress=None):
        seen.update(name=name, sets=list(sets))
        return []

    monkeypatch.setattr("comam_bench.training.base.train_recipe", fake_train_recipe)
    result = CliRunner().invoke(cli, ["train", "--recipe", "smoke", "--set", "train.lr=0.1", "--output-dir", "o",
                                      "--results-dir", "r"])
    assert result.exit_code == 0, result.output
    assert seen == {"name": "smoke", "sets": ["train.lr=0.1", "output_dir=o", "eval.results_dir=r"]}


def test_a_folder_of_runs_is_refused_with_the_name_meant(tmp_path):
    from comam_bench.runner import RunError

    (tmp_path / "results" / "runs" / "some-run").mkdir(parents=True)
    (tmp_path / "results" / "runs" / "some-run" / "run.json").write_text("{}")
    for args in (["leaderboard"], ["run", "--system", "longest-option"]):
        result = CliRunner().invoke(cli, [*args, "--results-dir", str(tmp_path / "results" / "runs")])
        assert isinstance(result.exception, RunError), result.output
        assert f"Use --results-dir {tmp_path / 'results'}." in str(result.exception)
    assert not (tmp_path / "results" / "runs" / "runs").exists()
    assert not (tmp_path / "results" / "runs" / "LEADERBOARD.md").exists()
    accepted = CliRunner().invoke(cli, ["leaderboard", "--results-dir", str(tmp_path / "results")])
    assert accepted.exit_code == 0, accepted.output  # the results folder itself is fine
