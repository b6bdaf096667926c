"""The local torch backend: CoMAM joint RL (or its ablations) on one machine, LoRA adapters on a shared base.

One step, for a batch of training questions (H = the evidence session, Appendix B.1):
  1. rollout    G trajectories per question through extraction -> profile -> retrieval (temperature 1.0)
  2. score      local rewards (Eqs. 9-11, the judge for the profile), global reward (Eq. 12, the scorer)
  3. credit     per group: NDCG of each agent's ranking, softmax weights, final rewards (Eqs. 13-15)
  4. update     per agent: group-normalised advantages, clipped ratio loss (+ k3 KL), one optimizer step
Modes: joint trains every agent on the same trajectories; independent trains one agent per phase with the
others frozen (comam.md "independent RL"). Every step appends a row to metrics.jsonl; validation runs every
`eval.every` steps; checkpoints go to checkpoints/step-N and checkpoint/; the final checkpoint is evaluated
by the harness runner.
"""
from __future__ import annotations

import gc
import math
import random
import time
from pathlib import Path
from typing import Any

import torch

from comam_bench.comam.agents import AGENTS, Pipeline
from comam_bench.comam.checkpoint import Checkpoint
from comam_bench.comam.training.pipeline import training_pipeline, vocabulary_texts
from comam_bench.comam.training.rollout import Group, Scorer, rollout, summarize
from comam_bench.comam.training.validation import validate
from comam_bench.training import policies as P
from comam_bench.training.base import Trainer, TrainResult
from comam_bench.training.data import Example, load_split
from comam_bench.training.evaluate import final_evaluation
from comam_bench.training.metrics import MetricsLog, plot_curves
from comam_bench.training.recipe import Recipe, RecipeError
from comam_bench.training.update import AgentBatch, Item, grpo_step

VALIDATION_FILE = "validation_questions.jsonl"  # one row per held-out question per validation (for paired tests)


