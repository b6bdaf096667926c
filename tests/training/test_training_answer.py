"""The flagship's answer path and rewards (issue 25): the structured retrieval reply always answers a-d, the
p(gold) answer reward gives nothing for echoing an option, the policy gradient scores samples at the
temperature they were drawn at, the session split keeps validation sessions out of training, and the
synthetic preference reward scores profiles by hand-worked numbers."""
from __future__ import annotations

import math

import pytest

from comam_bench.api import Question, Resources
from comam_bench.comam.agents import Pipeline, Settings
from comam_bench.comam.memory import Memory
from comam_bench.comam.states import AnswerState, RetrievalState, StepResult, Trajectory
from comam_bench.comam.training.answer import answer_rewards, option_distribution, strip_options
from comam_bench.comam.training.preferences import polarity, preference_score
from comam_bench.data import load_task
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.training.data import build_examples, split_examples

OPTIONS = ("(a) You could try visiting museums abroad next. Enjoy!",
           "(b) You could try going on river cruises next. Tell me how it goes!",
           "(c) You could try camping in national parks next. Enjoy!",
           "(d) You could try booking city breaks next. I hope that helps a little.")


def question(gold: str = "b") -> Question:
    return Question(id="q1", type="recall_user_shared_facts", raw_type="t", topic="travel", text="Any travel ideas?",
                    options=OPTIONS, options_raw=str(list(OPTIONS)), gold=gold, context_id="c", end_index=3)


def trajectory(evidence: str) -> Trajectory:
    state = AnswerState(f"<information>{evidence}</information>", evidence, None)
    return Trajectory([StepResult("retrieval", RetrievalState(Memory()), [], "", evidence, state)])


# --------------------------------------------------------------------------- structured retrieval
@pytest.mark.parametrize("reply", ["the user loved river cruises</information> and more", "", "no closing tag",
                                   "<final_answer>(z)</final_answer>"])
def test_structured_retrieval_always_answers_one_of_a_to_d(reply):
    """Whatever the policy writes, the reply carries its evidence and a letter in a-d chosen by scoring."""
    scores = {"a": -3.0, "b": -1.0, "c": -2.0, "d": -4.0}
    llm = ScriptedLLM(reply, scores=lambda chat, cont: scores[cont])
    pipe = Pipeline({"extraction": llm, "profile": llm, "retrieval": llm}, Resources(llm, HashEmbedder),
                    Settings(retrieval_format="structured"))
    step = pipe.step("retrieval", RetrievalState(Memory(), question()))
    _, kwargs = llm.calls[-1]
    assert kwargs["prefix"] == "<information>" and kwargs["stop"] == ("</information>",)
    assert step.next_state.final_answer == "(b)" and step.text.endswith("<final_answer>(b)</final_answer>")
    assert step.next_state.information == reply.split("</information>")[0].strip()
    # the letter was scored after the written evidence, under the retrieval agent's own model
    assert all(c in "abcd" for c in llm.scored[-1][1])


def test_a_training_rollout_that_reads_no_letter_skips_its_scoring():
    """pipe.letters(False) (train.skip_unread_letter): the same evidence and state, no four-way scoring, no
    letter and no "missing answer" counted; the setting comes back after the block."""
    reply = "the user loved river cruises</information>"
    llm = ScriptedLLM(reply, scores=lambda chat, cont: {"a": -3.0, "b": -1.0, "c": -2.0, "d": -4.0}[cont])
    resources = Resources(llm, HashEmbedder)
    pipe = Pipeline({"extraction": llm, "profile": llm, "retrieval": llm}, resources,
                    Settings(retrieval_format="structured"))
    with_letter = pipe.step("retrieval", RetrievalState(Memory(), question()))
    scored = len(llm.scored)
    with pipe.letters(False):
        without = pipe.step("retrieval", RetrievalState(Memory(), question()))
    assert len(llm.scored) == scored and pipe.choose_letter
    assert without.text == "<information>the user loved river cruises</information>"
    assert with_letter.text == without.text + "\n<final_answer>(b)</final_answer>"
    assert without.next_state.information == with_letter.next_state.information
    assert without.next_state.final_answer is None and without.problems == ()
    assert not any("final_answer" in k for k in resources.diagnostics)


