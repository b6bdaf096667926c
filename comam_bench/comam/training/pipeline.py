"""CoMAM's Pipeline as a trainer builds it, and the texts a tiny random model's tokenizer must know.

The recipe's `pipeline:` section holds CoMAM's system arguments (budgets, ablation flags); the models
come from the trainer (the recipe's model and train.policy) and the embedder from the recipe's
model.embedder, so a trainer backend reaches CoMAM's set-up through these two functions.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from comam_bench.api import LLM, Resources
from comam_bench.comam.agents import Pipeline
from comam_bench.comam.config import CoMAMArgs
from comam_bench.comam.prompts import EXTRACTION_TEMPLATE, PROFILE_TEMPLATE, RETRIEVAL_TEMPLATE
from comam_bench.comam.training.judge import JUDGE_TEMPLATE
from comam_bench.training.recipe import RecipeError

# System arguments the trainer sets (the policies' models and adapters); a recipe's pipeline: must not.
MODEL_ARGS = ("policy_model", "extraction_model", "profile_model", "retrieval_model", "extraction_adapter",
              "profile_adapter", "retrieval_adapter", "shared_policy", "policy_adapter")
FORMAT_TEXT = "<information> </information> <final_answer> </final_answer> (a) (b) (c) (d) Score: 7/10"


def vocabulary_texts(examples: Sequence[Any]) -> list[str]:
    """Every prompt's wording, the reply formats, and each example's history, question and options."""
    texts = [EXTRACTION_TEMPLATE, PROFILE_TEMPLATE, RETRIEVAL_TEMPLATE, JUDGE_TEMPLATE, FORMAT_TEXT]
    for ex in examples:
        texts += [ex.history, ex.question.text, ex.question.options_raw]
    return texts


def training_pipeline(llms: Mapping[str, LLM], pipeline_args: Mapping[str, Any], embedder: str,
                      seed: int) -> Pipeline:
    """The Pipeline of a recipe's `pipeline:` arguments on the policies' LLMs (the retrieval agent's model
    also serves the resources), ranking memory with `embedder` (an embedder spec, loaded on first use)."""
    unwanted = [k for k in pipeline_args if k in MODEL_ARGS]
    if unwanted:
        raise RecipeError(f"pipeline: {unwanted} are set by the trainer (model, train.policy), not here")
    settings = CoMAMArgs.from_mapping(pipeline_args).settings()
    from comam_bench.llm import load_embedder

    resources = Resources(llms["retrieval"], lambda: load_embedder(embedder), seed=seed)
    return Pipeline(llms, resources, settings)
