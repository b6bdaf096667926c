"""CoMAM's arguments: one flat dataclass, so `--system-arg KEY=VALUE`, YAML specs in baselines/ and
checkpoints all set the same names, and an unknown name fails loudly with the list of known ones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from comam_bench.args import build
from comam_bench.comam.agents import AGENTS, RETRIEVAL_FORMATS, Settings
from comam_bench.comam.memory import RANKINGS


@dataclass
class CoMAMArgs:
    """Everything CoMAM can be told. Model specs default to None = the run's --model."""

    # ---- models: one per agent, or one shared policy
    policy_model: str | None = None  # the base for every agent that names none (a checkpoint sets it)
    extraction_model: str | None = None
    profile_model: str | None = None
    retrieval_model: str | None = None
    extraction_adapter: str | None = None  # peft LoRA directories
    profile_adapter: str | None = None
    retrieval_adapter: str | None = None
    shared_policy: bool = False  # one policy (policy_model + policy_adapter) plays all three agents
    policy_adapter: str | None = None
    # ---- pipeline (comam.md Table 2 ablations)
    use_extraction: bool = True
    use_profile: bool = True
    use_retrieval: bool = True
    profile_open_session: bool = True  # the unfinished session also updates the profile at answer time
    ranking: str = "bm25"  # how M_f entries compete for the retrieval budget: bm25 | dense | recency
    memory_tokens: int = 2048  # budget for M in the retrieval prompt (capped by the window)
    extraction_tokens: int = 256  # max new tokens per agent (the embedded CPU model makes ~18 tokens/s)
    profile_tokens: int = 256
    retrieval_tokens: int = 192
    answer_tokens: int = 64
    temperature: float = 0.0  # the paper samples at 0.8 for evaluation; greedy by default here
    retrieval_format: str = "paper"  # paper | structured (comam.agents.Settings)

    @classmethod
    def from_mapping(cls, args: Mapping[str, Any]) -> "CoMAMArgs":
        """Build from keyword arguments; unknown names get suggestions, values are coerced and checked."""
        out = build(cls, args, "comam")
        out.check()
        return out

    def check(self) -> None:
        """Reject combinations that cannot mean what they say."""
        if self.ranking not in RANKINGS:
            raise ValueError(f"comam: ranking must be one of {RANKINGS}, got {self.ranking!r}")
        if self.retrieval_format not in RETRIEVAL_FORMATS:
            raise ValueError(f"comam: retrieval_format must be one of {RETRIEVAL_FORMATS}, got {self.retrieval_format!r}")
        for name in ("memory_tokens", "extraction_tokens", "profile_tokens", "retrieval_tokens", "answer_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"comam: {name} must be positive, got {getattr(self, name)}")
        per_agent = [f"{a}_{kind}" for a in AGENTS for kind in ("model", "adapter") if getattr(self, f"{a}_{kind}")]
        if self.shared_policy and per_agent:
            raise ValueError(f"comam: shared_policy plays every agent with policy_model/policy_adapter; "
                             f"drop {', '.join(per_agent)}")
        if self.policy_adapter and not self.shared_policy:
            raise ValueError("comam: policy_adapter is the adapter of a shared policy; set shared_policy=true "
                             "or give each agent its own <agent>_adapter")

    def agent_models(self) -> dict[str, str | None]:
        """agent -> model spec (None = the run's model)."""
        return {a: getattr(self, f"{a}_model") or self.policy_model for a in AGENTS}

    def agent_adapters(self) -> dict[str, str | None]:
        """agent -> adapter directory (None = the base model as is)."""
        if self.shared_policy:
            return {a: self.policy_adapter for a in AGENTS}
        return {a: getattr(self, f"{a}_adapter") for a in AGENTS}

    def settings(self) -> Settings:
        names = {f.name for f in fields(Settings)}
        return Settings(**{k: v for k, v in asdict(self).items() if k in names})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