class LocalTrainer(Trainer):
    """CoMAM RL with torch + peft on this machine (CPU or one GPU)."""

    name = "local"
    systems = ("comam",)  # it drives CoMAM's Pipeline and rewards (comam_bench.comam.training)
    description = "CoMAM joint RL: per-agent LoRA on a shared base, NDCG credit, per-agent GRPO (torch, one device)"

    # ------------------------------------------------------------------ set-up
    def prepare(self, recipe: Recipe, adapters: Checkpoint | None = None) -> dict[str, Any]:
        """The data split, policies (fresh adapters, or `adapters`' own), pipeline and scorer of `recipe`,
        without training: what train() starts from, and what a benchmark rolls out an untrained or a
        finished checkpoint's policies with. Returns the data's description."""
        self.r = recipe
        self.out = recipe.out_dir()
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(recipe.seed)
        self.train_set, self.val_set, data_info = self.load_data()
        self.policies = P.build_policies(recipe, self.out, self.vocabulary_texts(), adapters)
        self.pipeline = self.make_pipeline()
        self.scorer = Scorer.from_recipe(recipe.rewards, recipe.credit, self.policies.judge)
        return data_info

    def train(self, recipe: Recipe) -> TrainResult:
        resume, self.state = P.load_resume(recipe.resume)
        data_info = self.prepare(recipe, resume)
        P.load_optimizers(self.policies, recipe.resume)
        self.log = MetricsLog(self.out / "metrics.jsonl", fresh=not recipe.resume)
        MetricsLog(self.out / VALIDATION_FILE, fresh=not recipe.resume)
        self.start_params = P.adapter_snapshot(self.policies)
        phases = self.phases()
        steps = self.steps_per_phase()
        left = sum(max(steps - self.done(p), 0) for p in range(len(phases)))
        self.progress("start", total=self.state["global_step"] + left, done=self.state["global_step"],
                      recipe=recipe.name, train=len(self.train_set), validation=len(self.val_set), **data_info)
        if recipe.eval.at_start and self.state["global_step"] == 0:
            self.validation()
        if recipe.train.warm_start_steps and self.state["global_step"] == 0 and not recipe.resume:
            self.warm_start()
        for phase, agents in enumerate(phases):
            if self.done(phase) < steps:  # a resumed run skips finished phases (and may extend the last)
                self.progress("phase", phase=phase, agents=agents)
                self.run_phase(phase, agents, steps)
        return self.finish(data_info)

    def warm_start(self) -> None:
        """The retrieval agent's format warm start (warm_start.py), logged row by row."""
        from comam_bench.training.warm_start import warm_start

        t = self.r.train
        self.progress("warm_start", steps=t.warm_start_steps)
        for row in warm_start(self.policies, self.pipeline, self.train_set, t.warm_start_steps, t.warm_start_batch,
                              t.warm_start_lr or t.lr, self.r.seed):
            self.log.write({"global_step": 0, **row})

    def done(self, phase: int) -> int:
        """Steps already taken in a phase (from a resumed checkpoint's counters)."""
        return int(self.state["phase_steps"].get(str(phase), 0))

    def load_data(self) -> tuple[list[Example], list[Example], dict[str, Any]]:
        return load_split(self.r)

    def vocabulary_texts(self) -> list[str]:
        """What a tiny random model's tokenizer must know: the data and every prompt's wording."""
        return vocabulary_texts(self.train_set + self.val_set)

    def make_pipeline(self) -> Pipeline:
        return training_pipeline(self.policies.llms, self.r.pipeline, self.r.model.embedder, self.r.seed)

    def phases(self) -> list[list[str]]:
        """Agents trained together: all at once (joint), or one per phase (independent), in pipeline order."""
        active = [a for a in AGENTS if a in self.r.train.agents and a in self.pipeline.settings.agents]
        if not active:
            raise RecipeError(f"train.agents {self.r.train.agents} names no agent of this pipeline")
        return [active] if self.r.train.mode == "joint" else [[a] for a in active]

    def steps_per_phase(self) -> int:
        t = self.r.train
        per_epoch = math.ceil(len(self.train_set) / min(t.batch_questions, len(self.train_set)))
        return t.max_steps if t.max_steps is not None else per_epoch * t.epochs

    # ------------------------------------------------------------------ the loop
    def batch(self, phase: int, step: int) -> list[Example]:
        """The questions of one step: a seeded reshuffle per epoch (and phase), taken in order."""
        b = min(self.r.train.batch_questions, len(self.train_set))
        per_epoch = math.ceil(len(self.train_set) / b)
        epoch, k = divmod(step, per_epoch)
        order = list(self.train_set)
        random.Random(f"{self.r.seed}/{phase}/{epoch}").shuffle(order)
        chosen = order[k * b:(k + 1) * b]
        return chosen if len(chosen) == b else chosen + order[:b - len(chosen)]  # a full last batch

    def run_phase(self, phase: int, agents: list[str], steps: int) -> None:
        for step in range(self.done(phase), steps):
            row = self.train_step(phase, step, agents)
            self.state["phase_steps"][str(phase)] = step + 1
            self.state["global_step"] += 1
            self.log.write(row)
            self.progress("step", step=self.state["global_step"], row=row)
            n = self.state["global_step"]
            if self.r.eval.every and n % self.r.eval.every == 0:
                self.validation()
            if self.r.train.save_every and n % self.r.train.save_every == 0:
                self.save(self.out / "checkpoints" / f"step-{n:06d}")

    def train_step(self, phase: int, step: int, agents: list[str]) -> dict[str, Any]:
        r, t0 = self.r, time.perf_counter()
        seed = self.r.seed * 1_000_003 + self.state["global_step"] * 101
        before = dict(self.pipeline.resources.diagnostics)
        unparsed = self.scorer.counts.get("judge_unparsed", 0)
        with P.reusing_states(self.policies, r.train.reuse_rollout_states):
            groups = self.training_rollout(self.batch(phase, step), seed)
            t1 = time.perf_counter()
            self.scorer.score(groups, [a for a in self.pipeline.settings.agents if a != "answer"])
            t2 = time.perf_counter()
            stats = grpo_step(self.agent_batches(groups, agents), self.policies.optimizers, r.train,
                              r.rollout.temperature)
            t3 = time.perf_counter()
        row = {"kind": "train", "global_step": self.state["global_step"] + 1, "phase": phase, "phase_step": step + 1,
               "trained": ",".join(agents), **summarize(groups), **stats,
               "judge_unparsed": self.scorer.counts.get("judge_unparsed", 0) - unparsed,
               "time/rollout": t1 - t0, "time/score": t2 - t1, "time/update": t3 - t2, "time/step": t3 - t0}
        row.update(self.token_counts(groups))
        for key, value in self.pipeline.resources.diagnostics.items():
            if value != before.get(key, 0):
                row[f"problems/{key}"] = value - before.get(key, 0)
        return row

    def training_rollout(self, examples: list[Example], seed: int) -> list[Group]:
        """G trajectories per example at the rollout temperature, the letter skipped where no reward reads it."""
        r = self.r
        skip = r.train.skip_unread_letter and self.scorer.answer != "letter"
        with self.pipeline.letters(not skip):
            return rollout(self.pipeline, examples, r.rollout.group, r.rollout.temperature, seed)

    def agent_batches(self, groups: list[Group], agents: list[str]) -> list[AgentBatch]:
        """Each trained agent's sequences with their advantages, on the adapter it trains."""
        out = []
        for agent in agents:
            name = self.policies.adapter_of[agent]
            items = [Item(t.step(agent), a) for g in groups for t, a in zip(g.trajectories, g.advantages[agent])]
            out.append(AgentBatch(agent, self.policies.base_of(agent), name, items))
        return out

    @staticmethod
    def token_counts(groups: list[Group]) -> dict[str, float]:
        steps = [s for g in groups for t in g.trajectories for s in t.steps]
        prompt = sum(len(s.prompt_ids or ()) for s in steps)
        completion = sum(len(s.completion_ids or ()) for s in steps)
        return {"tokens/prompt": float(prompt), "tokens/completion": float(completion)}

    # ------------------------------------------------------------------ validation, checkpoints, the end
    def validation(self) -> dict[str, float]:
        e = self.r.eval
        examples = self.val_set[:e.validation_limit] if e.validation_limit is not None else self.val_set
        if not examples:
            return {}
        t0 = time.perf_counter()
        row, per_question = validate(self.pipeline, self.scorer, examples, e.temperature, self.r.seed, e.batch)
        row.update(kind="validation", global_step=self.state["global_step"], **{"time/validation": time.perf_counter() - t0})
        self.log.write(row)
        questions = MetricsLog(self.out / VALIDATION_FILE)
        for q in per_question:
            questions.write({"global_step": self.state["global_step"], **q})
        self.progress("validation", step=self.state["global_step"], row=row)
        return row

    def save(self, directory: Path) -> Path:
        P.save(self.policies, self.r, directory, dict(self.state))
        self.progress("checkpoint", path=str(directory))
        return directory

    def finish(self, data_info: dict[str, Any]) -> TrainResult:
        last = self.log.rows()[-1:] if self.log.path.exists() else []
        if self.val_set and not (last and last[0].get("kind") == "validation"):
            self.validation()
        self.log.write({"kind": "adapters", "global_step": self.state["global_step"],
                        **P.adapter_changes(self.policies, self.start_params)})
        checkpoint = self.save(self.out / "checkpoint")
        plot = plot_curves(self.log.path, self.out / "training_curves.png", title=self.r.name)
        result = TrainResult(self.r.name, str(self.out), str(checkpoint), self.state["global_step"],
                             str(self.log.path), str(plot), None, {**data_info, **self.scorer.counts})
        base_spec = self.policies.base_spec
        self.release()
        if self.r.eval.final:
            result.final_run = final_evaluation(
                self.r, checkpoint, base_spec,
                lambda done, total: self.progress("final", done=done, total=total))
        return result

    def release(self) -> None:
        """Drop the models before the final evaluation loads its own copy."""
        self.pipeline = None
        self.policies = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
