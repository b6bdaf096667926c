"""The exact OpenRLHF 0.11.2 command for a checked Plan, and the `ray job submit` around it.

Mapping of the recipe (comam.md Table 7) onto 0.11.2's dotted flags:
  train.batch_questions (128 (H, q))      --rollout.batch_size 128 prompts per rollout
  rollout.group G, trained agents         --rollout.n_samples_per_prompt G x agents (24 for all three)
  one gradient step per rollout batch     --train.batch_size = batch_questions x n, --train.max_epochs 1
  train.epochs (5)                        --train.num_episodes 5 (passes over the prompt dataset)
  pipeline.*_tokens (3k)                  --rollout.max_new_tokens = the largest agent budget (each agent's
                                          own budget is applied per request by the executor)
  model.window (32k)                      --data.max_len
  train.kl_coef (k3, as a loss)           --algo.kl.init_coef, --algo.kl.use_loss, --algo.kl.estimator k3
  advantages                              --algo.advantage.estimator dr_grpo (leaves them as they are)
  the local backend's optimizer           --actor.lr_scheduler constant, --actor.lr_warmup_ratio 0 and
                                          --actor.adam.betas 0.9 0.999 (torch AdamW's defaults, which the
                                          local backend uses), not OpenRLHF's cosine / 3% warm-up / 0.95
  train.save_every (steps)                --ckpt.save_steps (0: every 10 steps), --ckpt.path beside
                                          --ckpt.output_dir, --ckpt.load_enable (rerunning resumes)
  8 samples share each prompt             --vllm.enable_prefix_caching
Paths in the command are relative to the job's working directory (the run folder, uploaded by Ray), except
--ckpt.output_dir and --ckpt.path, which must be storage the cluster and this machine share.

Resuming: DeepSpeed checkpoints (model, optimizer, scheduler, the data loader's position) go to --ckpt.path
every --ckpt.save_steps steps, keeping the newest 3 (--ckpt.max_num). With --ckpt.load_enable, a job that
finds a checkpoint there continues from it, so after a crash run the same command.sh again. A new run must
therefore use a new save_path (else it resumes the old one).
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from comam_bench.training.openrlhf.settings import Plan

ENTRY = "openrlhf.cli.train_ppo_ray"
DATASET = "prompts.jsonl"
AGENT_FILE = "agent.py"
# torch.optim.AdamW's defaults, which the local backend's optimizer uses (policies.py passes no betas);
# tests/training/test_openrlhf_contract.py checks both.
LOCAL_ADAM_BETAS = (0.9, 0.999)


def checkpoint_path(plan: Plan, save_path: str) -> str:
    """--ckpt.path: the DeepSpeed checkpoints, beside the final model on the same shared storage."""
    return plan.cfg.ckpt_path or f"{save_path.rstrip('/')}-ckpt"


# --ckpt.save_steps when the recipe's train.save_every is 0: a crash loses at most this many steps (the paper's
# 128k setting has 14 steps per epoch, 70 in all).
DEFAULT_SAVE_STEPS = 10


def save_steps(plan: Plan) -> int:
    """--ckpt.save_steps: train.save_every, else DEFAULT_SAVE_STEPS (OpenRLHF's default -1 never saves)."""
    return plan.recipe.train.save_every or DEFAULT_SAVE_STEPS


def train_flags(plan: Plan, save_path: str) -> list[str]:
    """The flags of `python3 -m openrlhf.cli.train_ppo_ray`, in a stable order."""
    r, c = plan.recipe, plan.cfg
    budget = max(int(r.pipeline.get(k, 256)) for k in ("extraction_tokens", "profile_tokens", "retrieval_tokens"))
    flags = {
        "--actor.model_name_or_path": plan.policy_model,
        "--actor.num_nodes": c.num_nodes, "--actor.num_gpus_per_node": c.gpus_per_node,
        "--ref.num_nodes": c.num_nodes, "--ref.num_gpus_per_node": c.gpus_per_node,
        "--vllm.num_engines": c.vllm_engines, "--vllm.tensor_parallel_size": c.vllm_tensor_parallel,
        "--vllm.gpu_memory_utilization": c.vllm_gpu_memory_utilization,
        "--data.prompt_dataset": DATASET, "--data.input_key": "input", "--data.label_key": "label",
        "--data.max_len": plan.max_len,
        "--train.agent_func_path": AGENT_FILE,
        "--rollout.batch_size": r.train.batch_questions, "--rollout.n_samples_per_prompt": plan.n,
        "--rollout.micro_batch_size": c.rollout_micro_batch,
        "--rollout.max_new_tokens": budget, "--rollout.temperature": r.rollout.temperature,
        "--train.batch_size": r.train.batch_questions * plan.n, "--train.micro_batch_size": c.micro_batch,
        "--train.max_epochs": r.train.updates_per_batch, "--train.num_episodes": r.train.epochs,
        "--train.seed": r.seed,
        "--actor.adam.lr": r.train.lr, "--actor.adam.weight_decay": r.train.weight_decay,
        "--actor.adam.betas": " ".join(map(str, LOCAL_ADAM_BETAS)),
        "--actor.lr_scheduler": "constant", "--actor.lr_warmup_ratio": 0,
        "--actor.max_norm": r.train.grad_clip, "--actor.eps_clip": r.train.clip_eps,
        "--actor.loss_agg_mode": "token-mean" if r.train.loss_agg == "token" else "seq-mean-token-mean",
        "--algo.advantage.estimator": c.estimator, "--algo.kl.init_coef": r.train.kl_coef,
        "--ds.zero_stage": c.zero_stage, "--ds.param_dtype": "bf16",
        "--ckpt.output_dir": save_path, "--ckpt.path": checkpoint_path(plan, save_path),
        "--ckpt.save_steps": save_steps(plan),
    }
    if r.train.clip_eps_high is not None:
        flags["--actor.eps_clip_low_high"] = f"{r.train.clip_eps} {r.train.clip_eps_high}"
    out: list[str] = []
    for flag, value in flags.items():
        out += [flag, *str(value).split(" ")]
    switches = ["--vllm.enable_prefix_caching", "--ckpt.load_enable"]
    if r.model.gradient_checkpointing:
        switches.append("--actor.gradient_checkpointing_enable")
    if r.train.kl_coef > 0:
        switches += ["--algo.kl.use_loss"]
        out += ["--algo.kl.estimator", "k3"]
    if c.colocate_all:
        switches += ["--train.colocate_all", "--vllm.enable_sleep", "--ds.enable_sleep"]
    return out + switches + list(c.extra_flags)


def train_command(plan: Plan, save_path: str) -> list[str]:
    """argv of the training entry point (run from the run folder)."""
    return [plan.cfg.python, "-m", ENTRY, *train_flags(plan, save_path)]


def runtime_env(plan: Plan) -> dict:
    """Ray runtime env: the run folder as working dir, and this comam_bench package shipped along."""
    env: dict = {}
    if plan.cfg.ship_package:
        env["py_modules"] = [str(Path(__file__).resolve().parents[2])]
    return env


def submit_command(plan: Plan, run_dir: Path, save_path: str) -> list[str]:
    """`ray job submit` of the training command to plan.cfg.address, without waiting for the job."""
    argv = ["ray", "job", "submit", f"--address={plan.cfg.address}", f"--working-dir={run_dir}", "--no-wait"]
    env = runtime_env(plan)
    if env:
        argv.append(f"--runtime-env-json={json.dumps(env)}")
    return argv + ["--", *train_command(plan, save_path)]


def _lines(argv: list[str]) -> list[str]:
    """Shell-quoted argv grouped as one flag and its values per line."""
    lines: list[list[str]] = [[]]
    for arg in argv:
        if arg.startswith("--") and lines[-1]:
            lines.append([])
        lines[-1].append(shlex.quote(arg))
    return [" ".join(line) for line in lines]


def shell_script(plan: Plan, run_dir: Path, save_path: str) -> str:
    """command.sh: what to run by hand, on the head node or from anywhere that reaches the dashboard."""
    address = plan.cfg.address or "http://127.0.0.1:8265"
    train = " \\\n    ".join(_lines(train_command(plan, save_path)))
    env = runtime_env(plan)
    env_flag = f" \\\n  --runtime-env-json={shlex.quote(json.dumps(env))}" if env else ""
    return ("#!/usr/bin/env bash\n"
            "# Written by `comam-bench train` (backend openrlhf). Needs a Ray cluster with OpenRLHF 0.11.2, vLLM\n"
            "# and DeepSpeed (pip install 'comam-bench[openrlhf]' on the nodes); every openai: endpoint named in\n"
            "# comam_openrlhf.json (judge, frozen agents) must be served before the job starts.\n"
            "set -euo pipefail\n"
            f"cd {shlex.quote(str(run_dir))}\n"
            f"ray job submit --address={shlex.quote(address)} --working-dir=.{env_flag} \\\n  -- {train}\n")
