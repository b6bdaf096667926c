"""Question selection (comam_bench.selection): up to N per context, spread over types and positions; a
questions file; both in the spec, the run id and the record, and resumable."""
from __future__ import annotations

import hashlib
import json

import pytest

import helpers_systems
from comam_bench.api import Question, TaskData
from comam_bench.errors import RunError
from comam_bench.record import RunRecord
from comam_bench.runner import Run
from comam_bench.selection import Selection, read_questions_file, spread
from test_parallel import assert_same_run, generated_data  # noqa: F401 - the (autouse) fixture is used
from test_runner import config as runner_config


def q(qid, cid, qtype, end, dist=0):
    return Question(id=qid, type=qtype, raw_type=qtype, topic="t", text="?", options=("(a) x",) * 4,
                    options_raw="", gold="a", context_id=cid, end_index=end, distance_tokens=dist)


def hand_task() -> TaskData:
    """Context A: 6 of type r (ends 2..12) and 3 of type s (ends 4, 8, 20), listed out of order;
    context B: 4 of type r at one end index, told apart by distance to the evidence."""
    a = [q(f"a-r{e}", "A", "r", e) for e in (12, 2, 4, 6, 8, 10)] + [q(f"a-s{e}", "A", "s", e) for e in (20, 4, 8)]
    b = [q(f"b-r{d}", "B", "r", 30, d) for d in (40, 10, 30, 20)]
    return TaskData(name="hand", questions=a[:3] + b + a[3:], contexts={"A": [], "B": []})


def ids(questions):
    return [x.id for x in questions]


def test_per_context_spread_picks_these_ids_in_run_order():
    data = hand_task()
    chosen = Selection(per_context=3).apply(data)
    # A: 3 of 9 -> r gets 2 (6/9*3), s gets 1; r at quantiles 1/4, 3/4 of ends 2..12 -> 4 and 10; s: the middle (8).
    # B: 3 of 4 at one end index, by distance 10..40 -> positions int((j+.5)*4/3) = 0, 2, 3: 10, 30, 40;
    # run order within one end index is file order (40, 10, 30).
    assert ids(chosen) == ["a-r4", "a-s8", "a-r10", "b-r40", "b-r10", "b-r30"]
    assert ids(Selection(per_context=3).apply(data)) == ids(chosen), "deterministic"
    assert ids(Selection(per_context=1).apply(data)) == ["a-r8", "b-r30"], "each context covered"
    assert ids(Selection(per_context=99).apply(data)) == ids(Selection().apply(data))  # N over the count: all
    # --limit afterwards takes the first N of the selection, in run order.
    assert ids(Selection(per_context=3, limit=4).apply(data)) == ["a-r4", "a-s8", "a-r10", "b-r40"]


def test_spread_keeps_each_type_in_proportion():
    qs = [q(f"x{i}", "C", "big" if i % 4 else "small", i) for i in range(40)]  # 30 big, 10 small
    picked = spread(qs, 8)
    assert [p.type for p in picked].count("small") == 2 and len(picked) == 8
    ends = sorted(p.end_index for p in picked)
    assert ends[0] < 10 and ends[-1] > 30, "early and late positions both taken"


def test_questions_file_lines_comments_json_and_unknown_ids(tmp_path):
    data = hand_task()
    f = tmp_path / "val.txt"
    f.write_text("# validation questions\nb-r20\n\na-s4   # trailing comment\nb-r20\n  a-r12\n")
    qfile = read_questions_file(f)
    assert qfile.ids == ("b-r20", "a-s4", "a-r12") and qfile.name == "val.txt"
    assert qfile.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    # Run order, not file order: context A (first seen) by end index, then B.
    assert ids(Selection(questions=qfile).apply(data)) == ["a-s4", "a-r12", "b-r20"]
    j = tmp_path / "val.json"
    j.write_text(json.dumps(["a-r12", "a-s4", "b-r20"]))
    assert read_questions_file(j).ids_sha256 == qfile.ids_sha256, "the same ids hash the same in any layout"
    bad = tmp_path / "bad.txt"
    bad.write_text("a-r2\nnope-1\nnope-2\n")
    with pytest.raises(RunError) as exc:
        Selection(questions=read_questions_file(bad)).apply(data)
    msg = str(exc.value)
    assert "2 of its 3 ids are not questions of task 'hand': nope-1, nope-2" in msg
    assert "remove those ids" in msg and "--data-dir" in msg
    from comam_bench.api import BadRow

    data.bad_rows.append(BadRow("q.csv", 3, "nope-2", "no options"))
    many = tmp_path / "many.txt"
    many.write_text("\n".join(["nope-2"] + [f"x{i}" for i in range(6)]))
    with pytest.raises(RunError) as exc:
        Selection(questions=read_questions_file(many)).apply(data)
    assert "7 of its 7 ids" in str(exc.value) and "x3 (and 2 more)" in str(exc.value)
    assert "1 of them are rows the task skips as bad" in str(exc.value)
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(RunError, match="lists no question ids"):
        read_questions_file(tmp_path / "empty.txt")
    (tmp_path / "broken.json").write_text('["a", ')
    with pytest.raises(RunError, match="not a JSON list"):
        read_questions_file(tmp_path / "broken.json")


def config(tmp_path, **kw):
    return runner_config(tmp_path, **{"batch_size": 2, **kw})


