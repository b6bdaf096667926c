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
