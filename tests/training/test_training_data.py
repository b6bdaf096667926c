"""Training data (Appendix B.1: H = the evidence session, E_q, splits), the evidence locator, and recipes."""
from __future__ import annotations

import pytest

from comam_bench.api import Message, Question
from comam_bench.data import load_task
from comam_bench.training.data import (build_examples, locate_evidence, locator_accuracy, make_example, paper_split,
                                       session_starts, split_examples)
from comam_bench.training.recipe import (RecipeError, expand_sweep, load_recipe, parse_sets, recipe_from_dict,
                                         recipe_names)


def msg(role: str, text: str) -> Message:
    return Message(role, text)


# Two sessions; token counts (regex \w+|[^\w\s]) in brackets.
CONTEXT = [
    msg("system", "Current user persona: Ann"),  # 0 [5]
    msg("user", "User: I like tea"),  # 1 [5]
    msg("assistant", "Assistant: Nice"),  # 2 [3]
    msg("system", "Current user persona: Ann"),  # 3 [5]
    msg("user", "User: I now hate tea because it is bitter"),  # 4 [10]
    msg("assistant", "Assistant: Noted"),  # 5 [3]
    msg("user", "User: Any ideas for the weekend"),  # 6 [7]
    msg("assistant", "Assistant: A hike"),  # 7 [4]
]


def question(end: int, evidence=None, distance=None, context_tokens=None) -> Question:
    extra = {"context_length_in_tokens": context_tokens} if context_tokens else {}
    return Question("q", "acknowledge_latest_preferences", "x", "food", "Tea?", ("(a) x",) * 4, "['(a) x']", "a",
                    "c", end, distance_tokens=distance, evidence=evidence, extra=extra)


def test_sessions_start_at_system_messages():
    assert session_starts(CONTEXT) == [0, 3]


def test_history_is_the_session_of_the_last_evidence_cut_at_the_end_index():
    ex = make_example(question(end=6, evidence=(1, 4)), CONTEXT)
    assert ex.session == 1 and ex.exact
    assert [m.content for m in ex.messages] == [m.content for m in CONTEXT[3:6]]  # message 6 is after the question
    assert ex.evidence_indices == (4,) and ex.evidence == ("User: I now hate tea because it is bitter",)
    assert ex.history.splitlines()[1] == "User: I now hate tea because it is bitter"


def test_locator_walks_back_by_tokens_and_snaps_to_the_user_turn():
    # from end 8: tails are 4 (7), 11 (6), 14 (5), 24 (4): a distance of 24 is exactly message 4
    assert locate_evidence(CONTEXT, 8, 24) == 4
    assert locate_evidence(CONTEXT, 8, 23) == 4  # nearest tail
    # distance 14 lands on the assistant message 5, which snaps back to the user message 4
    assert locate_evidence(CONTEXT, 8, 14) == 4
    assert locate_evidence(CONTEXT, 8, 14, snap_to_user=False) == 5
    assert locate_evidence(CONTEXT, 0, 5) is None and locate_evidence(CONTEXT, 8, None) is None


def test_located_evidence_rescales_release_token_counts():
    # the release counted 2x our tokens: prefix of 8 messages is 42 of ours, 84 of theirs; distance 48 -> 24
    ex = make_example(question(end=8, distance=48, context_tokens=84), CONTEXT, source="located")
    assert ex.evidence_indices == (4,) and not ex.exact


def test_gold_evidence_on_the_mini_task_and_the_locator_measured_there():
    data = load_task("personamem-mini")
    examples, dropped = build_examples(data)
    assert len(examples) == len(data.questions) == 28 and dropped == {"no_evidence": 0, "history_too_long": 0}
    for ex in examples:
        assert ex.exact and ex.evidence and max(ex.evidence_indices) == max(ex.question.evidence)
        assert ex.messages[0].role == "system" and all(m.role != "system" for m in ex.messages[1:])
    # the synthetic distances were written with our own tokenizer: walking back finds every one
    assert locator_accuracy(data) == {"questions": 28, "exact": 1.0, "within_2": 1.0}
    # with a different tokenizer, calibration by context_length_in_tokens is what keeps it close
    words = lambda text: len(text.split())  # noqa: E731
    assert locator_accuracy(data, words)["exact"] > locator_accuracy(data, words, calibrate=False)["exact"]


def test_splits_are_seeded_disjoint_and_sized():
    examples, _ = build_examples(load_task("personamem-mini"))
    train, val = split_examples(examples, validation_fraction=0.25, seed=3)
    assert (len(train), len(val)) == (21, 7)
    assert not {e.question.id for e in train} & {e.question.id for e in val}
    assert split_examples(examples, validation_fraction=0.25, seed=3) == (train, val)
    assert split_examples(examples, validation_fraction=0.25, seed=4) != (train, val)
    train, val = split_examples(examples, train=5, validation=2)
    assert (len(train), len(val)) == (5, 2)
    assert paper_split("128k") == (1744, 200) and paper_split("mini") == (None, None)


