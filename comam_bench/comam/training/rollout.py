"""Rollouts and their scoring: G trajectories per (H, q) through CoMAM's MDP, local and global rewards,
credit assignment and advantages. No torch here: the policies are LLMs behind the Pipeline, and every step
carries the token ids its backend returned with the generation (the hf backend always does).

MDP (comam.md): s0 = H -> extraction samples M_f -> s1 -> profile samples M_c -> s2 = (M, q) -> retrieval
samples E'_q and the answer -> s3. The first agent samples G times from s0; every later agent once from each
trajectory's own state, so each trajectory is one full pass and every agent's policy is scored on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from comam_bench.api import LLM
from comam_bench.comam.agents import Pipeline
from comam_bench.comam.states import Trajectory
from comam_bench.comam.training import rewards as R
from comam_bench.comam.training.answer import answer_distributions, answer_rewards, rewards_from
from comam_bench.comam.training.judge import expected_profile_scores, judge_profiles
from comam_bench.comam.training.preferences import preference_score
from comam_bench.registry import load_object
from comam_bench.training.credit import Credit, assign_credit, group_advantages
from comam_bench.training.data import Example

RewardFn = Callable[..., float]


@dataclass
class Group:
    """One (H, q) with its G trajectories, rewards, credit and advantages."""

    example: Example
    trajectories: list[Trajectory]
    local: dict[str, list[float]] = field(default_factory=dict)  # agent -> G local rewards
    answer: list[float] = field(default_factory=list)  # G global rewards
    credit: Credit | None = None
    advantages: dict[str, list[float]] = field(default_factory=dict)
    distributions: list[list[float]] | None = None  # the options' distribution per trajectory (likelihood rules)


# --------------------------------------------------------------------------- rollouts
def rollout(pipeline: Pipeline, examples: Sequence[Example], group: int, temperature: float, seed: int,
            ) -> list[Group]:
    """G trajectories for every example, one batched generate call per agent for the whole batch."""
    states = [pipeline.first_state(ex.history, ex.question) for ex in examples]
    return [Group(ex, ts) for ex, ts in zip(examples, pipeline.rollout(states, group, temperature, seed))]


# --------------------------------------------------------------------------- rewards
@dataclass
class Scorer:
    """Local rewards (Eqs. 9-11), the global reward (Eq. 12), credit (Eqs. 13-15) and advantages.

    The judge (a frozen model) scores profiles and, under answer rule "likelihood", the options."""

    judge: LLM | None
    alpha: float = 0.8
    beta: float = 0.2
    threshold: float = 0.5
    judge_tokens: int = 32
    overlap: str = "graded"  # rewards.overlap: graded | threshold (rewards.py)
    judge_score: str = "expected"  # rewards.judge_score: expected | generated (judge.py)
    answer: str = "letter"  # rewards.answer: letter | likelihood | probability (answer.py)
    profile: str = "judge"  # rewards.profile: judge | preferences (preferences.py)
    credit_mode: str = "adaptive"
    credit_form: str = "eq15"
    credit_temperature: float = 1.0
    fixed: Mapping[str, float] | float | None = None
    functions: Mapping[str, RewardFn] = field(default_factory=dict)  # agent -> replacement local reward
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_recipe(cls, rewards: Any, credit: Any, judge: LLM | None) -> "Scorer":
        fixed = dict(credit.weights) if credit.weights else credit.weight
        functions = {a: load_object(target) for a, target in rewards.functions.items()}
        return cls(judge, rewards.alpha, rewards.beta, rewards.match_threshold, rewards.judge_tokens,
                   rewards.overlap, rewards.judge_score, rewards.answer, rewards.profile,
                   credit.mode, credit.form, credit.temperature, fixed, functions)

    def score(self, groups: Sequence[Group], agents: Sequence[str]) -> None:
        """Fill rewards, credit and advantages of every group in place (one judge call for the batch)."""
        profiles = self._profile_rewards(groups) if "profile" in agents else None
        for gi, g in enumerate(groups):
            q = g.example.question
            if self.answer == "letter":
                g.answer = answer_rewards(self.answer, g.trajectories, q, self.judge)
            else:  # kept: validation reads both protocols from one scoring
                g.distributions = answer_distributions(self.answer, g.trajectories, q, self.judge)
                g.answer = rewards_from(self.answer, q, g.distributions)
            for agent in agents:
                if agent == "profile" and "profile" not in self.functions:
                    g.local[agent] = profiles[gi]
                else:
                    g.local[agent] = [self.local(agent, t, g.example) for t in g.trajectories]
            g.credit = assign_credit(g.local, g.answer, self.credit_mode, self.credit_form,
                                     self.credit_temperature, self.fixed)
            g.advantages = {a: group_advantages(r) for a, r in g.credit.final.items()}

    def local(self, agent: str, trajectory: Trajectory, example: Example) -> float:
        """The local reward of one agent's step (a replacement function gets keywords, TRL style)."""
        step = trajectory.step(agent)
        if agent in self.functions:
            return float(self.functions[agent](agent=agent, step=step, text=step.text, output=step.output,
                                               example=example, trajectory=trajectory))
        if agent == "extraction":  # M_f as it entered memory (empty stays empty: reward 0)
            return R.extraction_reward(step.output, example.evidence, self.alpha, self.threshold, self.overlap)
        if agent == "retrieval":
            return R.retrieval_reward(step.next_state.information, example.evidence, self.beta, self.threshold,
                                      self.overlap)
        raise ValueError(f"no local reward for agent {agent!r}")

    def _profile_rewards(self, groups: Sequence[Group]) -> list[list[float]] | None:
        """V(M_c, H) from the judge for every trajectory of the batch, in one call."""
        if "profile" in self.functions:
            return None
        if self.profile == "preferences":
            return [[preference_score(t.step("profile").output, g.example.preferences) for t in g.trajectories]
                    for g in groups]
        if self.judge is None:
            raise ValueError("the profile reward needs a judge LLM")
        pairs = [(g.example.history, t.step("profile").output) for g in groups for t in g.trajectories]
        histories, profiles = [h for h, _ in pairs], [p for _, p in pairs]
        if self.judge_score == "expected":
            scores = expected_profile_scores(self.judge, histories, profiles)
        else:
            scores, _, unparsed = judge_profiles(self.judge, histories, profiles, self.judge_tokens)
            self.counts["judge_unparsed"] = self.counts.get("judge_unparsed", 0) + unparsed
        self.counts["judge_calls"] = self.counts.get("judge_calls", 0) + sum(bool(p.strip()) for _, p in pairs)
        it = iter(scores)
        return [[next(it) for _ in g.trajectories] for g in groups]


def summarize(groups: Sequence[Group]) -> dict[str, float]:
    """Batch means for the metrics log: local and global rewards, NDCG, weights, advantage statistics."""
    out: dict[str, float] = {}
    if not groups:
        return out

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    out["reward/answer"] = mean([r for g in groups for r in g.answer])
    for agent in groups[0].local:
        out[f"reward/{agent}"] = mean([r for g in groups for r in g.local[agent]])
        out[f"weight/{agent}"] = mean([g.credit.weights[agent] for g in groups])
        defined = [g.credit.ndcg[agent] for g in groups if g.credit.ndcg[agent] is not None]
        out[f"ndcg/{agent}"] = mean(defined)
        adv = [a for g in groups for a in g.advantages[agent]]
        out[f"adv/{agent}/mean_abs"] = mean([abs(a) for a in adv])
        out[f"adv/{agent}/zero_frac"] = mean([float(a == 0.0) for a in adv])
    out["groups/ndcg_undefined_frac"] = mean([float(all(v is None for v in g.credit.ndcg.values())) for g in groups])
    return out
