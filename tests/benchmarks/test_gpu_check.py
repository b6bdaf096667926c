"""benchmarks/gpu_check.py's likelihood part works with or without Contract A's LLM.loglikelihood."""
import sys
from dataclasses import dataclass

from helpers_paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check  # noqa: E402

from comam_bench.api import Question  # noqa: E402
from comam_bench.llm.scripted import ScriptedLLM  # noqa: E402

Q = Question("q", "recall_user_shared_facts", "recall_user_shared_facts", "t", "Which?",
             ("(a) tea", "(b) green tea", "(c) x", "(d) y"), "(a) tea (b) green tea (c) x (d) y", "a", "c", 1)


@dataclass
class Score:
    logprob: float
    tokens: int


class Scoring(ScriptedLLM):
    def loglikelihood(self, chat, continuations, **kwargs):
        return [Score(-1.0, len(c.split())) for c in continuations]


def test_likelihood_is_measured_where_the_backend_has_it():
    out = gpu_check.likelihood(Scoring(), "cpu", [Q, Q])
    assert out["questions"] == 2 and out["continuation_tokens"] == 2 * (1 + 2 + 1 + 1)


class _NoScores(ScriptedLLM):
    from comam_bench.api import LLM

    loglikelihood = LLM.loglikelihood  # the interface's default: not implemented


def test_likelihood_is_skipped_with_a_note_where_it_is_missing():
    assert "does not implement" in gpu_check.likelihood(_NoScores(), "cpu", [Q])["skipped"]


def test_likelihood_is_measured_where_the_backend_scores():
    report = gpu_check.likelihood(ScriptedLLM(), "cpu", [Q])
    assert "skipped" not in report, report


def test_the_device_script_runs_on_cpu_with_the_tiny_model(tmp_path, monkeypatch):
    """DEVICE=cpu: the same code paths as the GPU check, a 0.3M-parameter Qwen2, about 15 s."""
    import json

    monkeypatch.setenv("DEVICE", "cpu")
    gpu_check.main(str(tmp_path))
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["tiny"] and report["device"] == "cpu"
    assert report["generation"]["completion_tokens"] == 4 * 16  # ignore_eos: every row runs to the budget
    assert len(report["training_step"]["steps"]) == 2 and report["training_step"]["peak_memory_gb"] > 0
    o = report["openrlhf"]  # the OpenRLHF path (CI installs OpenRLHF's classes: scripts/setup.sh)
    assert o["rollout"]["samples"] == 8 * 3 * 2 and o["rollout"]["max_event_loop_lag_s"] < 1.0
    assert o["rollout"]["endpoints_built"] == [  # the judge endpoint, once, with the engine-sized cap
        "openai:Qwen/Qwen2.5-3B-Instruct,base_url=http://judge-host:8000/v1,concurrency=16"]
    assert o["experience"]["samples"] == 48 and o["experience"]["max_abs_advantage_minus_reward"] < 1e-6
    assert o["logprobs"]["tokens"] == o["experience"]["action_tokens"] > 0 and o["logprobs"]["max_abs_diff"] < 0.05
    assert o["memory_tiny"]["go"] is True
    assert "skipped" in o["train_ppo_ray"] or o["train_ppo_ray"]["returncode"] == 0


def test_the_train_ppo_ray_smoke_job_is_written_and_started_where_its_stack_imports(tmp_path, monkeypatch):
    """Here vllm and deepspeed do not import, so the real smoke job cannot run: pretend they do and capture
    the command instead of running it (the job folder and argv are what the device machine would run)."""
    import importlib.util
    import json
    import subprocess
    from types import SimpleNamespace

    import gpu_check_openrlhf

    texts, _ = gpu_check.texts_of_task()
    gpu_check.build_model(tmp_path / "model", gpu_check.TINY, texts)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: SimpleNamespace() if name in ("vllm", "ray", "deepspeed") else real_find_spec(name, *a))
    ran = {}
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: ran.update(argv=argv, **kw) or
                        SimpleNamespace(returncode=0, stdout="done", stderr=""))
    out = gpu_check_openrlhf.smoke_part(tmp_path / "model", True, tmp_path)
    assert out["returncode"] == 0 and ran["cwd"] == tmp_path / "openrlhf-job" and ran["timeout"] == 240
    assert str(gpu_check.ROOT) in ran["env"]["PYTHONPATH"].split(":")
    argv = ran["argv"]
    assert argv[1:3] == ["-m", "openrlhf.cli.train_ppo_ray"] and argv[-2:] == ["--train.num_episodes", "1"]
    assert argv[argv.index("--rollout.n_samples_per_prompt") + 1] == "4"  # extraction + retrieval, G = 2
    config = json.loads((tmp_path / "openrlhf-job" / "comam_openrlhf.json").read_text())
    assert config["trained"] == ["extraction", "retrieval"] and config["pipeline"]["use_profile"] is False
