"""The LoCoMo task: loading (roles, dates, captions, evidence), validation, the open-ended protocol in a run,
and refusals with reasons. Fixture conversations are invented here; the real file is read from
../shared/data/locomo only (its license keeps it out of the repository)."""
from __future__ import annotations

import json

import pytest

from comam_bench.data import load_task, validate_task
from comam_bench.data.personamem import DataError
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocols import ProtocolError, for_run, resolve
from comam_bench.protocols.open_ended import bootstrap_ci, extract_prediction
from comam_bench.runner import Run, RunConfig, RunError
from helpers_cli import cli
from helpers_locomo import invented
from helpers_paths import REPO

REAL = REPO.parent / "shared" / "data" / "locomo" / "locomo10.json"


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "locomo"
    folder.mkdir()
    (folder / "locomo10.json").write_text(json.dumps(invented()))
    return folder


def test_loading_maps_speakers_dates_captions_and_evidence(data_dir):
    data = load_task("locomo", data_dir)
    msgs = data.contexts["c1"]
    assert [m.role for m in msgs] == ["user", "assistant", "user", "assistant"]  # speaker_a user, speaker_b assistant
    assert msgs[0].content == "[9:00 am on 1 March, 2021] Ann: I adopted a cat named Pepper."
    assert msgs[1].content.endswith("Bo: Lovely! Look at my garden. [shares a photo: a photo of tulips]")
    assert msgs[2].content.startswith("[6:30 pm on 2 April, 2021] Ann:")
    by_id = {q.id: q for q in data.questions}
    assert by_id["c1:0"].evidence == (0,) and by_id["c1:1"].evidence == (1, 3)  # "D2:2; D1:2" split
    assert by_id["c1:2"].evidence == (2,)  # "D:2:01" read as D2:1; "D9:9" names no turn
    assert by_id["c1:3"].gold == "Rex" and by_id["c1:3"].type == "adversarial"
    assert all(q.end_index == len(data.contexts[q.context_id]) and not q.options for q in data.questions)
    assert [b.id for b in data.bad_rows] == ["c1:4", "c1:5"]
    assert data.info["evidence_unresolved"] == 1 and data.info["images"] == 1
    assert data.info["questions_by_category"] == {"multi-hop": 1, "temporal": 1, "open-domain": 1,
                                                  "single-hop": 2, "adversarial": 1}


def test_validation_reports_counts_skips_and_expectations(data_dir):
    report = validate_task("locomo", data_dir)
    assert report.exit_code == 1 and report.facts["questions"] == 6 and report.facts["conversations"] == 2
    assert any("evidence ids name no turn" in n for n in report.notes)
    assert any("the release has 1986" in n for n in report.notes)
    assert {b.problem for b in report.bad_rows} == {"category 9 is not one of 1-5", "no question text"}


def test_missing_file_and_bad_json_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="needs --data-dir.*snap-research/LoCoMo"):
        load_task("locomo", None)
    with pytest.raises(DataError, match="does not exist"):
        load_task("locomo", tmp_path)
    (tmp_path / "locomo10.json").write_text("{not json")
    with pytest.raises(DataError, match="not readable JSON"):
        load_task("locomo", tmp_path)


@pytest.mark.skipif(not REAL.exists(), reason="LoCoMo's locomo10.json is not at ../shared/data/locomo")
def test_the_released_file_loads_whole():
    report = validate_task("locomo", REAL.parent)
    f = report.facts
    assert (f["conversations"], f["questions"], f["sessions"], f["turns"]) == (10, 1986, 272, 5882)
    assert f["questions_by_category"] == {"multi-hop": 282, "temporal": 321, "open-domain": 96,
                                          "single-hop": 841, "adversarial": 446}
    assert not report.bad_rows and report.ok


def test_protocol_fits_the_task_or_is_refused():
    assert resolve(None, {"name": "locomo", "protocol": "locomo-open-ended-v1"}) == "open-ended"
    with pytest.raises(ProtocolError, match="open-ended.*cannot run under the likelihood"):
        resolve("likelihood", {"name": "locomo", "protocol": "locomo-open-ended-v1"})
    with pytest.raises(ProtocolError, match="multiple choice.*discriminative or likelihood"):
        resolve("open-ended", {"name": "personamem-32k", "protocol": "personamem-discriminative-v1"})
    from comam_bench.systems.sanity import LongestOption, NotMentioned

    with pytest.raises(ProtocolError, match="answers multiple choice only"):
        for_run(None, {"protocol": "open-ended"}, LongestOption)
    with pytest.raises(ProtocolError, match="open-ended questions only"):
        for_run(None, {}, NotMentioned)