# --------------------------------------------------------------------------- recipes
def test_every_shipped_recipe_loads_and_checks():
    names = recipe_names()
    assert {"smoke", "cpu-smollm2", "gpu-qwen-32k", "gpu-qwen-128k", "gpu-qwen-1m"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        expected = "openrlhf" if name.startswith("gpu-openrlhf-") else "local"
        assert recipe.backend == expected and recipe.name == name
    paper = load_recipe("gpu-qwen-1m")  # included from gpu-qwen-32k, then overridden
    assert (paper.train.batch_questions, paper.rollout.group, paper.train.epochs) == (128, 8, 5)
    assert paper.rollout.temperature == 1.0 and paper.eval.temperature == 0.8 and paper.data.task == "personamem-1m"
    assert paper.model.agents == {"retrieval": "hf:Qwen/Qwen2.5-7B-Instruct"} and paper.model.window == 32768


def test_set_overrides_nested_keys_with_yaml_values():
    assert parse_sets(["a.b=3", "c=[1, 2]", "d=null", "e=1e-5"]) == [("a.b", 3), ("c", [1, 2]), ("d", None), ("e", "1e-5")]
    recipe = load_recipe("smoke", ["train.lr=1e-5", "credit.mode=equal", "rollout.group=6"])
    assert recipe.train.lr == 1e-5 and recipe.credit.mode == "equal" and recipe.rollout.group == 6


@pytest.mark.parametrize("sets, message", [
    (["train.lrr=1"], "(?i)did you mean 'lr'"), (["credit.mode=adaptiv"], "must be one of"),
    (["rollout.group=1"], "at least 2"), (["train.max_steps=x"], "type int"), (["credit.mode=fixed"], "credit.weight"),
    (["train.agents=[extractor]"], "agent name"), (["nonsense"], "KEY=VALUE"), (["eval.batch=0"], "eval.batch must be at least 1"),
])
def test_bad_recipes_say_what_is_wrong(sets, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe("smoke", sets)


def test_unknown_recipe_names_get_suggestions():
    with pytest.raises(RecipeError, match="Did you mean 'smoke'"):
        load_recipe("smok")


def test_a_sweep_expands_into_named_recipes():
    base = recipe_from_dict({"name": "s", "credit": {"mode": "fixed", "weight": 0.5},
                             "sweep": {"credit.weight": [0.0, 1.0]}})
    variants = expand_sweep(base)
    assert [v.name for v in variants] == ["s--weight=0.0", "s--weight=1.0"]
    assert [v.credit.weight for v in variants] == [0.0, 1.0] and all(not v.sweep for v in variants)
    assert len({v.out_dir() for v in variants}) == 2


# --------------------------------------------------------------------------- backends by name
from comam_bench import registry  # noqa: E402
from comam_bench.training.base import Trainer, TrainResult, trainer_class, train_recipe  # noqa: E402


class EchoTrainer(Trainer):
    """A plugin-style backend: trains nothing, answers with what it was given."""

    name = "echo"
    systems = ("comam",)

    def train(self, recipe):
        self.progress("start", total=0)
        return TrainResult(recipe.name, str(recipe.out_dir()), info={"lr": recipe.train.lr})


class NotATrainer:
    pass


def test_a_recipe_s_system_must_be_trainable_by_its_backend(tmp_path):
    from comam_bench.training.base import check_system

    with pytest.raises(registry.RegistryError, match="'rag' is not trainable"):
        check_system(recipe_from_dict({"system": "rag"}), EchoTrainer)
    with pytest.raises(registry.RegistryError, match=r"trains comam; 'mem1' is trainable \(policies: state, answer\)"):
        check_system(recipe_from_dict({"system": "mem1"}), EchoTrainer)
    check_system(recipe_from_dict({"system": "comam-no-profile"}), EchoTrainer)  # a spec of a trainable system
    with pytest.raises(registry.RegistryError, match="not trainable"):
        train_recipe("smoke", ["backend=test_training_data:EchoTrainer", "system=recency", f"output_dir={tmp_path}"])


def test_backends_resolve_by_name_or_import_path(tmp_path):
    assert trainer_class("local").__name__ == "LocalTrainer"  # imported only now: torch stays out of listings
    with pytest.raises(registry.RegistryError, match="Did you mean 'local'"):
        trainer_class("locall")
    with pytest.raises(registry.RegistryError, match="not a comam_bench.training.base.Trainer"):
        trainer_class("test_training_data:NotATrainer")
    events = []
    results = train_recipe("smoke", ["backend=test_training_data:EchoTrainer", "train.lr=0.5",
                                     f"output_dir={tmp_path}"], progress=lambda e, **f: events.append(e))
    assert [r.info for r in results] == [{"lr": 0.5}] and events == ["start"]
