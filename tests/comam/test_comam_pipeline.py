"""CoMAM's step API (what a trainer drives) and the Table 2 ablations as flags and as YAML specs."""
from __future__ import annotations

import itertools

import pytest

from comam_bench import registry
from comam_bench.api import Resources
from comam_bench.comam.agents import Pipeline, Settings
from comam_bench.comam.memory import Entry, Memory
from comam_bench.comam.prompts import (COARSE_HEADER, RAW_HEADER, SOURCE_RAW, extraction_prompt, profile_prompt,
                                       retrieval_prompt)
from comam_bench.comam.states import AnswerState, ExtractionState, ProfileState, RetrievalState
from comam_bench.comam.system import CoMAM
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocol import INSTRUCTIONS, question_message
from test_comam_system import HISTORY, BatchLLM, calls, default_respond, prompt_of, question


def pipeline(respond=default_respond, **settings) -> tuple[Pipeline, BatchLLM]:
    llm = BatchLLM(respond)
    return Pipeline({"extraction": llm, "profile": llm, "retrieval": llm}, Resources(llm, HashEmbedder),
                    Settings(**settings)), llm


def numbered():
    """Every call gets a distinct output, so each trajectory's chain can be followed."""
    counter = itertools.count()

    def respond(chat):
        n = next(counter)
        text = prompt_of(chat)
        if "Retrieval agent" in text:
            return f"<information>evidence {n}</information><final_answer>(b)</final_answer>"
        return f"output {n}"
    return respond


# --------------------------------------------------------------------------- step API


def test_prompt_builders_follow_the_paper_and_carry_question_and_options():
    q = question()
    assert prompt_of(extraction_prompt("User: hi")).startswith("You are the Memory Extractor.")
    assert "Conversation History:\nUser: hi\n\nOutput only the retained conversations." in prompt_of(extraction_prompt("User: hi"))
    first = prompt_of(profile_prompt("m_f text"))
    assert first.startswith("You are the Profile Abstractor.") and "Fine-grained Memory:\nm_f text" in first
    assert "Current user profile" not in first
    assert "Current user profile (update it" in prompt_of(profile_prompt("m_f text", "old profile"))
    chat = retrieval_prompt("MEMORY", q)
    assert len(chat) == 1 and chat[0]["role"] == "user"
    text = prompt_of(chat)
    assert f"Multi-grained Memory:\nMEMORY\n\nQuestion: {q.text}\n\nOptions: {q.options_raw}" in text
    assert "<information></information>" in text and "<final_answer></final_answer>" in text


def test_step_returns_prompt_text_output_and_the_next_state():
    pipe, llm = pipeline(numbered())
    q = question()
    result = pipe.step("extraction", ExtractionState("User: I run", question=q, session=4))
    assert result.prompt == extraction_prompt("User: I run") and result.text == "output 0"
    assert result.next_state == ProfileState("output 0", Memory((Entry(4, "output 0"),)), q)
    profile = pipe.step("profile", result.next_state)
    assert profile.output == "output 1"
    assert profile.next_state == RetrievalState(Memory((Entry(4, "output 0"),), "output 1"), q)
    final = pipe.step("retrieval", profile.next_state)
    assert final.output == "evidence 2"
    assert final.next_state == AnswerState(final.text, "evidence 2", "(b)")
    assert "[session 5] output 0" in prompt_of(final.prompt) and "output 1" in prompt_of(final.prompt)


def test_sample_draws_a_group_in_one_call_with_the_given_temperature_and_seed():
    pipe, llm = pipeline(numbered())
    group = pipe.sample("extraction", ExtractionState("User: hi"), n=4, temperature=1.0, seed=11)
    assert [r.output for r in group] == ["output 0", "output 1", "output 2", "output 3"]
    assert llm.batches == [("extraction", 4)]
    assert all(kw["temperature"] == 1.0 for _, kw in llm.calls)


def test_rollout_builds_a_group_of_full_trajectories_one_call_per_agent():
    pipe, llm = pipeline(numbered())
    first = pipe.first_state("User: I switched from jazz to running", question())
    [trajectories] = pipe.rollout([first], group=3, temperature=1.0, seed=5)
    assert len(trajectories) == 3
    assert llm.batches == [("extraction", 3), ("profile", 3), ("retrieval", 3)]
    for t in trajectories:
        assert [s.agent for s in t.steps] == ["extraction", "profile", "retrieval"]
        m_f = t.step("extraction").output
        # each trajectory's profile step saw its own extraction, not a sibling's
        assert f"Fine-grained Memory:\n{m_f}" in prompt_of(t.step("profile").prompt)
        assert t.step("profile").output in prompt_of(t.step("retrieval").prompt)
        assert t.final.final_answer == "(b)" and t.final.information.startswith("evidence")
    assert len({t.step("extraction").output for t in trajectories}) == 3
    assert llm.seeds == [5, 6, 7]  # a distinct seed per agent call


