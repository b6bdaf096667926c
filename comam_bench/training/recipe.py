"""Training recipes: YAML files in trainers/ (data, not code) read into typed, checked sections.

    recipe = load_recipe("smoke", sets=["train.max_steps=2", "credit.mode=equal"])

A recipe names its backend (`backend: local`); every other key belongs to a section below. `include:
OTHER.yaml` merges another recipe underneath, section by section (the ablation recipes include
cpu-smollm2.yaml). `--set a.b=c` overrides a nested key, the value read as YAML ("3" -> 3, "[1, 2]" -> a
list, "null" -> None). An unknown key fails with suggestions, so a typo never silently trains with a
default. `sweep:` maps dotted keys to lists of values and expands into one recipe per combination (the
fixed-weight sweep of the paper's Fig. 5).

Modes (train.mode x train.policy): joint x separate is CoMAM; independent x separate trains one agent per
phase with the others frozen; joint x shared is the single-policy ablation; independent x shared trains the
one shared adapter on one agent's decisions per phase (the other roles, played by the same weights, cannot
stay frozen).
Only the standard library and yaml are imported here: the CLI reads recipes before any torch import.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from comam_bench.args import ArgumentError, build
from comam_bench.registry import read_spec, spec_dir, suggest

MODES = ("joint", "independent")
POLICIES = ("separate", "shared")
CREDIT_MODES = ("adaptive", "equal", "fixed", "local", "global")
CREDIT_FORMS = ("eq15", "algorithm1")
EVIDENCE_SOURCES = ("auto", "gold", "located")
PROFILE_RULES = ("judge", "preferences")


class RecipeError(ArgumentError):
    """A recipe that cannot be read or does not check; the message says which key and why."""


@dataclass
class ModelCfg:
    base: str = "smollm2"  # a model spec, or "tiny-random" (a random Llama built and saved by the trainer)
    agents: dict[str, str] = field(default_factory=dict)  # per-agent base where it differs (paper: 7B retrieval)
    window: int | None = None  # context window override (tokens)
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    # The embedder spec (as `comam-bench run --embedder`) for dense memory ranking, in rollouts, validation
    # and the final evaluation; "minilm" (the embedded all-MiniLM-L6-v2) is today's harness default, written
    # out here so a change of that default cannot silently change a recipe.
    embedder: str = "minilm"


@dataclass
class LoraCfg:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0  # 0 keeps the sampling policy and the trained policy identical (ratio exactly 1)
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    # Adapt only the top N decoder layers (None = all). Backpropagation then stops below them: on CPU the
    # update costs the forward pass plus N layers' backward, not every layer's (peft layers_to_transform).
    top_layers: int | None = None


@dataclass
class DataCfg:
    task: str = "personamem-mini"
    data_dir: str | None = None
    evidence: str = "auto"  # gold (synthetic) | located (from distance_to_ref_in_tokens) | auto
    train: int | None = None  # questions; None = all but the validation part
    validation: int | None = None  # questions; None = validation_fraction of them
    validation_fraction: float = 0.2
    split_unit: str = "question"  # question | session (no validation session is a training input)
    split_seed: int | None = None  # None = the recipe's seed; fixed, every seed validates on the same questions
    max_history_tokens: int | None = None  # drop examples whose session is longer (approximate tokens)


@dataclass
class RolloutCfg:
    group: int = 8  # G trajectories per (H, q)
    temperature: float = 1.0


@dataclass
class TrainCfg:
    mode: str = "joint"  # joint (CoMAM) | independent (one agent at a time, the others frozen)
    policy: str = "separate"  # separate: one LoRA per agent | shared: one LoRA plays every agent
    agents: list[str] = field(default_factory=lambda: ["extraction", "profile", "retrieval"])  # trained ones
    epochs: int = 5
    max_steps: int | None = None  # per phase; None = epochs over the training questions
    batch_questions: int = 8  # (H, q) groups per optimizer step
    micro_batch: int = 4  # sequences per forward/backward (gradient accumulation over the rest)
    lr: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    updates_per_batch: int = 1  # gradient steps on one batch of rollouts (GRPO's mu)
    clip_eps: float = 0.2
    clip_eps_high: float | None = None  # None = clip_eps (symmetric)
    kl_coef: float = 0.0  # k3 KL to the base model (adapters disabled)
    # sequence (GRPO's usual): mean over each sequence's tokens, then over sequences | token: sum over all
    # completion tokens / their number (longer samples weigh more)
    loss_agg: str = "sequence"
    save_every: int = 0  # steps between checkpoints (0 = only at the end)
    # Samples of one prompt (a group's G extractions) run that prompt once in the update, not G times:
    # the same log-probabilities up to float rounding (benchmarks/rollout_throughput.py measures both).
    share_prompt: bool = False
    # The update runs only the LoRA-adapted top layers, on the hidden states the rollout computed below them
    # (training/boundary.py): the same log-probabilities and gradients up to float rounding, for
    # lora.top_layers' share of the forward cost. Off by default: rounding may move later samples.
    reuse_rollout_states: bool = False
    # Training rollouts skip structured retrieval's letter (four continuations scored after the evidence: one
    # more prompt pass per sample) when rewards.answer does not read it (probability and likelihood score the
    # options after the evidence with the frozen judge). Samples, rewards and updates stay the same; only
    # the training replies' text has no letter. Validation always chooses it. Off by default, as the
    # flagship's committed runs had it.
    skip_unread_letter: bool = False
    # Supervised steps teaching the retrieval agent the reply format on training-split gold evidence, before
    # RL (training/warm_start.py); no answer letter is ever a target. 0 = none.
    warm_start_steps: int = 0
    warm_start_batch: int = 4
    warm_start_lr: float | None = None  # None = train.lr


@dataclass
class RewardCfg:
    alpha: float = 0.8  # Eq. 9: weight of coverage in the extraction reward
    beta: float = 0.2  # Eq. 11: weight of coverage in the retrieval reward
    overlap: str = "graded"  # Eqs. 9/11 |M∩E|: graded (best one-to-one sum of F1) | threshold (count F1 >= t)
    match_threshold: float = 0.5  # threshold rule: token-set F1 at which a unit matches an evidence utterance
    profile: str = "judge"  # Eq. 10: judge (the LLM judge's score) | preferences (synthetic truth, preferences.py)
    judge: str = "base"  # "base" = the policy base with adapters off, or any model spec
    judge_score: str = "expected"  # Eq. 10: expected (mean over the judge's score distribution) | generated
    judge_tokens: int = 32  # judge_score=generated: tokens of the judge's reply
    answer: str = "letter"  # Eq. 12: letter (the reply names the gold option) | likelihood (the protocol's choice)
    functions: dict[str, str] = field(default_factory=dict)  # agent -> "module:function" replacing a local reward


@dataclass
class CreditCfg:
    mode: str = "adaptive"  # adaptive (CoMAM) | equal | fixed | local | global
    form: str = "eq15"  # eq15: r_n + w_n r_ans | algorithm1: r_ans + w_n r_n
    temperature: float = 1.0  # softmax temperature over the agents' NDCG
    weight: float | None = None  # fixed mode: the one weight of every agent
    weights: dict[str, float] = field(default_factory=dict)  # fixed mode: per-agent weights


@dataclass
class EvalCfg:
    every: int = 0  # steps between validation runs (0 = only at the end)
    at_start: bool = False  # also validate before the first step (the untrained policy: "before" numbers)
    validation_limit: int | None = None  # validation questions used (None = all)
    temperature: float = 0.0
    batch: int = 8  # validation questions rolled out together (one trajectory each)
    final: bool = True  # evaluate the final checkpoint with the harness runner
    final_task: str | None = None  # default: data.task
    final_limit: int | None = None
    final_protocol: str | None = None  # discriminative | likelihood (None: the final task's own)
    final_batch_size: int = 4
    results_dir: str | None = None  # default: the runner's, the project's my-results/ (git-ignored)


@dataclass
class Recipe:
    name: str = "recipe"
    description: str = ""
    backend: str = "local"
    system: str = "comam"  # the memory system whose policies are trained (a trainable one the backend knows)
    seed: int = 0
    output_dir: str | None = None  # default: my-results/training/<name> (git-ignored scratch)
    resume: str | None = None  # a checkpoint directory written by this trainer
    model: ModelCfg = field(default_factory=ModelCfg)
    lora: LoraCfg = field(default_factory=LoraCfg)
    data: DataCfg = field(default_factory=DataCfg)
    pipeline: dict[str, Any] = field(default_factory=dict)  # CoMAM system arguments (budgets, ablation flags)
    rollout: RolloutCfg = field(default_factory=RolloutCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    rewards: RewardCfg = field(default_factory=RewardCfg)
    credit: CreditCfg = field(default_factory=CreditCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    sweep: dict[str, list] = field(default_factory=dict)
    openrlhf: dict[str, Any] = field(default_factory=dict)  # backend: openrlhf only (training/openrlhf/settings.py)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def out_dir(self) -> Path:
        from comam_bench.results import default_results_dir

        return Path(self.output_dir) if self.output_dir else default_results_dir() / "training" / self.name


# --------------------------------------------------------------------------- reading
def recipe_names() -> list[str]:
    folder = spec_dir("trainers")
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def recipe_path(name: str) -> Path:
    """trainers/NAME.yaml, or a path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    path = spec_dir("trainers") / f"{name}.yaml"
    if not path.exists():
        raise RecipeError(f"Unknown training recipe {name!r}." + suggest(name, recipe_names()))
    return path


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """data["a"]["b"] = value for key "a.b", creating dicts on the way."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part, {}), dict):
            raise RecipeError(f"--set {key}: {part!r} is not a section")
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def parse_sets(sets: list[str] | tuple[str, ...]) -> list[tuple[str, Any]]:
    """["a.b=3", ...] -> [("a.b", 3), ...], values read as YAML."""
    out = []
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise RecipeError(f"--set {item!r} is not KEY=VALUE (for example --set train.lr=1e-5)")
        out.append((key.strip(), yaml.safe_load(value) if value.strip() else None))
    return out


def load_recipe(name: str, sets: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read trainers/NAME.yaml (or a path), apply --set overrides, check every key and value."""
    path = recipe_path(name)
    data = read_spec(path, RecipeError)
    data["name"] = data.get("name") or path.stem
    for key, value in parse_sets(sets):
        set_dotted(data, key, value)
    return recipe_from_dict(data, where=str(path))


