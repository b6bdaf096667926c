"""`backend: openrlhf` without OpenRLHF: recipe checks, the written job, submitting to a (fake) Ray CLI,
and the converter whose checkpoint the harness evaluates."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from comam_bench.comam.checkpoint import CheckpointError, load_checkpoint
from comam_bench.training.base import train_recipe
from comam_bench.training.openrlhf.convert import to_checkpoint
from comam_bench.training.openrlhf.dataset import example_from_label
from comam_bench.training.openrlhf.trainer import JobFailed, job_status
from comam_bench.training.recipe import RecipeError

# personamem-mini has 22 training questions: a batch of 8 pads them to 24 (openrlhf.whole_batches=pad).
MINI = ["data.task=personamem-mini", "eval.final=false", "train.batch_questions=8"]


def sets(tmp_path: Path, *more: str) -> list[str]:
    return [*MINI, f"output_dir={tmp_path / 'out'}", *more]


# --------------------------------------------------------------------------- bad recipes
@pytest.mark.parametrize("override, message", [
    ("model.base=tiny-random", "needs a Hugging Face model folder or hub id"),
    ("openrlhf.n_samples_per_prompt=8", "does not match rollout.group x trained agents = 8 x 2 = 16"),
    ("rewards.judge=base", "the profile judge must be a separate frozen model"),
    ("openrlhf.frozen={}", "set openrlhf.frozen.retrieval=openai:"),
    ("openrlhf.estimator=group_norm", "must be 'dr_grpo'"),
    ("openrlhf.vllm_engines=4", "must equal the actor GPUs (8)"),
    ("openrlhf.gpu_per_node=4", "Did you mean 'gpus_per_node'"),
    ("train.agents=[extraction, retrieval]", "different bases"),
    ("openrlhf.trained_models.profile=/x", "does not train"),
    ("openrlhf.extra_flags=[--pretrain, x]", None),  # caught by the parser check where OpenRLHF is installed
])
def test_a_bad_recipe_fails_before_anything_is_written(tmp_path, override, message):
    have_openrlhf = __import__("importlib").util.find_spec("openrlhf") is not None
    if message is None and not have_openrlhf:
        pytest.skip("the flag check reads OpenRLHF's installed parser")
    with pytest.raises(RecipeError) as err:
        train_recipe("gpu-openrlhf-128k", sets(tmp_path, override))
    assert (message or "has no flag --pretrain") in str(err.value)
    assert not (tmp_path / "out").exists()


def test_the_cli_prints_a_bad_recipe_as_one_paragraph(tmp_path):
    exe = Path(sys.executable).with_name("comam-bench")
    result = subprocess.run([str(exe), "train", "--recipe", "gpu-openrlhf-32k", "--set", "rewards.judge=base",
                             "--set", f"output_dir={tmp_path / 'out'}"], capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "the profile judge must be a separate frozen model" in output
    assert "Traceback" not in output and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the written job
def test_train_writes_the_dataset_the_agent_file_and_the_command(tmp_path):
    result, = train_recipe("gpu-openrlhf-128k", sets(tmp_path))
    job = Path(result.info["job_dir"])
    rows = [json.loads(line) for line in (job / "prompts.jsonl").read_text().splitlines()]
    assert len(rows) == int(result.info["train_examples"]) == 24 and result.info["whole_batches"] == "pad +2"
    assert rows[22:] == rows[:2]  # padded with the first rows
    ex = example_from_label(rows[0]["label"])
    assert ex.history in rows[0]["input"] and ex.evidence and ex.question.gold in "abcd"
    config = json.loads((job / "comam_openrlhf.json").read_text())
    assert config["group"] == 8 and config["trained"] == ["extraction", "profile"]
    assert list(config["frozen"]) == ["retrieval"] and config["judge"].startswith("openai:")
    assert "class AgentExecutor(CoMAMAgentExecutor)" in (job / "agent.py").read_text()
    script = (job / "command.sh").read_text()
    for line in ("-- python3 -m openrlhf.cli.train_ppo_ray", "--rollout.n_samples_per_prompt 16",
                 "--rollout.batch_size 8", "--train.batch_size 128", "--algo.advantage.estimator dr_grpo",
                 "--train.agent_func_path agent.py", "--data.prompt_dataset prompts.jsonl", "--data.max_len 32768",
                 "--rollout.temperature 1.0", "--rollout.max_new_tokens 3072", "--train.num_episodes 5",
                 "--actor.model_name_or_path Qwen/Qwen2.5-3B-Instruct"):
        assert line in script
    assert json.loads((job / "flags.json").read_text())[-1] == "--ds.enable_sleep"
    assert result.checkpoint is None and "run " in result.info["note"]


def test_the_retrieval_job_trains_the_7b_with_the_construction_agents_frozen(tmp_path):
    result, = train_recipe("gpu-openrlhf-32k", sets(tmp_path, "train.agents=[retrieval]"))
    script = Path(result.info["command"]).read_text()
    assert "--actor.model_name_or_path Qwen/Qwen2.5-7B-Instruct" in script
    assert "--rollout.n_samples_per_prompt 8" in script
    config = json.loads((Path(result.info["job_dir"]) / "comam_openrlhf.json").read_text())
    assert sorted(config["frozen"]) == ["extraction", "profile"]


# --------------------------------------------------------------------------- submitting and converting
FAKE_RAY = """#!/usr/bin/env bash
echo "$@" >> "{log}"
case "$2" in
  submit) echo "Job 'raysubmit_Ab12Cd' submitted successfully" ;;
  logs) echo "episode 1/5"; echo "saved model" ;;
  status) echo "Status for job 'raysubmit_Ab12Cd': {status}" ;;
