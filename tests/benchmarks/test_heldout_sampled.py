"""benchmarks/heldout_sampled.py: a checkpoint and the untrained policies sampled on the same held-out
questions with the same dice, and the paired table worked out by hand."""
import json
import sys

import pytest

from helpers_paths import REPO

pytest.importorskip("torch")
pytest.importorskip("peft")
sys.path.insert(0, str(REPO / "benchmarks"))

import heldout_sampled as H  # noqa: E402


def test_summary_pairs_each_checkpoint_with_the_untrained_policies_on_the_same_questions():
    untrained = {"0": {"q1": {"accuracy": 0.0, "reward/extraction": 0.2}, "q2": {"accuracy": 1.0, "reward/extraction": 0.4}},
                 "1": {"q1": {"accuracy": 0.5, "reward/extraction": 0.3}}}
    joint = {"0": {"q1": {"accuracy": 0.5, "reward/extraction": 0.3}, "q2": {"accuracy": 1.0, "reward/extraction": 0.6}},
             "1": {"q1": {"accuracy": 0.5, "reward/extraction": 0.6}}}
    md = H.summarize({"command": "x", "samples": 4, "temperature": 0.3, "sample_seed": 1,
                      "untrained": untrained, "modes": {"joint": joint}})
    row = next(line for line in md.splitlines() if line.startswith("| joint"))
    # extraction: differences +0.1, +0.2, +0.3 -> mean +0.2, sd 0.1, t(2) = 4.303 -> +-0.248
    assert "| joint | 2 | 3 |" in row
    assert "0.500; +0.200 [-0.048, +0.448] (inside the noise; 3 up, 0 down)" in row
    # accuracy: +0.5, 0, 0 -> mean 0.167
    assert "0.667; +0.167" in row
    assert md.splitlines()[-1].startswith("| joint")


def test_measure_loads_a_checkpoint_and_samples_reproducibly(tmp_path, monkeypatch):
    from comam_bench.training.local import LocalTrainer
    from comam_bench.training.recipe import load_recipe

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "s0" / "joint"
    sets = [f"output_dir={run}", "train.max_steps=1", "eval.at_start=false", "eval.every=0", "eval.final=false"]
    LocalTrainer().train(load_recipe("smoke", sets))
    (run / "process.json").write_text(json.dumps({"recipe": "smoke", "sets": sets}))
    recipe = H.run_recipe(run, 0, scratch=str(tmp_path / "scratch"))
    assert recipe.out_dir() == tmp_path / "scratch" and recipe.train.max_steps == 1
    a, temp = H.measure(recipe, None, questions=2, samples=2, temperature=None, sample_seed=3)
    b, _ = H.measure(H.run_recipe(run, 0, scratch=str(tmp_path / "scratch")), None, 2, 2, None, 3)
    trained, _ = H.measure(H.run_recipe(run, 0, scratch=str(tmp_path / "scratch")), run / "checkpoint", 2, 2, None, 3)
    assert temp == 1.0 and len(a) == 2 and a == b  # same policies, same dice: the same values
    assert set(trained) == set(a) and set(next(iter(trained.values()))) == set(H.KEYS)