def recipe_from_dict(data: dict[str, Any], where: str = "recipe") -> Recipe:
    recipe = build(Recipe, data, where, RecipeError)
    check(recipe, where)
    return recipe


def _one_of(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise RecipeError(f"{where} must be one of {', '.join(allowed)}, got {value!r}")


def check(r: Recipe, where: str = "recipe") -> None:
    """Values that cannot mean what they say."""
    from comam_bench.comam.agents import AGENTS  # light: no torch
    from comam_bench.comam.training.answer import ANSWER_RULES  # the rule names where the rules live (no torch)
    from comam_bench.comam.training.judge import JUDGE_SCORES
    from comam_bench.comam.training.rewards import OVERLAP_RULES

    _one_of(r.train.mode, MODES, f"{where}: train.mode")
    _one_of(r.train.policy, POLICIES, f"{where}: train.policy")
    _one_of(r.credit.mode, CREDIT_MODES, f"{where}: credit.mode")
    _one_of(r.credit.form, CREDIT_FORMS, f"{where}: credit.form")
    _one_of(r.data.evidence, EVIDENCE_SOURCES, f"{where}: data.evidence")
    _one_of(r.data.split_unit, ("question", "session"), f"{where}: data.split_unit")
    _one_of(r.train.loss_agg, ("token", "sequence"), f"{where}: train.loss_agg")
    _one_of(r.rewards.overlap, OVERLAP_RULES, f"{where}: rewards.overlap")
    _one_of(r.rewards.judge_score, JUDGE_SCORES, f"{where}: rewards.judge_score")
    _one_of(r.rewards.answer, ANSWER_RULES, f"{where}: rewards.answer")
    _one_of(r.rewards.profile, PROFILE_RULES, f"{where}: rewards.profile")
    for agent in [*r.train.agents, *r.model.agents, *r.rewards.functions, *r.credit.weights]:
        _one_of(agent, AGENTS, f"{where}: agent name")
    if r.rollout.group < 2:
        raise RecipeError(f"{where}: rollout.group must be at least 2 (GRPO normalises within a group)")
    if r.credit.mode == "fixed" and r.credit.weight is None and not r.credit.weights:
        raise RecipeError(f"{where}: credit.mode=fixed needs credit.weight (one for all) or credit.weights")
    for key in ("train.batch_questions", "train.micro_batch", "eval.batch", "eval.final_batch_size"):
        section, name = key.split(".")
        if getattr(getattr(r, section), name) < 1:
            raise RecipeError(f"{where}: {key} must be at least 1")
    if not 0 < r.data.validation_fraction < 1:
        raise RecipeError(f"{where}: data.validation_fraction must be in (0, 1)")
    for key in r.sweep:
        if not isinstance(r.sweep[key], list) or not r.sweep[key]:
            raise RecipeError(f"{where}: sweep.{key} must be a non-empty list of values")


def expand_sweep(recipe: Recipe) -> list[Recipe]:
    """One recipe per combination of sweep values (a cross product), each with its own name and folder."""
    if not recipe.sweep:
        return [recipe]
    out = [recipe.as_dict()]
    for key, values in recipe.sweep.items():
        grown = []
        for base in out:
            for value in values:
                item = copy.deepcopy(base)
                set_dotted(item, key, value)
                item["name"] = f"{item['name']}--{key.split('.')[-1]}={value}"
                if item.get("output_dir"):
                    item["output_dir"] = str(Path(base["output_dir"]) / f"{key.split('.')[-1]}={value}")
                grown.append(item)
        out = grown
    for item in out:
        item["sweep"] = {}
    return [recipe_from_dict(item, f"{recipe.name} (sweep)") for item in out]
