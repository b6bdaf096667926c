"""Training's seam (issue 27, item 4): comam_bench.training names no system and no embedder of its own; the
recipe does, with today's values as defaults, and CoMAM's set-up is reached through comam.training."""
from __future__ import annotations

from pathlib import Path

import pytest

from comam_bench import registry
from comam_bench.comam.training.pipeline import MODEL_ARGS, training_pipeline
from comam_bench.llm.defaults import DEFAULT_EMBEDDER
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.training.base import Trainer, check_system
from comam_bench.training.recipe import RecipeError, load_recipe, recipe_from_dict


def test_the_recipe_names_the_embedder_and_defaults_to_today_s():
    assert recipe_from_dict({}).model.embedder == "minilm" == DEFAULT_EMBEDDER
    assert load_recipe("smoke", ["model.embedder=hash:16"]).model.embedder == "hash:16"


def test_the_training_pipeline_ranks_with_the_recipe_s_embedder():
    llm = ScriptedLLM()
    pipeline = training_pipeline({a: llm for a in ("extraction", "profile", "retrieval")},
                                 {"memory_tokens": 256}, "hash:16", seed=3)
    assert pipeline.resources.embedder.spec == "hash:16" and pipeline.resources.seed == 3
    assert pipeline.settings.memory_tokens == 256
    with pytest.raises(RecipeError, match=r"\['policy_model'\] are set by the trainer"):
        training_pipeline({"retrieval": llm}, {"policy_model": "x"}, "hash:16", seed=0)
    assert "retrieval_adapter" in MODEL_ARGS


def test_the_final_evaluation_runs_the_recipe_s_system_with_its_embedder(monkeypatch, tmp_path):
    import comam_bench.runner as runner
    from comam_bench.training.evaluate import final_evaluation

    seen = []

    class FakeRun:  # the harness runner's place: records the config it was given
        def __init__(self, cfg, progress=None):
            seen.append(cfg)
            self.dir = type("D", (), {"path": tmp_path})()

        def execute(self):
            return {"run_id": "r", "scores": {"accuracy": 0.5, "n": 2}}

    monkeypatch.setattr(runner, "Run", FakeRun)
    recipe = load_recipe("smoke", ["system=comam-no-profile", "model.embedder=hash:16"])
    out = final_evaluation(recipe, tmp_path / "ckpt", "hf:base")
    cfg = seen[0]
    assert (cfg.system, cfg.embedder, cfg.model) == ("comam-no-profile", "hash:16", "hf:base")
    assert cfg.system_args["checkpoint"] == str((tmp_path / "ckpt").resolve())
    assert out == {"run_id": "r", "accuracy": 0.5, "n": 2, "ci95": None, "dir": str(tmp_path)}
    default = load_recipe("smoke")
    final_evaluation(default, tmp_path / "ckpt", "hf:base")
    assert (seen[1].system, seen[1].embedder) == ("comam", DEFAULT_EMBEDDER)  # today's run, unchanged


def test_a_backend_trains_only_the_systems_it_names():
    class Nameless(Trainer):
        name = "nameless"

        def train(self, recipe):
            raise AssertionError("never called")

    assert Trainer.systems == ()
    with pytest.raises(registry.RegistryError, match=r"'nameless' trains no system .*'comam' is trainable"):
        check_system(recipe_from_dict({}), Nameless)
    from comam_bench.training.local import LocalTrainer

    check_system(recipe_from_dict({}), LocalTrainer)  # the built-in backend names comam
    assert LocalTrainer.systems == ("comam",)
