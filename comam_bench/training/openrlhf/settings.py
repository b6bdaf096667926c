"""The `openrlhf:` section of a recipe, and every check a recipe must pass before anything starts.

    plan = plan_run(recipe)   # a RecipeError naming the key and what to do, or a checked Plan

What the backend reads from the rest of the recipe: model.base / model.agents (the policy is the base of
the agents this run trains), train.agents (the agents the one OpenRLHF policy plays and trains),
rollout.group (G) and rollout.temperature, train.epochs / batch_questions / lr / clip_eps / kl_coef,
rewards (alpha, beta, match threshold, judge), credit, pipeline (CoMAM's budgets) and data.
Standard library only: the CLI checks a recipe without importing torch or OpenRLHF.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from comam_bench.args import build
from comam_bench.comam.agents import AGENTS
from comam_bench.training.recipe import Recipe, RecipeError

# The one estimator of 0.11.2 that leaves our advantages as they are: it subtracts the group mean of the
# n = G x agents samples, which is already 0 (each agent's G advantages are centred). group_norm would
# divide by the std of all agents' advantages together; rloo, reinforce_baseline and gae change them too.
ESTIMATOR = "dr_grpo"
WHOLE_BATCHES = ("pad", "trim")


@dataclass
class OpenRLHFCfg:
    """Cluster shape and the few OpenRLHF settings that CoMAM's recipe does not already say."""

    address: str | None = None  # Ray dashboard (http://head:8265): submit there and follow; None = write only
    save_path: str | None = None  # --ckpt.output_dir, on storage the cluster and this machine share
    ckpt_path: str | None = None  # --ckpt.path (DeepSpeed checkpoints to resume from); default <save_path>-ckpt
    python: str = "python3"  # the interpreter on the cluster
    n_samples_per_prompt: int | None = None  # if given, must be G x len(train.agents); derived otherwise
    estimator: str = ESTIMATOR
    num_nodes: int = 1
    gpus_per_node: int = 8
    vllm_engines: int = 8
    vllm_tensor_parallel: int = 1
    vllm_gpu_memory_utilization: float = 0.5
    colocate_all: bool = True  # actor, reference and vLLM share the GPUs (sleep modes on)
    zero_stage: int = 3
    micro_batch: int = 1  # --train.micro_batch_size (sequences per GPU per forward/backward)
    rollout_micro_batch: int = 2  # --rollout.micro_batch_size (log-prob passes)
    max_len: int | None = None  # --data.max_len (prompt + completion); default model.window
    ship_package: bool = True  # upload this comam_bench package to the job (runtime_env py_modules)
    frozen: dict[str, str] = field(default_factory=dict)  # agent -> openai: spec of an agent this run does not train
    trained_models: dict[str, str] = field(default_factory=dict)  # agent -> folder an earlier job saved (checkpoint)
    extra_flags: list[str] = field(default_factory=list)  # appended verbatim (checked against the parser in tests)
    # Training rows to whole rollout batches (a last, smaller batch would leave DeepSpeed's gradient
    # accumulation pending into the next step): pad (repeat rows from the start) | trim (drop the tail).
    whole_batches: str = "pad"
    # Requests in flight per frozen-agent / judge endpoint from one rollout engine's executor. None: sized to
    # the engine, train.batch_questions x rollout.group / vllm_engines (one request per trajectory of every
    # group the engine runs at once: 128 x 8 / 8 = 128 in the paper's setting).
    endpoint_concurrency: int | None = None