def test_protocol_versions_match_their_classes():
    from comam_bench.protocols import BUILTIN_PROTOCOLS, VERSIONS, get

    assert {get(name).version: name for name in BUILTIN_PROTOCOLS} == VERSIONS


def test_prediction_extraction_and_bootstrap():
    assert extract_prediction("<information>x</information>\n<final_answer>Lisbon</final_answer>") == "Lisbon"
    assert extract_prediction("  Lisbon  ") == "Lisbon"
    one = [{"context_id": "a", "f1": 1.0}, {"context_id": "a", "f1": 0.0}]
    assert bootstrap_ci(one) == [0.5, 0.5]  # one conversation: nothing varies between conversations
    two = one + [{"context_id": "b", "f1": 1.0}]
    lo, hi = bootstrap_ci(two)
    assert lo == 0.5 and hi == 1.0 and bootstrap_ci(two) == [lo, hi]


def _answers(chat):
    """A scripted model: answers from whatever the chat holds (memory or history), else says it does not know."""
    text = " ".join(m["content"] for m in chat)
    question = chat[-1]["content"].split("\n")[0]
    if "cat called" in question and "Pepper" in text:
        return "<final_answer>Pepper</final_answer>"
    if "move" in question and "Lisbon" in text:
        return "It is <final_answer>Lisbon"
    return "<final_answer>Not mentioned in the conversation"


def _run(tmp_path, data_dir, system, **kw):
    cfg = RunConfig(task="locomo", system=system, data_dir=str(data_dir), embedder="hash:64",
                    results_dir=tmp_path / "results", model="scripted", **kw)
    return Run(cfg, llm=ScriptedLLM(_answers)).execute()


def test_open_ended_runs_score_by_category(tmp_path, data_dir):
    full = _run(tmp_path, data_dir, "full-context")
    none = _run(tmp_path, data_dir, "no-memory")
    assert full["protocol"] == {"name": "open-ended", "version": "locomo-open-ended-v1", "headline": "f1",
                                "judge": None}
    s = full["scores"]
    # full context: Pepper (1), Lisbon (1), the adversarial one said "not mentioned" (1), two misses (0), and
    # category 3's "Not mentioned in the conversation" against "Probably not" (cut at ';') shares "not":
    # P 1/4 (not mention in convers), R 1/2, F1 1/3
    assert s["overall"]["n"] == 6 and s["overall"]["f1"] == pytest.approx((3 + 1 / 3) / 6, abs=1e-4)
    assert s["by_category"]["single-hop"]["f1"] == 1.0 and s["by_category"]["adversarial"]["f1"] == 1.0
    assert s["categories_1_4"]["n"] == 5 and s["n_contexts"] == 2
    assert none["scores"]["overall"]["f1"] == pytest.approx((1 + 1 / 3) / 6, abs=1e-4)  # adversarial + the 1/3
    rows = [json.loads(x) for x in (tmp_path / "results" / "runs" / full["run_id"] / "samples.jsonl").open()]
    assert {r["prediction"] for r in rows} >= {"Pepper", "Lisbon"} and all("f1" in r for r in rows)
    oracle = _run(tmp_path, data_dir, "oracle-evidence")
    assert oracle["scores"]["by_category"]["single-hop"]["f1"] == 1.0


def test_a_multiple_choice_system_is_refused_before_anything_runs(tmp_path, data_dir):
    with pytest.raises(RunError, match="answers multiple choice only"):
        _run(tmp_path, data_dir, "longest-option")
    assert not (tmp_path / "results" / "runs").exists() or not any((tmp_path / "results" / "runs").iterdir())
    done = cli(["run", "--system", "longest-option", "--task", "locomo", "--data-dir", data_dir,
                "--results-dir", tmp_path / "r"], tmp_path)
    assert done.returncode == 2 and "multiple choice only" in done.stderr and "Traceback" not in done.stderr
    done = cli(["run", "--system", "no-memory", "--task", "locomo", "--protocol", "likelihood",
                "--data-dir", data_dir, "--results-dir", tmp_path / "r"], tmp_path)
    assert done.returncode == 2 and "cannot run under the likelihood protocol" in done.stderr