def by_evidence(*, output: str, **kwargs) -> float:
    """A retrieval reward that reads the evidence only (test_training_local's arbitrary one hashes the text)."""
    import zlib

    return zlib.crc32(output.encode()) % 1000 / 1000


def test_training_without_the_unread_letter_ends_where_the_plain_run_ends(tmp_path):
    """Two tiny local-trainer steps (structured retrieval, p(gold) reward) with and without
    train.skip_unread_letter: the same rewards, tokens and problems every step, and the same adapters."""
    pytest.importorskip("peft")
    import json

    import torch

    from test_training_local import snapshot, tiny_recipe

    from comam_bench.training.local import LocalTrainer

    rows, params = [], []
    for skip in (False, True):
        recipe = tiny_recipe(tmp_path / str(skip), pipeline={"retrieval_format": "structured"},
                             rewards={"answer": "probability", "functions": {"retrieval": f"{__name__}:by_evidence"}},
                             train={"skip_unread_letter": skip})
        t = LocalTrainer()
        t.release = lambda: None  # keep the policies to compare them
        result = t.train(recipe)
        rows.append([json.loads(line) for line in open(result.metrics) if '"train"' in line])
        params.append(snapshot(t.policies))
    keys = [k for k in rows[0][0] if k.startswith(("reward/", "tokens/", "problems/", "loss/", "grad_norm/"))]
    assert any(k.startswith("reward/answer") for k in keys)
    assert [[r.get(k) for k in keys] for r in rows[0]] == [[r.get(k) for k in keys] for r in rows[1]]
    assert all(torch.equal(a, b) for a, b in zip(params[0].values(), params[1].values()))


def test_structured_retrieval_refuses_a_backend_that_cannot_prefill():
    class NoPrefix(ScriptedLLM):
        supports_prefix = False

    llm = NoPrefix("x")
    pipe = Pipeline({"extraction": llm, "profile": llm, "retrieval": llm}, Resources(llm, HashEmbedder),
                    Settings(retrieval_format="structured"))
    with pytest.raises(ValueError, match="retrieval_format=paper"):
        pipe.step("retrieval", RetrievalState(Memory(), question()))


# --------------------------------------------------------------------------- the answer reward
def test_option_distribution_is_the_softmax_of_per_token_logprobs():
    from comam_bench.api import OptionScore

    scores = [OptionScore(-2.0, 2, 5, False), OptionScore(-1.0, 1, 5, True), OptionScore(-6.0, 3, 5, False),
              OptionScore(-4.0, 1, 5, False)]  # per token: -1, -1, -2, -4
    p = option_distribution(scores)
    z = 2 * math.exp(-1) + math.exp(-2) + math.exp(-4)
    assert p == pytest.approx([math.exp(-1) / z, math.exp(-1) / z, math.exp(-2) / z, math.exp(-4) / z])


def judge_reading_the_evidence():
    """Scores the gold option (b) higher when the memory in the chat mentions river cruises *or* repeats
    option b's text: a judge that an echo could fool."""
    def score(chat, cont):
        memory = chat[0]["content"].lower() if chat[0]["role"] == "system" else ""
        boost = "river cruises" in memory
        per_token = -1.0 if (cont.startswith("You could try going on river") and boost) else -2.0
        return per_token * len(cont.split())  # the scripted model counts words as tokens
    return ScriptedLLM("", scores=score)


