"""CoMAM's agent executor for OpenRLHF 0.11.2 (`--train.agent_func_path agent.py`).

The generated agent.py defines `class AgentExecutor(CoMAMAgentExecutor)` reading comam_openrlhf.json next
to it; OpenRLHF's rollout actor instantiates it once and calls `execute` n times per prompt, concurrently.
This module imports OpenRLHF (it subclasses the real AgentExecutorBase), so only the cluster, the agent
file and the contract tests import it; `import comam_bench` never does.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openrlhf.utils.agent import AgentExecutorBase

from comam_bench.comam.agents import AGENTS
from comam_bench.training.openrlhf.coordinator import Coordinator, LLMFactory, _load_llm
from comam_bench.training.openrlhf.executor_file import CONFIG_FILE


class CoMAMAgentExecutor(AgentExecutorBase):
    """Sample j of a prompt is agent trained[j // G]'s decision on trajectory j mod G of one CoMAM group."""

    def __init__(self, config: dict[str, Any] | str | Path | None = None, llm_factory: LLMFactory = _load_llm) -> None:
        if config is None or isinstance(config, (str, Path)):
            path = Path(config) if config else Path.cwd() / CONFIG_FILE
            config = json.loads(path.read_text())
        self.coordinator = Coordinator(config, llm_factory)

    async def execute(self, prompt, label, sampling_params, max_length: int, hf_tokenizer, llm_engine, images=None):
        """One training sample, in the dictionary shape OpenRLHF's own executors return."""
        c = self.coordinator
        j, rolled = await c.sample(prompt, label, sampling_params, max_length, hf_tokenizer, llm_engine)
        agent, t = c.trained[(j // c.group) % len(c.trained)], j % c.group
        g = rolled.group
        s = g.trajectories[t].step(agent)  # the step carries the engine's sample: token ids, log-probs
        if s.prompt_ids is None or s.completion_ids is None:
            raise RuntimeError(f"the {agent} step has no token ids: a trained agent generates through the "
                               f"rollout engine (EngineLLM), which always returns them")
        observation = s.prompt_ids + s.completion_ids
        logprobs = None
        if getattr(sampling_params, "logprobs", None) is not None and s.logprobs is not None:
            logprobs = [0.0] * len(s.prompt_ids) + s.logprobs
        # The same keys on every sample: OpenRLHF stacks extra_logs key by key across the batch.
        logs = {f"comam/reward_{a}": float(g.local[a][t]) if a in g.local else 0.0 for a in AGENTS}
        logs.update({"comam/answer": float(g.answer[t]), "comam/agent": float(AGENTS.index(agent)),
                     "comam/weight": float(g.credit.weights.get(agent, 0.0)),
                     "comam/final_reward": float(g.credit.final[agent][t]),
                     "comam/prompt_truncated": float(rolled.truncated_prompts)})
        return {"prompt": prompt, "label": label, "images": images, "mm_train_inputs": None,
                "observation_tokens": observation,
                "action_ranges": [(len(s.prompt_ids), len(observation))],
                "rollout_log_probs": logprobs, "truncated": s.finish_reason == "length",
                "reward": float(g.advantages[agent][t]), "scores": float(g.answer[t]), "extra_logs": logs}