def test_per_context_run_records_its_selection_and_resources(tmp_path):
    record = Run(config(tmp_path, limit_per_context=3)).execute()
    assert "--pc3--" in record["run_id"]
    assert record["spec"]["selection"] == {"per_context": 3, "per_context_method": "type-stratified-spread/1"}
    sel = record["selection"]
    assert sel["n_selected"] == record["scores"]["n"] == 6 and sel["n_available"] == 28
    assert [c["selected"] for c in sel["by_context"].values()] == [3, 3]
    assert sel["rule"].startswith("up to 3 per context")
    peaks = record["resources"]["peak_rss_mb"]
    assert peaks["main"] > 10 and "workers" not in peaks  # a sequential run: one process
    assert RunRecord.from_dict(record).peak_rss_mb == peaks["main"]
    assert record["resources"]["session_wall_seconds"] > 0 and record["resources"]["cpu_seconds"]["main"] > 0
    from comam_bench.view.load import RunView

    header = RunView(tmp_path / "results" / "runs" / record["run_id"]).header()  # what `comam-bench view` shows
    assert header["peak_rss_mb"] == peaks["main"] and header["selection"] == sel["rule"]
    plain = Run(config(tmp_path, limit=3)).execute()
    assert "selection" not in plain["spec"], "a plain run's spec (and hash) is unchanged"
    assert plain["selection"]["rule"] == "the first 3 in run order"
    assert len(plain["selection"]["by_context"]) == 2 and plain["task"]["n_contexts"] == 1


def test_per_context_run_resumes_only_with_the_same_selection(tmp_path):
    full = Run(config(tmp_path, run_id="full", limit_per_context=4)).execute()
    helpers_systems.FAIL_AFTER["n"] = 5
    try:
        with pytest.raises(KeyboardInterrupt):
            Run(config(tmp_path, run_id="cut", limit_per_context=4)).execute()
    finally:
        helpers_systems.FAIL_AFTER["n"] = -1
    with pytest.raises(RunError, match="different spec.*selection"):
        Run(config(tmp_path, run_id="cut", limit_per_context=5, resume=True)).execute()
    resumed = Run(config(tmp_path, run_id="cut", limit_per_context=4, resume=True)).execute()
    rows = [json.loads(x) for x in (tmp_path / "results" / "runs" / "cut" / "samples.jsonl").read_text().splitlines()]
    done = {r["question_id"] for r in rows}
    assert len(rows) == len(done) == 8
    full_rows = (tmp_path / "results" / "runs" / "full" / "samples.jsonl").read_text().splitlines()
    assert done == {json.loads(x)["question_id"] for x in full_rows}
    assert resumed["selection"] == full["selection"]


def test_questions_file_run_id_spec_and_record(tmp_path):
    from comam_bench.data import load_task

    data = load_task("personamem-mini")
    wanted = [data.questions[20].id, data.questions[3].id, data.questions[15].id]
    f = tmp_path / "val.txt"
    f.write_text("# three\n" + "\n".join(wanted) + "\n")
    record = Run(config(tmp_path, questions_file=str(f))).execute()
    qfile = read_questions_file(f)
    assert f"--q3-{qfile.ids_sha256[:8]}--" in record["run_id"]
    assert record["spec"]["selection"] == {"questions": {"ids_sha256": qfile.ids_sha256, "count": 3}}
    assert record["selection"]["questions_file"] == {"name": "val.txt", "sha256": qfile.sha256,
                                                     "ids_sha256": qfile.ids_sha256, "count": 3}
    answered = [json.loads(x)["question_id"] for x in
                (tmp_path / "results" / "runs" / record["run_id"] / "samples.jsonl").read_text().splitlines()]
    assert sorted(answered) == sorted(wanted) and record["scores"]["n"] == 3
    assert str(tmp_path) not in json.dumps(record["selection"]), "no path of this machine"
    f.write_text("nope\n")
    with pytest.raises(RunError, match="1 of its 1 ids are not questions of task 'personamem-mini': nope"):
        Run(config(tmp_path, questions_file=str(f))).prepare()
    assert not (tmp_path / "results" / "runs").exists() or len(list((tmp_path / "results" / "runs").iterdir())) == 1


def test_per_context_threads_give_the_sequential_records(tmp_path):
    base = dict(task="synthetic-32k", system="helpers_systems:Stateful", run_id="r", limit_per_context=3)
    Run(config(tmp_path, results_dir=tmp_path / "seq", **base)).execute()
    par = Run(config(tmp_path, results_dir=tmp_path / "par", parallel=3, **base)).execute()
    seq, _ = assert_same_run(tmp_path)
    assert par["execution"]["mode"] == "threads" and "workers" not in par["resources"]["peak_rss_mb"]
    assert all(c["selected"] == 3 for c in seq["selection"]["by_context"].values())


def test_limit_per_context_must_be_positive(tmp_path):
    with pytest.raises(Exception, match="--limit-per-context 0"):
        Run(config(tmp_path, limit_per_context=0)).prepare()


def test_cli_selection_options(tmp_path):
    from helpers_cli import cli

    f = tmp_path / "ids.txt"
    f.write_text("# one known, one not\nc1282b74-f4b6-4ce2-9bbf-e869f0be27de\nnot-an-id\n")
    common = ["run", "--system", "longest-option", "--results-dir", tmp_path / "res"]
    bad = cli(common + ["--questions", f], tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "1 of its 2 ids are not questions of task 'personamem-mini': not-an-id" in " ".join(bad.stderr.split())
    missing = cli(common + ["--questions", tmp_path / "nope.txt"], tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    ok = cli(common + ["--limit-per-context", "2"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "questions: up to 2 per context" in ok.stdout and "peak memory:" in ok.stdout
    assert list((tmp_path / "res" / "runs").iterdir())[0].name.startswith(
        "personamem-mini--longest-option--no-llm--s0--pc2--")
