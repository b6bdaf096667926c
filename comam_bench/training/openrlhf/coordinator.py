"""The per-prompt coordinator: n = G x (trained agents) concurrent `execute` calls become one CoMAM group.

OpenRLHF runs a prompt's n samples as n concurrent `execute` calls on one executor instance
(`asyncio.gather` in the rollout actor). The first call for a prompt opens a group and starts its rollout;
the next n - 1 calls for the same (prompt, label) join it (joining is synchronous, before any await, so a
group's n calls always join the same group, and a duplicate prompt later in the batch opens a new one).
The group's task:
  1. rolls out G trajectories extraction -> profile -> retrieval through the CoMAM Pipeline (the same
     prompts and transitions as the local trainer and the evaluated system); trained agents generate
     through the engine, the others through their frozen endpoints;
  2. scores them with the local backend's Scorer: local rewards (Eqs. 9-11, the frozen judge for Eq. 10),
     the global reward (Eq. 12), NDCG credit over every agent of the pipeline (Eqs. 13-15) and per-agent
     group advantages, exactly as comam_bench.comam.training.rollout computes them for the local backend;
  3. answers call j with agent trained[j // G]'s step on trajectory j mod G: the prompt and completion
     token ids that step carries (the engine returns them with each Generation), only the completion in
     the action range, its advantage as the reward.
Nothing blocking runs on the rollout actor's event loop (it serves every vLLM request of the engine): the
Pipeline, the scorer, and the frozen-agent and judge clients (whose construction asks the server GET
/models) are built and run in worker threads. Each endpoint client allows config["endpoint_concurrency"]
requests in flight (settings.Plan sizes it to the engine), unless its spec sets concurrency= itself.
"""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

from comam_bench.api import LLM, Resources
from comam_bench.comam.agents import Pipeline
from comam_bench.comam.config import CoMAMArgs
from comam_bench.comam.training.rollout import Group, Scorer, rollout
from comam_bench.training.openrlhf.dataset import example_from_label
from comam_bench.training.openrlhf.engine import EngineLLM

LLMFactory = Callable[[str], LLM]


def _load_llm(spec: str) -> LLM:
    from comam_bench.llm import load_llm

    return load_llm(spec)


@dataclass
class Rolled:
    """A finished group: the scored trajectories (each trained agent's steps carry the engine's token ids)."""

    group: Group
    truncated_prompts: int


class _Open:
    """A group being joined: its calls so far and the task that rolls it out."""

    def __init__(self) -> None:
        self.joined = 0
        self.task: asyncio.Task | None = None


class Coordinator:
    """Turns a prompt's n concurrent calls into one scored group of G trajectories (see the module doc)."""

    def __init__(self, config: dict[str, Any], llm_factory: LLMFactory = _load_llm) -> None:
        self.config = config
        self.group = int(config["group"])
        self.trained = list(config["trained"])
        self.n = self.group * len(self.trained)
        # A training H is one session, so memory holds one M_f entry and its ranking is moot: recency needs
        # neither bm25s nor an embedder on the rollout workers (only numpy, pyyaml and httpx).
        self.settings = CoMAMArgs.from_mapping({**(config.get("pipeline") or {}), "ranking": "recency"}).settings()
        self.llm_factory = llm_factory
        self._clients: dict[str, LLM] = {}  # spec -> client: agents served by one endpoint share its cap
        self._open: dict[tuple[str, str], _Open] = {}
        self._build_lock = threading.Lock()  # endpoint clients are built once, by whichever worker asks first
        self.groups_started = 0  # varies the frozen endpoints' seeds from group to group
        # Threads only wait on the engine and HTTP: one per group in flight, more than asyncio's default 32,
        # so a rollout actor's 16+ concurrent prompts all reach vLLM's batch at once.
        self.pool = ThreadPoolExecutor(max_workers=int(config.get("threads", 256)), thread_name_prefix="comam-group")

    # ------------------------------------------------------------------ models built once per executor
    def endpoint_spec(self, spec: str) -> str:
        """An openai: spec with the executor's endpoint concurrency, unless the spec sets its own."""
        limit = self.config.get("endpoint_concurrency")
        if not limit or not spec.startswith("openai:") or "concurrency=" in spec:
            return spec
        return f"{spec},concurrency={int(limit)}"

    def client(self, spec: str) -> LLM:
        """The one client of an endpoint (call from a worker thread: building it may block on the server)."""
        spec = self.endpoint_spec(spec)
        with self._build_lock:
            if spec not in self._clients:
                self._clients[spec] = self.llm_factory(spec)
            return self._clients[spec]

    def frozen_llm(self, agent: str) -> LLM:
        """The frozen agent's client."""
        return self.client(self.config["frozen"][agent])

    def judge(self) -> LLM | None:
        """The profile judge's client, None when the pipeline has no profile agent."""
        if self.config.get("judge") and "profile" in self.settings.agents:
            return self.client(self.config["judge"])
        return None

    def scorer(self) -> Scorer:
        rewards = SimpleNamespace(**self.config["rewards"])
        credit = SimpleNamespace(**self.config["credit"])
        return Scorer.from_recipe(rewards, credit, self.judge())

    # ------------------------------------------------------------------ joining
    async def sample(self, prompt: str, label: str, sampling_params: Any, max_length: int, tokenizer: Any,
                     engine: Any) -> tuple[int, Rolled]:
        """Join (or open) this prompt's group; wait for it; return (j, the rolled group)."""
        key = (prompt, label)
        group = self._open.get(key)
        if group is None or group.task.done():  # a finished group never takes late calls (n set too high)
            group = self._open[key] = _Open()
            loop = asyncio.get_running_loop()
            self.groups_started += 1
            group.task = loop.create_task(self._roll(label, sampling_params, max_length, tokenizer, engine, loop,
                                                     self.groups_started))
        j = group.joined
        group.joined += 1
        if group.joined == self.n:
            del self._open[key]  # full: the same prompt again (another epoch, a duplicate) is a new group
        return j, await asyncio.shield(group.task)

    # ------------------------------------------------------------------ one group
    async def _roll(self, label: str, sampling_params: Any, max_length: int, tokenizer: Any, engine: Any,
                    loop: asyncio.AbstractEventLoop, number: int) -> Rolled:
        example = example_from_label(label)
        policy = EngineLLM(engine, tokenizer, sampling_params, loop, min(max_length, int(self.config["max_len"])))
        seed = int(self.config.get("seed", 0)) * 1_000_003 + number * 101
        return await loop.run_in_executor(self.pool, self._roll_in_thread, example, policy, seed)

    def _roll_in_thread(self, example: Any, policy: EngineLLM, seed: int) -> Rolled:
        """Build, roll out and score one group in a worker thread (policy requests go back to the loop)."""
        llms = {a: policy if a in self.trained else self.frozen_llm(a) for a in self.settings.agents
                if a != "answer"}
        for agent in ("extraction", "profile", "retrieval"):
            llms.setdefault(agent, policy)  # an ablated agent is never called
        pipeline = Pipeline(llms, Resources(llms["retrieval"], _no_embedder, seed=seed), self.settings)
        group, = rollout(pipeline, [example], self.group, float(self.config["temperature"]), seed)
        self.scorer().score([group], [a for a in self.settings.agents if a != "answer"])
        return Rolled(group, policy.truncated_prompts)


def _no_embedder():
    raise RuntimeError("the openrlhf executor has no embedder (it ranks its one memory entry by recency)")