esac
"""


def fake_ray(tmp_path: Path, monkeypatch, status: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ray-calls.txt"
    (bin_dir / "ray").write_text(FAKE_RAY.format(log=log, status=status))
    (bin_dir / "ray").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def tiny_saved_model(folder: Path) -> Path:
    from comam_bench.training.tiny import save_tiny_model

    save_tiny_model(folder, ["User: I like tea. <information> </information> <final_answer> (a) (b) (c) (d)"])
    return folder


def test_submit_follows_the_job_then_converts_the_saved_model(tmp_path, monkeypatch):
    log = fake_ray(tmp_path, monkeypatch, "SUCCEEDED")
    saved = tiny_saved_model(tmp_path / "saved")  # what OpenRLHF leaves at --ckpt.output_dir
    result, = train_recipe("gpu-openrlhf-128k", sets(
        tmp_path, "openrlhf.address=http://head:8265", f"openrlhf.save_path={saved}", "pipeline.memory_tokens=64"))
    calls = log.read_text().splitlines()
    assert calls[0].startswith("job submit --address=http://head:8265 --working-dir=") and "--no-wait" in calls[0]
    assert "-- python3 -m openrlhf.cli.train_ppo_ray" in calls[0] and f"--ckpt.output_dir {saved}" in calls[0]
    assert calls[1] == "job logs --address=http://head:8265 --follow raysubmit_Ab12Cd"
    assert result.info["job_status"] == "SUCCEEDED"
    assert "saved model" in (tmp_path / "out" / "job.log").read_text()
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.base_model == f"hf:{saved.resolve()}" and ckpt.info["job_id"] == "raysubmit_Ab12Cd"
    kwargs = ckpt.system_kwargs()  # the untrained 7B retrieval agent keeps its own base, not the 3B policy
    assert kwargs["memory_tokens"] == 64 and kwargs["retrieval_model"] == "hf:Qwen/Qwen2.5-7B-Instruct"
    assert result.final_run is None  # eval.final=false here: the 7B is not on this machine


def test_the_second_job_checkpoint_holds_every_agent_and_is_evaluated(tmp_path, monkeypatch):
    fake_ray(tmp_path, monkeypatch, "SUCCEEDED")
    job1, job2 = tiny_saved_model(tmp_path / "job1"), tiny_saved_model(tmp_path / "job2")
    result, = train_recipe("gpu-openrlhf-128k", sets(
        tmp_path, "train.agents=[retrieval]", "openrlhf.address=http://head:8265", f"openrlhf.save_path={job2}",
        f"openrlhf.trained_models.extraction={job1}", f"openrlhf.trained_models.profile={job1}",
        "eval.final=true", "eval.final_limit=2", "eval.final_batch_size=2", f"eval.results_dir={tmp_path / 'results'}",
        "pipeline.extraction_tokens=4", "pipeline.profile_tokens=4", "pipeline.retrieval_tokens=4",
        "pipeline.memory_tokens=64"))
    kwargs = load_checkpoint(result.checkpoint).system_kwargs()
    assert kwargs["policy_model"] == f"hf:{job1.resolve()}" and kwargs["retrieval_model"] == f"hf:{job2.resolve()}"
    assert result.final_run["n"] == 2  # the harness evaluated the checkpoint (every agent a saved model)


def test_a_failed_job_is_an_error_naming_its_log_and_ending_with_its_tail(tmp_path, monkeypatch):
    fake_ray(tmp_path, monkeypatch, "FAILED")
    with pytest.raises(JobFailed, match="ended FAILED; its log is") as err:
        train_recipe("gpu-openrlhf-128k", sets(tmp_path, "openrlhf.address=http://head:8265"))
    assert str(err.value).endswith("episode 1/5\nsaved model")


def test_the_cli_exits_non_zero_on_a_failed_job_with_the_log_tail_and_no_traceback(tmp_path, monkeypatch):
    fake_ray(tmp_path, monkeypatch, "FAILED")
    exe = Path(sys.executable).with_name("comam-bench")
    args = [str(exe), "train", "--recipe", "gpu-openrlhf-128k", "--set", "openrlhf.address=http://head:8265"]
    for item in sets(tmp_path):
        args += ["--set", item]
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "ended FAILED" in output and "saved model" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("output, status", [
    ("Job submission server address: http://head:8265\nStatus for job 'raysubmit_Ab12Cd': SUCCEEDED\n"
     "Status message: Job finished successfully.\n", "SUCCEEDED"),
    # a status message that mentions SUCCEEDED does not make a failed job succeed (the old substring test did)
    ("Status for job 'raysubmit_Ab12Cd': FAILED\nStatus message: step 3 of the job SUCCEEDED, then OOM\n", "FAILED"),
    ("Status for job 'raysubmit_Other': SUCCEEDED\n", "UNKNOWN"),  # another job's line
    ("Status for job 'raysubmit_Ab12Cd': RUNNING\n", "RUNNING"),
    ("connection refused", "UNKNOWN"),
])
def test_job_status_is_read_from_rays_status_line(output, status):
    assert job_status(output, "raysubmit_Ab12Cd") == status


def test_a_job_still_running_when_its_log_ends_is_an_error(tmp_path, monkeypatch):
    fake_ray(tmp_path, monkeypatch, "RUNNING")
    with pytest.raises(JobFailed, match="is RUNNING after its log stream ended"):
        train_recipe("gpu-openrlhf-128k", sets(tmp_path, "openrlhf.address=http://head:8265"))


# --------------------------------------------------------------------------- whole batches
def test_data_smaller_than_one_batch_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(RecipeError, match="22 training questions are fewer than one rollout batch"):
        train_recipe("gpu-openrlhf-128k", sets(tmp_path, "train.batch_questions=128"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode, rows, expected, changed", [
    ("pad", 22, 24, 2), ("trim", 22, 16, -6), ("pad", 16, 16, 0), ("trim", 8, 8, 0)])
def test_training_rows_become_whole_batches(mode, rows, expected, changed):
    from comam_bench.training.openrlhf.settings import plan_run, whole_batches
    from comam_bench.training.recipe import load_recipe

    plan = plan_run(load_recipe("gpu-openrlhf-128k", [*MINI, f"openrlhf.whole_batches={mode}"]))
    out, diff = whole_batches(list(range(rows)), plan)
    assert (len(out), diff) == (expected, changed) and len(out) % 8 == 0 and out[:min(rows, expected)] == list(range(min(rows, expected)))


def test_the_command_has_the_local_optimizer_prefix_caching_and_resumable_checkpoints(tmp_path):
    result, = train_recipe("gpu-openrlhf-128k", sets(tmp_path, "openrlhf.save_path=/shared/job1"))
    flags = json.loads((Path(result.info["job_dir"]) / "flags.json").read_text())
    text = " ".join(flags)
    for part in ("--actor.lr_scheduler constant", "--actor.lr_warmup_ratio 0", "--actor.adam.betas 0.9 0.999",
                 "--ckpt.output_dir /shared/job1", "--ckpt.path /shared/job1-ckpt", "--ckpt.save_steps 5"):
        assert part in text  # save_steps: train.save_every of gpu-qwen-32k (5)
    assert "--vllm.enable_prefix_caching" in flags and "--ckpt.load_enable" in flags
    result, = train_recipe("gpu-openrlhf-128k", sets(tmp_path, "train.save_every=0", "openrlhf.ckpt_path=/s/c"))
    text = " ".join(json.loads((Path(result.info["job_dir"]) / "flags.json").read_text()))
    assert "--ckpt.save_steps 10" in text and "--ckpt.path /s/c" in text


def test_converter_names_per_agent_models_and_rejects_other_folders(tmp_path):
    one, two = tiny_saved_model(tmp_path / "job1"), tiny_saved_model(tmp_path / "job2")
    path = to_checkpoint(tmp_path / "ckpt", {"extraction": one, "profile": one, "retrieval": two})
    kwargs = load_checkpoint(path.parent).system_kwargs()
    assert kwargs["policy_model"] == f"hf:{one.resolve()}" and kwargs["retrieval_model"] == f"hf:{two.resolve()}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="neither a Hugging Face model folder"):
        to_checkpoint(tmp_path / "ckpt2", {"extraction": tmp_path / "empty"})


def test_nothing_of_the_backend_is_imported_by_comam_bench():
    code = ("import sys, comam_bench, comam_bench.training.openrlhf.trainer, comam_bench.training.openrlhf.parser;"
            "heavy = [m for m in ('torch', 'ray', 'vllm', 'openrlhf', 'deepspeed') if m in sys.modules];"
            "assert 'comam_bench.training.openrlhf' not in sys.modules or heavy == [], heavy; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
    out = subprocess.run([sys.executable, "-c", "import sys, comam_bench; print('comam_bench.training.openrlhf' in sys.modules)"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_converter_command_line(tmp_path, capsys):
    from comam_bench.training.openrlhf.convert import main

    one = tiny_saved_model(tmp_path / "job1")
    assert main([str(tmp_path / "ckpt"), "--model", f"extraction,profile={one}",
                 "--pipeline-json", '{"memory_tokens": 64}']) == 0
    ckpt = load_checkpoint(tmp_path / "ckpt")
    assert ckpt.base_model == f"hf:{one.resolve()}" and ckpt.system_args == {"memory_tokens": 64}
    assert "--system-arg checkpoint=" in capsys.readouterr().out