def test_echoing_an_option_earns_what_an_empty_reply_earns():
    q, judge = question(), judge_reading_the_evidence()
    empty, echo, sentence, evidence = (trajectory(""), trajectory(OPTIONS[1][4:]),
                                       trajectory("you could try going on  river cruises next."),
                                       trajectory("User: the river cruises were the highlight of my week"))
    p = answer_rewards("probability", [empty, echo, sentence, evidence], q, judge)
    assert p[0] == pytest.approx(0.25) and p[1] == p[0] and p[2] == p[0]
    assert p[3] == pytest.approx(math.exp(-1) / (math.exp(-1) + 3 * math.exp(-2)))
    # the 0/1 likelihood rule (no stripping) is the protocol's choice: the echo fools it, as the audit found
    assert answer_rewards("likelihood", [empty, echo], q, judge) == [0.0, 1.0]


def test_strip_options_removes_whole_options_and_their_sentences_only():
    q = question()
    text = "User: I loved the river cruises.\nYou could try camping in national parks next. Enjoy!"
    out = strip_options(text, q)
    assert "camping" not in out and "I loved the river cruises." in out
    assert strip_options("Enjoy! it was fun", q) == "Enjoy! it was fun"  # a 1-word sentence is left alone


# --------------------------------------------------------------------------- temperature
def test_token_logprobs_score_the_sampling_distribution_at_its_temperature():
    torch = pytest.importorskip("torch")
    from comam_bench.training.grpo import token_logprobs

    logits = torch.tensor([[[2.0, 0.0]]])
    target = torch.tensor([[0]])
    # T = 0.5: logits [4, 0] -> log(e^4 / (e^4 + 1)) = -0.0181499
    assert token_logprobs(logits, target, 0.5).item() == pytest.approx(-math.log1p(math.exp(-4)), abs=1e-6)
    # T = 1: log(e^2 / (e^2 + 1)) = -0.126928; T = 2: logits [1, 0] -> -0.313262
    assert token_logprobs(logits, target).item() == pytest.approx(-math.log1p(math.exp(-2)), abs=1e-6)
    assert token_logprobs(logits, target, 2.0).item() == pytest.approx(-math.log1p(math.exp(-1)), abs=1e-6)
    assert token_logprobs(logits, target, 0.0).item() == token_logprobs(logits, target).item()  # greedy: T = 1


# --------------------------------------------------------------------------- the session split
def test_a_session_split_puts_no_validation_session_into_training():
    examples, _ = build_examples(load_task("synthetic-train"))
    train, val = split_examples(examples, validation=100, seed=0, unit="session")
    sessions = lambda xs: {(e.question.context_id, e.session) for e in xs}  # noqa: E731
    assert len(val) >= 100 and len(train) + len(val) == len(examples)
    assert not sessions(train) & sessions(val)
    # the question split (the old default) does share sessions: what the session split exists to prevent
    qtrain, qval = split_examples(examples, validation=100, seed=0)
    assert sessions(qtrain) & sessions(qval)
    # a fixed split seed gives every training seed the same validation questions
    assert split_examples(examples, validation=100, seed=0, unit="session")[1] == val
    with pytest.raises(ValueError, match="split unit"):
        split_examples(examples, unit="context")


# --------------------------------------------------------------------------- the preference reward
def test_polarity_reads_likes_dislikes_and_negations():
    assert polarity("The user enjoys river cruises") == "like"
    assert polarity("They disliked museums") == "dislike"
    assert polarity("does not enjoy camping") == "dislike"
    assert polarity("The user travels") is None


def test_preference_score_by_hand():
    prefs = (("going on river cruises", "like"), ("visiting museums abroad", "dislike"))
    # river cruises: 2 of {going, river, cruises}, same stance -> 2/3; museums: 2 of 3 words, opposite -> 0
    assert preference_score("The user enjoys river cruises.\nThey love museums abroad.", prefs) == \
        pytest.approx((2 / 3 + 0) / 2)
    # no stance word: half credit for what it covers (museums 2/3 x 0.5; river cruises 0)
    assert preference_score("Museums abroad.", prefs) == pytest.approx((0 + 2 / 3 * 0.5) / 2)
    assert preference_score("", prefs) == 0.0 and preference_score("anything", ()) == 0.0


