"""CoMAM with a scripted LLM: per-session extraction, incremental profile, the open session built once per
position, batched calls, budgets, robustness counters, and per-agent cost tags."""
from __future__ import annotations

import re

import pytest

from comam_bench.api import Message, Question, Resources
from comam_bench.comam.prompts import COARSE_HEADER, PROMPT_VERSION
from comam_bench.comam.system import CoMAM
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.meter import Meter, MeteredLLM
from comam_bench.llm.scripted import ScriptedLLM

OPTIONS = "['(a) go to a jazz club', '(b) go running', '(c) bake bread', '(d) watch TV']"


class BatchLLM(ScriptedLLM):
    """A ScriptedLLM (which records (agent, number of chats) per generate call) that also records its seed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seeds: list[int | None] = []  # per generate call (ScriptedLLM itself does not keep them)

    def generate(self, chats, **kwargs):
        self.seeds.append(kwargs.get("seed"))
        return super().generate(chats, **kwargs)


def prompt_of(chat) -> str:
    return chat[-1]["content"]


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def default_respond(chat) -> str:
    """Extraction keeps the user lines; the profile lists the sessions it has seen; retrieval answers (b)."""
    text = prompt_of(chat)
    if text.startswith("You are the Memory Extractor"):
        history = between(text, "Conversation History:\n", "\n\nOutput only")
        return "\n".join(line for line in history.split("\n") if line.startswith("User:"))
    if text.startswith("You are the Profile Abstractor"):
        seen = re.findall(r"topic(\d)", text)
        previous = re.search(r"profile of topics ([\d ]+)", text)
        seen += previous.group(1).split() if previous else []
        return "profile of topics " + " ".join(sorted(set(seen)))
    return "<information>User: I now run</information>\n<final_answer>(b)</final_answer>"


def session(n: int, *user_lines: str) -> list[Message]:
    msgs = [Message("system", f"Current user persona: Ann (session {n})")]
    for line in user_lines:
        msgs += [Message("user", f"User: {line}"), Message("assistant", "Assistant: I see.")]
    return msgs


def question(qid: str = "q1", text: str = "What should I do this weekend?", end: int = 0) -> Question:
    options = tuple(o.strip(" '") for o in OPTIONS.strip("[]").split("',"))
    return Question(qid, "provide_preference_aligned_recommendations", "x", "leisure", text, options, OPTIONS,
                    "b", "ctx", end)


def make(respond=default_respond, window: int = 4096, **args) -> tuple[CoMAM, BatchLLM, Resources]:
    llm = BatchLLM(respond, context_window=window)
    resources = Resources(llm, HashEmbedder, seed=3)
    system = CoMAM(resources, **args)
    system.reset("ctx")
    return system, llm, resources


def calls(llm: BatchLLM, agent: str) -> list[str]:
    return [prompt_of(chat) for chat, kw in llm.calls if kw.get("agent") == agent]


HISTORY = (session(1, "I love jazz topic1") + session(2, "I started running topic2")
           + session(3, "I bake bread topic3"))


# --------------------------------------------------------------------------- construction


def test_each_finished_session_is_extracted_alone_in_one_batched_call():
    system, llm, _ = make()
    system.ingest(HISTORY, 0)
    extractions = calls(llm, "extraction")
    assert len(extractions) == 2  # sessions 1 and 2 closed; session 3 is still open
    assert "I love jazz topic1" in extractions[0] and "running" not in extractions[0]
    assert "I started running topic2" in extractions[1] and "jazz" not in extractions[1]
    assert "Current user persona: Ann (session 1)" in extractions[0]
    assert llm.batches[0] == ("extraction", 2)  # both in one generate call
    assert [e.text for e in system.memory.entries] == ["User: I love jazz topic1", "User: I started running topic2"]


def test_profile_is_updated_incrementally_from_the_previous_profile_and_the_new_entry():
    system, llm, _ = make()
    system.ingest(HISTORY, 0)
    first, second = calls(llm, "profile")
    assert "Current user profile" not in first  # nothing to update yet
    assert "Fine-grained Memory:\nUser: I love jazz topic1" in first
    # the second update sees the first profile and only the second entry
    assert "Current user profile (update it" in second and "profile of topics 1" in second
    assert "User: I started running topic2" in second and "I love jazz" not in second
    assert system.memory.profile == "profile of topics 1 2"


def test_open_session_is_built_once_per_position_and_reused_when_it_closes_unchanged():
    system, llm, _ = make()
    system.ingest(HISTORY, 0)
    n = len(llm.calls)
    system.answer([question("q1")])
    system.answer([question("q2")])  # a second batch at the same position
    assert len(calls(llm, "extraction")) == 3 and len(calls(llm, "profile")) == 3
    assert "I bake bread topic3" in calls(llm, "extraction")[-1]
    assert len(llm.calls) == n + 2 + 2  # one extraction, one profile, two retrievals
    # the open session closes at the same length: its cached entry and profile are reused
    system.ingest(session(4, "I swim topic4"), len(HISTORY))
    assert len(calls(llm, "extraction")) == 3 and len(calls(llm, "profile")) == 3
    assert [e.session for e in system.memory.entries] == [0, 1, 2]
    assert system.memory.profile == "profile of topics 1 2 3"


def test_open_session_that_grew_is_extracted_again():
    system, llm, _ = make()
    system.ingest(HISTORY, 0)
    system.answer([question()])
    system.ingest([Message("user", "User: and I knit topic3")], len(HISTORY))
    system.answer([question()])
    extractions = calls(llm, "extraction")
    assert len(extractions) == 4 and "and I knit" in extractions[-1]
    system.ingest(session(4, "x"), len(HISTORY) + 1)  # closes at the cached length: no new extraction
    assert len(calls(llm, "extraction")) == 4


def test_without_profile_open_session_the_open_session_does_not_touch_the_profile():
    system, llm, _ = make(profile_open_session=False)
    system.ingest(HISTORY, 0)
    system.answer([question()])
    assert len(calls(llm, "profile")) == 2
    assert "profile of topics 1 2" in calls(llm, "retrieval")[0]
    system.ingest(session(4, "x"), len(HISTORY))  # now session 3 is finished: the profile takes it in
    assert len(calls(llm, "profile")) == 3


# --------------------------------------------------------------------------- answering


def test_all_questions_go_to_the_retrieval_agent_in_one_call_with_question_options_and_memory():
    system, llm, _ = make()
    system.ingest(HISTORY, 0)
    answers = system.answer([question("q1"), question("q2", "Any hobby ideas?")])
    assert llm.batches[-1] == ("retrieval", 2)
    first, second = calls(llm, "retrieval")
    assert "Question: What should I do this weekend?" in first and "Question: Any hobby ideas?" in second
    assert f"Options: {OPTIONS}" in first  # the raw options string, verbatim
    assert "[session 3] User: I bake bread topic3" in first  # the open session's entry is there
    assert f"{COARSE_HEADER}\nprofile of topics 1 2 3" in first
    assert first.index("[session 1]") < first.index("[session 2]") < first.index(COARSE_HEADER)
    assert answers[0].text == "<information>User: I now run</information>\n<final_answer>(b)</final_answer>"
    assert answers[0].info["information"] == "User: I now run"
    assert answers[0].prompt == llm.calls[-2][0]
    assert sorted(answers[0].info["sessions"]) == [1, 2, 3]


def test_the_memory_budget_keeps_the_best_ranked_entries():
    # profile block: header 5 + "profile of topics 1 2 3" 7 = 12; entries header 3; each entry line
    # "[session N] User: I ... topicN" costs 8: a budget of 24 leaves 9, room for one entry only
    system, llm, _ = make(memory_tokens=12 + 3 + 8 + 1)
    system.ingest(HISTORY, 0)
    system.answer([question(text="How is my running going?")])
    prompt = calls(llm, "retrieval")[0]
    assert "[session 2] User: I started running topic2" in prompt
    assert "[session 1]" not in prompt and "[session 3]" not in prompt


def test_dense_ranking_goes_through_the_run_embedder():
    system, llm, resources = make(ranking="dense", memory_tokens=12 + 3 + 8 + 1)
    system.ingest(HISTORY, 0)
    system.answer([question(text="User: I love jazz topic1")])
    prompt = calls(llm, "retrieval")[0]
    assert "[session 1] User: I love jazz topic1" in prompt and "[session 2]" not in prompt
    assert system.pipeline.embeddings.embedded > 0


def test_budget_is_capped_by_the_window_and_counted():
    system, llm, resources = make(window=260, memory_tokens=2048, retrieval_tokens=100, extraction_tokens=20,
                                  profile_tokens=20)
    system.ingest(HISTORY, 0)
    system.answer([question()])
    assert resources.diagnostics.get("comam_memory_budget_capped", 0) >= 1
    chat = llm.calls[-1][0]
    assert llm.count_chat_tokens(chat) + 100 <= 260


def test_memory_stats_and_config_record_the_choices():
    system, _, _ = make(ranking="recency", memory_tokens=512)
    system.ingest(HISTORY, 0)
    stats = system.memory_stats()
    assert stats["sessions"] == 2 and stats["items"] == 3 and stats["tokens"] > 0
    config = system.config()
    assert config["prompt_version"] == PROMPT_VERSION
    assert config["ranking"] == "recency" and config["memory_tokens"] == 512
    assert config["agents"] == ["extraction", "profile", "retrieval"]
    assert config["models"]["retrieval"] == {"model": None, "adapter": None, "adapter_sha256": None}


def test_every_call_is_tagged_with_its_agent_for_per_agent_cost():
    meter = Meter()
    inner = ScriptedLLM(default_respond)
    resources = Resources(MeteredLLM(inner, meter), HashEmbedder, meter=meter)
    system = CoMAM(resources)
    system.reset("ctx")
    system.ingest(HISTORY, 0)
    meter.phase = "answer"
    system.answer([question(), question("q2", "Any plans for next weekend?")])
    totals = {key: cost.calls for key, cost in meter.totals.items()}
    assert totals == {("answer", "extraction"): 3, ("answer", "profile"): 3, ("answer", "retrieval"): 2}


# --------------------------------------------------------------------------- robustness


def test_missing_tags_are_counted_and_the_raw_text_is_the_answer():
    system, _, resources = make(lambda chat: "(b) is best" if "Retrieval agent" in prompt_of(chat)
                                else default_respond(chat))
    system.ingest(HISTORY, 0)
    answers = system.answer([question(), question()])
    assert answers[0].text == "(b) is best" and answers[0].info["information"] is None
    assert resources.diagnostics["comam_information_missing"] == 2
    assert resources.diagnostics["comam_final_answer_missing"] == 2


def test_protocol_style_unclosed_final_answer_is_not_a_problem_but_repeated_answers_are():
    respond = {"n": 0}

    def answer(chat):
        if "Retrieval agent" not in prompt_of(chat):
            return default_respond(chat)
        respond["n"] += 1
        if respond["n"] == 1:
            return "<information>x</information><final_answer>(b)"
        return "<information>x</information><final_answer>(a)</final_answer><final_answer>(b)</final_answer>"

    system, _, resources = make(answer)
    system.ingest(HISTORY, 0)
    system.answer([question(), question("q2", "Any plans for next weekend?")])
    assert "comam_final_answer_unclosed" not in resources.diagnostics
    assert resources.diagnostics["comam_final_answer_multiple"] == 1


def test_an_empty_extraction_stays_empty_and_is_counted():
    # falling back to the raw session would credit an extraction agent that wrote nothing with the history
    system, _, resources = make(lambda chat: "   " if "Memory Extractor" in prompt_of(chat) else default_respond(chat))
    system.ingest(HISTORY, 0)
    assert resources.diagnostics["comam_empty_extraction"] == 2
    assert system.memory.entries == ()


def test_a_profile_past_its_token_limit_is_truncated_and_counted():
    long_profile = " ".join(f"fact{i}." for i in range(50))
    system, _, resources = make(lambda chat: long_profile if "Profile Abstractor" in prompt_of(chat)
                                else default_respond(chat), profile_tokens=12)
    system.ingest(HISTORY, 0)
    assert resources.diagnostics["comam_profile_truncated"] == 2
    assert system.memory.profile == " ".join(f"fact{i}." for i in range(12))


def test_an_empty_profile_update_keeps_the_previous_profile():
    outputs = iter(["profile one", ""])
    system, _, resources = make(lambda chat: next(outputs) if "Profile Abstractor" in prompt_of(chat)
                                else default_respond(chat))
    system.ingest(HISTORY, 0)
    assert system.memory.profile == "profile one"
    assert resources.diagnostics["comam_empty_profile"] == 1


def test_a_session_longer_than_the_window_is_extracted_in_pieces_in_the_same_call():
    long_session = session(1, *[f"line {i} about topic1 and more words" for i in range(30)])
    system, llm, resources = make(window=200, extraction_tokens=20, profile_tokens=20, retrieval_tokens=20)
    system.ingest(long_session + session(2, "hi topic2"), 0)
    pieces = calls(llm, "extraction")
    assert len(pieces) > 1 and llm.batches[0] == ("extraction", len(pieces))
    assert all(llm.count_chat_tokens([{"role": "user", "content": p}]) + 20 <= 200 for p in pieces)
    assert resources.diagnostics["comam_extraction_input_split"] == 1
    entry = system.memory.entries[0].text
    assert "line 0 about" in entry and "line 29 about" in entry  # nothing lost between pieces


def test_unknown_arguments_fail_with_a_suggestion():
    with pytest.raises(TypeError, match="(?i)did you mean 'memory_tokens'"):
        make(memory_token=10)
    with pytest.raises(ValueError, match="ranking"):
        make(ranking="tfidf")


def test_a_missing_checkpoint_is_a_one_line_error(tmp_path):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "comam_bench.cli.main", "run", "--system", "comam",
                          "--system-arg", f"checkpoint={tmp_path / 'nowhere'}", "--results-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "is not a CoMAM checkpoint" in res.stderr and "Traceback" not in res.stderr
