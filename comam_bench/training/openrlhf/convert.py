"""OpenRLHF's saved model -> a CoMAM checkpoint that `comam-bench run --system comam --system-arg checkpoint=DIR`
evaluates.

OpenRLHF saves the trained actor at --ckpt.output_dir as an ordinary Hugging Face folder (config, weights,
tokenizer; full fine-tuning, since LoRA with vLLM rollouts is reported broken in 0.11.2). The checkpoint
points at that folder rather than copying gigabytes: every agent the job trained runs it (base model
hf:FOLDER, no adapter); agents trained in another job (the 7B retrieval agent of Table 7) get their own
folder through `models`; agents never trained run the evaluation's --model. A folder holding a peft adapter
(adapter_config.json) becomes that agent's adapter on `base_model` instead.

    python -m comam_bench.training.openrlhf.convert OUT --model extraction,profile=/ckpt/job1 \\
        --model retrieval=/ckpt/job2 [--pipeline-json '{"memory_tokens": 24576}']
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Mapping

from comam_bench.comam.agents import AGENTS
from comam_bench.comam.checkpoint import CheckpointError, save_checkpoint


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and (any(path.glob("*.safetensors")) or any(path.glob("*.bin")))


def to_checkpoint(out: str | Path, saved: Mapping[str, str | Path], *, base_model: str | None = None,
                  untrained: Mapping[str, str] | None = None, system_args: Mapping[str, Any] | None = None,
                  info: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint at `out` for `saved` (agent -> OpenRLHF output folder); returns its JSON path.

    The first agent in pipeline order with a full model folder gives the checkpoint's base model; other
    agents name theirs per agent, and `untrained` (agent -> model spec) names the model of an agent no job
    trained (else it would run the base, another agent's policy). `base_model` is required only when every
    folder is an adapter."""
    unknown = set(saved) - set(AGENTS)
    if unknown:
        raise CheckpointError(f"unknown agents {sorted(unknown)}; agents are {AGENTS}")
    models: dict[str, str] = {}
    adapters: dict[str, Path | None] = {}
    for agent in (a for a in AGENTS if a in saved):
        folder = Path(saved[agent]).expanduser().resolve()
        if (folder / "adapter_config.json").is_file():
            adapters[agent] = folder
        elif _is_model_folder(folder):
            models[agent] = f"hf:{folder}"
        else:
            raise CheckpointError(f"{folder} is neither a Hugging Face model folder (config.json + weights) nor a "
                                  f"peft adapter: is it OpenRLHF's --ckpt.output_dir after the job finished?")
    for agent, spec in (untrained or {}).items():
        if agent not in saved:
            models[agent] = spec
    base = base_model or next((models[a] for a in AGENTS if a in models and a in saved), None)
    if base is None:
        raise CheckpointError("every folder is an adapter: give base_model (the model they were trained on)")
    per_agent = {a: m for a, m in models.items() if m != base}
    return save_checkpoint(out, base_model=base, adapters=adapters, policy="separate", models=per_agent,
                           system_args=dict(system_args or {}), info={"trainer": "openrlhf", **dict(info or {})})


def _parse_model(arg: str) -> dict[str, str]:
    agents, _, folder = arg.partition("=")
    if not folder:
        raise argparse.ArgumentTypeError(f"--model {arg!r} is not AGENT[,AGENT]=FOLDER")
    return {a.strip(): folder for a in agents.split(",") if a.strip()}


def main(argv: list[str] | None = None) -> int:
    """The converter's command line (for jobs run by hand)."""
    p = argparse.ArgumentParser(prog="python -m comam_bench.training.openrlhf.convert", description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="checkpoint folder to write")
    p.add_argument("--model", action="append", type=_parse_model, required=True, metavar="AGENTS=FOLDER",
                   help="OpenRLHF output folder and the agents it trained (repeatable)")
    p.add_argument("--base-model", help="the model spec adapters were trained on (adapters only)")
    p.add_argument("--pipeline-json", default="{}", help="CoMAM system arguments the policy was trained under")
    args = p.parse_args(argv)
    saved: dict[str, str] = {}
    for item in args.model:
        saved.update(item)
    try:
        path = to_checkpoint(args.out, saved, base_model=args.base_model, system_args=json.loads(args.pipeline_json))
    except (CheckpointError, json.JSONDecodeError) as exc:
        p.error(str(exc))
    print(f"checkpoint: {path.parent}  (comam-bench run --system comam --system-arg checkpoint={path.parent})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