def test_llm_judge_is_named_cached_and_skips_category_5(tmp_path, data_dir):
    from comam_bench.protocols.judge import PROMPT_SHA256, LLMJudge, parse_label

    assert (parse_label("CORRECT."), parse_label("wrong"), parse_label("maybe")) == (True, False, None)
    llm = ScriptedLLM(lambda chat: "CORRECT" if "Generated answer: Pepper" in chat[-1]["content"] else "WRONG")
    judge = LLMJudge("scripted", llm=llm, cache_dir=tmp_path / "judge")
    qs = {q.id: q for q in load_task("locomo", data_dir).questions}
    batch = [qs["c1:0"], qs["c1:1"], qs["c1:3"]]
    first = judge.verdicts(batch, ["Pepper", "pottery", "Not mentioned"])
    assert [v["correct"] for v in first] == [True, False, None] and len(llm.calls) == 2
    again = LLMJudge("scripted", llm=llm, cache_dir=tmp_path / "judge")  # a resumed run reads the cache
    assert [v["correct"] for v in again.verdicts(batch, ["Pepper", "pottery", "x"])] == [True, False, None]
    assert len(llm.calls) == 2 and again.identity()["prompt_sha256"] == PROMPT_SHA256

    cfg = RunConfig(task="locomo", system="full-context", data_dir=str(data_dir), embedder="hash:64",
                    results_dir=tmp_path / "results", model="scripted", judge="scripted")
    run = Run(cfg, llm=ScriptedLLM(_answers))
    run.set_protocol = lambda: None  # keep the judge given below (a model spec "scripted" does not load)
    from comam_bench import protocols

    run.proto = protocols.get("open-ended", judge=LLMJudge("scripted", llm=llm, cache_dir=tmp_path / "judge"))
    record = run.execute()
    assert record["protocol"]["judge"] == {"model": "scripted", "prompt_sha256": PROMPT_SHA256,
                                           "version": "locomo-judge-v1"}
    assert record["scores"]["overall"]["judge"] == {"n": 5, "accuracy": 0.2}  # Pepper only; category 5 unjudged


def test_judge_on_a_multiple_choice_task_is_refused(tmp_path):
    cfg = RunConfig(task="personamem-mini", system="no-memory", embedder="hash:64", results_dir=tmp_path / "r",
                    model="scripted", judge="scripted")
    with pytest.raises(RunError, match="has no judge"):
        Run(cfg, llm=ScriptedLLM()).prepare()


def test_leaderboard_has_an_open_ended_table_beside_the_accuracy_tables(tmp_path, data_dir):
    from comam_bench.leaderboard import build_board, collect_runs, render_markdown

    _run(tmp_path, data_dir, "full-context")
    _run(tmp_path, data_dir, "no-memory")
    Run(RunConfig(task="locomo", system="not-mentioned", data_dir=str(data_dir),
                  results_dir=tmp_path / "results")).execute()
    Run(RunConfig(task="personamem-mini", system="longest-option", results_dir=tmp_path / "results", limit=5)).execute()
    board = build_board(collect_runs(tmp_path / "results" / "runs"))
    assert [g["task"] for g in board["groups"]] == ["personamem-mini"]  # F1 is never ranked as accuracy
    [group] = board["open_ended"]
    assert (group["task"], group["model"]) == ("locomo", "scripted")
    assert [r["system"] for r in group["rows"]] == ["full-context", "no-memory", "not-mentioned"]
    assert group["rows"][0]["f1"] == pytest.approx((3 + 1 / 3) / 6, abs=1e-4)
    assert group["rows"][2]["model_free"] and group["rows"][2]["by_category"]["adversarial"] == 1.0
    text = render_markdown(board)
    assert "## locomo · scripted · open-ended" in text and "Judge: none run." in text