def test_training_examples_carry_the_stances_the_generator_wrote():
    from comam_bench.data import resolve_spec
    from comam_bench.comam.training.preferences import with_preferences

    spec = resolve_spec("synthetic-train")
    examples, _ = build_examples(load_task(spec))
    examples = with_preferences(examples[:20], spec)
    assert all(ex.preferences for ex in examples)
    for ex in examples:
        for activity, stance in ex.preferences:
            assert activity in ex.history and stance in ("like", "dislike")
    with pytest.raises(ValueError, match="synthetic"):
        with_preferences(examples, {"source": "personamem", "name": "personamem-32k"})


# --------------------------------------------------------------------------- learning
def test_grpo_on_the_probability_reward_raises_the_answer_reward():
    """The smoke test of the whole answer path's learning signal: a tiny policy writes evidence, the
    p(gold) reward of a judge that believes evidence mentioning "tea" scores it, group advantages and the
    temperature-scaled update follow; the mean answer reward rises (a sign error would make it fall)."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from test_training_local import toy_policy

    from comam_bench.training.credit import group_advantages
    from comam_bench.training.update import AgentBatch, Item, grpo_step

    llm, base, optimizer, cfg = toy_policy("retrieval", "sequence")

    def score(chat, cont):  # the gold option (b) is likelier the more the evidence says "tea"
        memory = chat[0]["content"] if chat[0]["role"] == "system" else ""
        boost = memory.split().count("tea")
        return (-2.0 + 0.5 * boost if cont.startswith("You could try going on river") else -2.0) * len(cont.split())

    judge, q, temperature = ScriptedLLM("", scores=score), question(), 0.7
    rewards = []
    for step in range(8):
        with base.active("retrieval"):
            samples = llm.generate([[{"role": "user", "content": "w1 w2"}]] * 16, max_new_tokens=4,
                                   temperature=temperature, seed=step, ignore_eos=True)
        r = answer_rewards("probability", [trajectory(s.text) for s in samples], q, judge)
        rewards.append(sum(r) / len(r))
        items = [Item(s, a) for s, a in zip(samples, group_advantages(r))]
        grpo_step([AgentBatch("retrieval", base, "retrieval", items)], optimizer, cfg, temperature)
    # measured: .257, .276, .331, then up to .711 (every sample says "tea" four times)
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.2, rewards


# --------------------------------------------------------------------------- the format warm start
def test_the_warm_start_targets_gold_evidence_and_the_closing_tag_only(tmp_path):
    """Label-free: the target is the training question's evidence and </information>, never a letter; the
    loss falls over the steps on a tiny model; the run logs its rows and cost."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from test_training_local import tiny_recipe

    from comam_bench.training.local import LocalTrainer
    from comam_bench.training.warm_start import format_targets, warm_start

    recipe = tiny_recipe(tmp_path, pipeline={"retrieval_format": "structured"})
    t = LocalTrainer()
    t.prepare(recipe)
    base = t.policies.base_of("retrieval").base
    targets = format_targets(t.pipeline, base, t.train_set[:2])
    ex = t.train_set[0]
    wanted = base.tokenizer("\n".join(ex.evidence) + "</information>", add_special_tokens=False)["input_ids"]
    assert targets[0].completion_ids == wanted  # the evidence and the closing tag: no letter, no answer
    opening = base.tokenizer("<information>", add_special_tokens=False)["input_ids"]
    assert targets[0].prompt_ids[-len(opening):] == opening  # the structured format writes the opening tag
    rows = warm_start(t.policies, t.pipeline, t.train_set[:4], steps=4, batch=4, lr=0.05, seed=0)
    assert [r["warm_step"] for r in rows] == [1, 2, 3, 4] and all(r["time/warm_start"] > 0 for r in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]