@dataclass
class Plan:
    """A checked run: the recipe, its OpenRLHF settings, and what follows from them."""

    recipe: Recipe
    cfg: OpenRLHFCfg
    policy_model: str  # a path or hub id OpenRLHF loads (no "hf:" prefix)
    trained: list[str]  # agents the policy plays, in pipeline order
    frozen: dict[str, str]  # agent -> model spec, for the pipeline's other agents
    group: int  # G
    n: int  # samples per prompt = G x len(trained)
    max_len: int

    @property
    def endpoint_concurrency(self) -> int:
        """Concurrent requests per frozen/judge endpoint from one executor (one per rollout engine)."""
        if self.cfg.endpoint_concurrency is not None:
            return self.cfg.endpoint_concurrency
        return max(1, -(-self.recipe.train.batch_questions * self.group // self.cfg.vllm_engines))

    def executor_config(self) -> dict[str, Any]:
        """What the agent executor on the cluster reads (comam_openrlhf.json): no secrets, plain JSON."""
        r = self.recipe
        return {"group": self.group, "trained": self.trained, "frozen": self.frozen, "judge": r.rewards.judge,
                "pipeline": dict(r.pipeline), "temperature": r.rollout.temperature, "seed": r.seed,
                "max_len": self.max_len, "endpoint_concurrency": self.endpoint_concurrency,
                "rewards": dataclasses.asdict(r.rewards),
                "credit": dataclasses.asdict(r.credit)}


def _model_path(spec: str, where: str) -> str:
    """A local folder or hub id OpenRLHF can load, from a model spec (hf:PATH or a bare path/id)."""
    spec = (spec or "").strip()
    target = spec[3:] if spec.startswith("hf:") else spec
    if not target or target in ("tiny-random", "smollm2", "default") or ":" in target.split(",")[0]:
        raise RecipeError(f"{where}: OpenRLHF needs a Hugging Face model folder or hub id for the policy "
                          f"(e.g. model.base=hf:/models/Qwen2.5-3B-Instruct), got {spec!r}")
    return target.split(",")[0]


def _endpoint(spec: str, where: str, why: str) -> str:
    if not (isinstance(spec, str) and spec.startswith("openai:") and "base_url=" in spec):
        raise RecipeError(f"{where}: {why}; give an OpenAI-compatible endpoint such as "
                          f"openai:Qwen/Qwen2.5-3B-Instruct,base_url=http://judge-host:8000/v1 "
                          f"(serve it with `vllm serve MODEL`), got {spec!r}")
    return spec


def plan_run(recipe: Recipe) -> Plan:
    """Check everything the backend needs and derive the run; raises RecipeError before anything starts."""
    where = f"recipe {recipe.name}"
    cfg: OpenRLHFCfg = build(OpenRLHFCfg, recipe.openrlhf, f"{where}: openrlhf", RecipeError)
    pipeline_agents = _pipeline_agents(recipe)
    trained = [a for a in AGENTS if a in recipe.train.agents and a in pipeline_agents]
    if not trained:
        raise RecipeError(f"{where}: train.agents {recipe.train.agents} names no agent of the pipeline")
    if recipe.train.mode != "joint":
        raise RecipeError(f"{where}: backend openrlhf runs one policy per job; train.mode=independent is one job "
                          f"per agent: set train.mode=joint and train.agents=[<agent>] for each job")
    bases = {a: recipe.model.agents.get(a, recipe.model.base) for a in trained}
    if len(set(bases.values())) > 1:
        raise RecipeError(f"{where}: OpenRLHF 0.11.2 trains one policy per job, but train.agents {trained} "
                          f"have different bases {bases}; train them in separate jobs (train.agents=[...]), "
                          f"the others served frozen through openrlhf.frozen")
    policy = _model_path(bases[trained[0]], f"{where}: model")
    frozen = {}
    for agent in pipeline_agents:
        if agent not in trained:
            spec = cfg.frozen.get(agent)
            if not spec:
                raise RecipeError(f"{where}: the {agent} agent is not trained in this job, so it needs a frozen "
                                  f"model: set openrlhf.frozen.{agent}=openai:MODEL,base_url=http://host:8000/v1")
            frozen[agent] = _endpoint(spec, f"{where}: openrlhf.frozen.{agent}", "a frozen agent is served apart")
    if "profile" in pipeline_agents and "profile" not in recipe.rewards.functions:
        _endpoint(recipe.rewards.judge, f"{where}: rewards.judge",
                  "the profile judge must be a separate frozen model (the policy cannot judge itself)")
    for agent in cfg.trained_models:
        if agent not in AGENTS or agent in trained:
            raise RecipeError(f"{where}: openrlhf.trained_models.{agent}: name an agent of {AGENTS} that this job "
                              f"does not train (its folder from an earlier job goes into the checkpoint)")
    group = recipe.rollout.group
    n = group * len(trained)
    if cfg.n_samples_per_prompt is not None and cfg.n_samples_per_prompt != n:
        raise RecipeError(f"{where}: openrlhf.n_samples_per_prompt={cfg.n_samples_per_prompt} does not match "
                          f"rollout.group x trained agents = {group} x {len(trained)} = {n} (sample j is agent "
                          f"j // G on trajectory j mod G); drop it or set it to {n}")
    if cfg.estimator != ESTIMATOR:
        raise RecipeError(f"{where}: openrlhf.estimator must be {ESTIMATOR!r} (it leaves CoMAM's credit-assigned "
                          f"advantages unchanged); {cfg.estimator!r} would rescale or re-centre them")
    max_len = cfg.max_len or recipe.model.window
    if not max_len:
        raise RecipeError(f"{where}: set model.window (or openrlhf.max_len): OpenRLHF's --data.max_len")
    for key in ("num_nodes", "gpus_per_node", "vllm_engines", "vllm_tensor_parallel", "micro_batch",
                "rollout_micro_batch"):
        if getattr(cfg, key) < 1:
            raise RecipeError(f"{where}: openrlhf.{key} must be at least 1")
    if cfg.endpoint_concurrency is not None and cfg.endpoint_concurrency < 1:
        raise RecipeError(f"{where}: openrlhf.endpoint_concurrency must be at least 1 (or null: sized to the engine)")
    if cfg.whole_batches not in WHOLE_BATCHES:
        raise RecipeError(f"{where}: openrlhf.whole_batches must be one of {WHOLE_BATCHES}, got {cfg.whole_batches!r}")
    gpus = cfg.num_nodes * cfg.gpus_per_node
    if cfg.colocate_all and cfg.vllm_engines * cfg.vllm_tensor_parallel != gpus:
        raise RecipeError(f"{where}: with openrlhf.colocate_all, vllm_engines x vllm_tensor_parallel "
                          f"({cfg.vllm_engines} x {cfg.vllm_tensor_parallel}) must equal the actor GPUs ({gpus})")
    samples = recipe.train.batch_questions * n  # one optimizer step per rollout batch (on-policy, as local)
    if samples % (cfg.micro_batch * gpus):
        raise RecipeError(f"{where}: train.batch_questions x n = {recipe.train.batch_questions} x {n} = {samples} "
                          f"samples per step must divide by openrlhf.micro_batch x GPUs = {cfg.micro_batch} x {gpus}")
    return Plan(recipe, cfg, policy, trained, frozen, group, n, int(max_len))


def whole_batches(rows: list, plan: Plan, where: str = "") -> tuple[list, int]:
    """The training rows as whole rollout batches (openrlhf.whole_batches), and how many were added (> 0) or
    dropped (< 0); refuses data smaller than one batch."""
    batch, mode = plan.recipe.train.batch_questions, plan.cfg.whole_batches
    if len(rows) < batch:
        raise RecipeError(f"{where or 'recipe ' + plan.recipe.name}: {len(rows)} training questions are fewer "
                          f"than one rollout batch (train.batch_questions={batch}): lower train.batch_questions "
                          f"to at most {len(rows)} or use a larger task")
    tail = len(rows) % batch
    if not tail:
        return list(rows), 0
    if mode == "trim":
        return list(rows[:len(rows) - tail]), -tail
    pad = batch - tail
    return list(rows) + [rows[i % len(rows)] for i in range(pad)], pad


def _pipeline_agents(recipe: Recipe) -> tuple[str, ...]:
    """The agents one trajectory runs, from the recipe's CoMAM arguments (ablations drop some)."""
    from comam_bench.comam.config import CoMAMArgs

    try:
        settings = CoMAMArgs.from_mapping(recipe.pipeline).settings()
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"recipe {recipe.name}: pipeline: {exc}") from None
    if not settings.use_retrieval:
        raise RecipeError(f"recipe {recipe.name}: training needs the retrieval agent (no retrieval reward without it)")
    return settings.agents