def test_comam_answers_open_ended_questions_in_final_answer(tmp_path, data_dir):
    prompts = []

    def agents(chat):
        text = chat[-1]["content"]
        if "Retrieval agent" in text:
            prompts.append(text)
            return "<information>Ann's cat is Pepper.</information>\n<final_answer>Pepper</final_answer>"
        return "Ann adopted a cat named Pepper."

    cfg = RunConfig(task="locomo", system="comam", data_dir=str(data_dir), embedder="hash:64",
                    results_dir=tmp_path / "results", model="scripted", system_args={"ranking": "recency"})
    record = Run(cfg, llm=ScriptedLLM(agents)).execute()
    assert prompts and all("Options:" not in p and "short answer" in p for p in prompts)
    rows = {json.loads(x)["question_id"]: json.loads(x)
            for x in (tmp_path / "results" / "runs" / record["run_id"] / "samples.jsonl").open()}
    assert rows["c1:0"]["prediction"] == "Pepper" and rows["c1:0"]["f1"] == 1.0
    assert rows["c2:0"]["f1"] == 0.0 and record["scores"]["overall"]["n"] == 6
    cfg.system_args = {"retrieval_format": "structured"}
    cfg.run_id, cfg.overwrite = "structured", True
    # each context fails with the reason and the run goes on; its end names them (issue 30, D8)
    with pytest.raises(RunError, match="retrieval_format=paper"):
        Run(cfg, llm=ScriptedLLM(agents)).execute()


OPEN_SYSTEMS = ["no-memory", "full-context", "oracle-evidence", "rag", "recency", "memorybank", "a-mem", "cam",
                "mem0", "memoryos", "mem1", "memory-r1", "comam"]


@pytest.mark.parametrize("system", OPEN_SYSTEMS)
def test_every_built_in_system_answers_open_ended_questions(tmp_path, data_dir, system):
    """Each built-in that reads a history answers LoCoMo's questions in free text through the same interface
    (a scripted model; what matters is that the answer reaches the scorer as text, not as a letter)."""
    cfg = RunConfig(task="locomo", system=system, data_dir=str(data_dir), embedder="hash:64",
                    results_dir=tmp_path / "results", model="scripted")
    record = Run(cfg, llm=ScriptedLLM("<final_answer>Pepper</final_answer>")).execute()
    rows = [json.loads(x) for x in (tmp_path / "results" / "runs" / record["run_id"] / "samples.jsonl").open()]
    assert len(rows) == 6 and all(r["prediction"] == "Pepper" for r in rows)
    assert record["scores"]["by_category"]["single-hop"]["f1"] == 0.5  # Pepper right, Lisbon wrong


def test_the_system_list_and_open_ended_flags_agree():
    from comam_bench.registry import BUILTIN_SYSTEMS, resolve_system, system_class

    open_ones = {n for n in BUILTIN_SYSTEMS if system_class(resolve_system(n)).open_ended}
    assert open_ones == set(OPEN_SYSTEMS) | {"not-mentioned"}


def test_cli_run_with_a_judge_names_it_in_spec_and_record(tmp_path, data_dir):
    from comam_bench.protocols.judge import PROMPT_SHA256

    args = ["run", "--system", "no-memory", "--task", "locomo", "--data-dir", data_dir, "--results-dir",
            tmp_path / "r", "--model", "scripted:constant=<final_answer>Pepper", "--judge", "scripted:constant=CORRECT"]
    done = cli(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "judge scripted:constant=CORRECT" in done.stdout and "accuracy 1.000 over 5" in done.stdout
    [run_dir] = (tmp_path / "r" / "runs").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["spec"]["judge"]["prompt_sha256"] == PROMPT_SHA256 == record["protocol"]["judge"]["prompt_sha256"]
    [cache] = (tmp_path / "cache" / "judge").iterdir()
    assert len(cache.read_text().splitlines()) == 5  # one verdict per judged (question, answer); category 5 unjudged
    again = cli(args + ["--run-id", "again"], tmp_path)
    assert again.returncode == 0 and len(cache.read_text().splitlines()) == 5  # all read from the cache
    samples = [json.loads(x) for x in (tmp_path / "r" / "runs" / "again" / "samples.jsonl").open()]
    assert sum(bool(s["judge"]["cached"]) for s in samples) == 5


def test_the_report_shows_prediction_f1_and_judge(tmp_path, data_dir):
    from comam_bench.view.load import build_payload

    record = _run(tmp_path, data_dir, "full-context")
    payload = build_payload([tmp_path / "results" / "runs" / record["run_id"]], data_dir=data_dir)
    [run] = payload["runs"]
    assert run["f1"] == record["scores"]["overall"]["f1"] and run["judge_model"] is None
    by_id = {q["id"]: a for q, a in zip(payload["questions"], run["answers"])}
    assert by_id["c1:0"]["extracted"] == "Pepper" and by_id["c1:0"]["f1"] == 1.0 and by_id["c1:0"]["correct"]
    question = next(q for q in payload["questions"] if q["id"] == "c1:0")
    assert question["text"] == "What is Ann's cat called?" and question["gold"] == "Pepper"