def test_retrieval_step_without_a_question_fails_clearly():
    pipe, _ = pipeline()
    with pytest.raises(ValueError, match="needs a question"):
        pipe.step("retrieval", RetrievalState(Memory()))


def test_the_system_exposes_the_same_pipeline():
    llm = ScriptedLLM(default_respond)
    system = CoMAM(Resources(llm, HashEmbedder))
    assert system.trainable and system.policies == ("extraction", "profile", "retrieval")
    result = system.pipeline.step("extraction", ExtractionState("User: a topic1"))
    assert result.output == "User: a topic1"


# --------------------------------------------------------------------------- ablations


def run_system(**args) -> tuple[CoMAM, BatchLLM, list]:
    llm = BatchLLM(lambda chat: "<final_answer>(b)" if "Find the most appropriate" in prompt_of(chat)
                   else default_respond(chat))
    system = CoMAM(Resources(llm, HashEmbedder), **args)
    system.reset("ctx")
    system.ingest(HISTORY, 0)
    answers = system.answer([question()])
    return system, llm, answers


def test_no_extraction_profile_and_retrieval_read_the_raw_sessions():
    system, llm, _ = run_system(use_extraction=False)
    assert calls(llm, "extraction") == []
    first = calls(llm, "profile")[0]
    assert SOURCE_RAW in first and "Conversation History:\nCurrent user persona: Ann (session 1)" in first
    retrieval = calls(llm, "retrieval")[0]
    assert f"{RAW_HEADER}\n[session 1] Current user persona" in retrieval and SOURCE_RAW in retrieval
    assert "Memory Extractor" not in retrieval
    assert system.pipeline.settings.agents == ("profile", "retrieval")


def test_no_profile_makes_no_profile_calls_and_shows_no_profile():
    system, llm, _ = run_system(use_profile=False)
    assert calls(llm, "profile") == []
    retrieval = calls(llm, "retrieval")[0]
    assert COARSE_HEADER not in retrieval and "Profile Abstractor" not in retrieval
    assert "[session 1] User: I love jazz topic1" in retrieval
    assert system.pipeline.settings.agents == ("extraction", "retrieval")


def test_no_retrieval_answers_from_memory_with_the_standard_prompt():
    system, llm, answers = run_system(use_retrieval=False)
    assert calls(llm, "retrieval") == []
    (chat, kw), = [(c, kw) for c, kw in llm.calls if kw.get("agent") == "answer"]
    assert chat[-1] == {"role": "user", "content": question_message(question())}
    assert chat[0]["role"] == "system" and "[session 3] User: I bake bread topic3" in chat[0]["content"]
    assert INSTRUCTIONS in chat[-1]["content"] and kw["max_new_tokens"] == 64
    assert answers[0].text == "<final_answer>(b)" and answers[0].info["agent"] == "answer"
    assert system.pipeline.settings.agents == ("extraction", "profile", "answer")


def test_single_policy_rejects_per_agent_adapters_and_records_the_choice():
    system, _, _ = run_system(shared_policy=True)
    assert system.config()["shared_policy"] is True
    with pytest.raises(ValueError, match="shared_policy"):
        CoMAM(Resources(ScriptedLLM(), HashEmbedder), shared_policy=True, retrieval_adapter="/tmp/x")
    with pytest.raises(ValueError, match="policy_adapter"):
        CoMAM(Resources(ScriptedLLM(), HashEmbedder), policy_adapter="/tmp/x")


@pytest.mark.parametrize("name, agents", [
    ("comam-no-extraction", ("profile", "retrieval")),
    ("comam-no-profile", ("extraction", "retrieval")),
    ("comam-no-retrieval", ("extraction", "profile", "answer")),
    ("comam-single-policy", ("extraction", "profile", "retrieval")),
])
def test_ablation_specs_resolve_to_comam_with_their_flags(name, agents):
    spec = registry.resolve_system(name, {"memory_tokens": 512})
    assert spec.target == "comam_bench.comam.system:CoMAM" and spec.args["memory_tokens"] == 512
    cls = registry.system_class(spec)
    system = cls(Resources(ScriptedLLM(), HashEmbedder), **spec.args)
    assert system.pipeline.settings.agents == agents
    assert system.args.shared_policy is (name == "comam-single-policy")
