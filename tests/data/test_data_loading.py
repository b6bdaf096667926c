"""PersonaMem loading: labels, cell parsers, bad rows, file errors, file sources (local, hub, synthetic)."""
from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from comam_bench.api import QUESTION_TYPES, Message
from comam_bench.data import DataError, load_task
from comam_bench.data import hub
from comam_bench.data.labels import LABEL_TO_CANONICAL, UnknownLabelError, canonical_type
from comam_bench.data.personamem import parse_gold, parse_int, parse_options
from helpers_paths import FIXTURES, REPO

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

FIX = FIXTURES / "data"
SHARED = Path(os.environ.get("COMAM_BENCH_SHARED", REPO.parent / "shared")) / "data" / "personamem"
REVISION = "2d676b2aeeddd1ee2ff4ff611bf867fcb2261d6e"


def real(folder: str) -> Path:
    path = SHARED / folder
    if not path.is_dir():
        pytest.skip(f"real PersonaMem files not found at {path} (set COMAM_BENCH_SHARED to the shared folder)")
    return path


# --------------------------------------------------------------------------- labels
def test_every_label_maps_into_the_seven_types_and_canonical_names_map_to_themselves():
    assert set(LABEL_TO_CANONICAL.values()) == set(QUESTION_TYPES)
    for name in QUESTION_TYPES:
        assert LABEL_TO_CANONICAL[name] == name


@pytest.mark.parametrize("label, canonical", [
    ("recalling_facts_mentioned_by_the_user", "recall_user_shared_facts"),
    ("recalling_the_latest_user_preferences", "acknowledge_latest_preferences"),
    ("acknowledge_latest_user_preferences", "acknowledge_latest_preferences"),
    ("identifying_new_things_not_mentioned_by_the_user", "suggest_new_ideas"),
    ("tracking_the_full_sequence_of_preference_updates", "track_full_preference_evolution"),
    ("track_full_preference_updates", "track_full_preference_evolution"),
    ("recalling_the_reasons_behind_previous_updates", "revisit_reasons_behind_preference_updates"),
    ("recommendation_aligned_with_users_latest_preferences", "provide_preference_aligned_recommendations"),
    ("generalizing_past_reasons_in_memory_to_new_scenarios", "generalize_to_new_scenarios"),
    ("generalizing_to_new_scenarios", "generalize_to_new_scenarios"),
    (" recall_user_shared_facts ", "recall_user_shared_facts"),
])
def test_known_labels(label, canonical):
    assert canonical_type(label) == canonical


def test_unknown_label_names_label_and_file():
    with pytest.raises(UnknownLabelError) as err:
        canonical_type("recall_everything", file="questions_32k.csv")
    assert "'recall_everything'" in str(err.value) and "questions_32k.csv" in str(err.value)


# --------------------------------------------------------------------------- cell parsers
@pytest.mark.parametrize("cell, value", [("7", 7), (" -2 ", -2), ("3.0", 3), ("1e3", 1000),
                                         ("3.5", None), ("", None), ("nan", None), ("n/a", None)])
def test_parse_int(cell, value):
    assert parse_int(cell) == value


def test_parse_options_accepts_python_repr_and_json():
    py, problem = parse_options(str(["(a) it's", "(b) y", "(c) z", "(d) w"]))
    assert py == ("(a) it's", "(b) y", "(c) z", "(d) w") and problem is None
    js, _ = parse_options('["(a) x", "(b) y", "(c) z", "(d) w"]')
    assert js == ("(a) x", "(b) y", "(c) z", "(d) w")


@pytest.mark.parametrize("cell", ["['(a) x', '(b) y'", "['(a) x', '(b) y', '(c) z']", "['a', 'b', 'c', 4]",
                                  "__import__('os').getcwd()", "'(a) x (b) y (c) z (d) w'"])
def test_parse_options_rejects(cell):
    options, problem = parse_options(cell)
    assert options is None and problem


@pytest.mark.parametrize("cell, gold", [("(a)", "a"), (" (D) ", "d"), ("(e)", None), ("a", None), ("(ab)", None)])
def test_parse_gold(cell, gold):
    assert parse_gold(cell) == gold


# --------------------------------------------------------------------------- loading fixtures
EXPECTED_BAD = {
    (4, "q-options-syntax"): "does not parse",
    (5, "q-options-three"): "not a list of 4 strings",
    (6, "q-gold-e"): "'(e)' is not one of (a)-(d)",
    (7, "q-no-context"): "is not in shared_contexts_32k.jsonl",
    (8, "q-negative-end"): "negative end_index_in_shared_context -1",
    (9, "q-end-beyond"): "7 > context length 6",
    (10, "q-good-1"): "duplicate question_id (first at row 1)",
    (11, "q-not-utf8"): "non-UTF-8 bytes in user_question_or_message",
}


def test_load_skips_and_counts_every_bad_row_kind():
    task = load_task("personamem-32k", FIX / "bad_rows")
    assert [q.id for q in task.questions] == ["q-good-1", "q-good-2", "q-good-3"]
    assert {(b.row, b.id) for b in task.bad_rows} == set(EXPECTED_BAD)
    for b in task.bad_rows:
        assert EXPECTED_BAD[(b.row, b.id)] in b.problem and b.file == "questions_32k.csv"
    assert task.info["rows_read"] == 11 and task.info["bad_rows"] == 8 and task.info["schema"] == "release"
    assert task.info["source"] == "local" and task.info["size"] == "32k"


def test_load_records_file_hashes_and_keeps_only_used_contexts():
    folder = FIX / "bad_rows"
    task = load_task("personamem-32k", folder)
    assert task.files == {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
                          for n in ("questions_32k.csv", "shared_contexts_32k.jsonl")}
    # the third context line is referenced by no question: not kept
    assert sorted(len(m) for m in task.contexts.values()) == [4, 6]
    assert all(isinstance(m, Message) for msgs in task.contexts.values() for m in msgs)


def test_load_question_fields():
    questions = {q.id: q for q in load_task("personamem-32k", FIX / "bad_rows").questions}
    q = questions["q-good-2"]
    assert (q.type, q.raw_type, q.gold, q.end_index) == (
        "acknowledge_latest_preferences", "recalling_the_latest_user_preferences", "a", 4)
    assert (q.distance_blocks, q.distance_tokens) == (3, 85)  # "3.0" and "85.0" in the file
    assert q.options[0] == "(a) You're a swimmer now, so try aqua aerobics." and len(q.options) == 4
    assert q.options_raw == str(list(q.options))  # the raw cell, verbatim
    assert q.extra["persona_id"] == 0 and q.extra["distance_to_ref_proportion_in_context"] == "40.00%"
    assert q.text == "What should I do this weekend?" and q.topic == "music" and q.evidence is None
    assert questions["q-good-3"].gold == "a" and questions["q-good-3"].distance_blocks is None


def test_prerelease_schema():
    task = load_task("personamem-128k", FIX / "prerelease")
    assert task.info["schema"] == "prerelease" and not task.bad_rows
    q = task.questions[0]
    assert q.text == "Any hobby ideas?" and q.type == "provide_preference_aligned_recommendations"
    assert q.extra["stereotypical"] == "No" and "persona_id" not in q.extra
    assert task.questions[1].type == "track_full_preference_evolution"


def test_unknown_label_stops_a_load_naming_label_and_file():
    with pytest.raises(DataError) as err:
        load_task("personamem-32k", FIX / "unknown_label")
    assert "'make_up_a_label'" in str(err.value) and "questions_32k.csv" in str(err.value)


def test_malformed_jsonl_raises_with_line_number():
    with pytest.raises(DataError, match=r"line 2: not JSON"):
        load_task("personamem-32k", FIX / "malformed_jsonl")


def test_missing_columns_raise():
    with pytest.raises(DataError, match=r"lacks column\(s\) all_options"):
        load_task("personamem-32k", FIX / "missing_columns")


def test_missing_directory_says_use_data_dir(tmp_path):
    with pytest.raises(DataError, match="--data-dir DIR") as err:
        load_task("personamem-32k", tmp_path / "nowhere")
    assert "does not exist" in str(err.value)


def test_missing_contexts_file_raises_on_load(tmp_path):
    shutil.copy(FIX / "bad_rows" / "questions_32k.csv", tmp_path)
    with pytest.raises(DataError, match="no shared-contexts file"):
        load_task("personamem-32k", tmp_path)


def test_non_utf8_context_line_spares_the_other_contexts(tmp_path):
    shutil.copy(FIX / "bad_rows" / "questions_32k.csv", tmp_path)
    lines = (FIX / "bad_rows" / "shared_contexts_32k.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"Swimming", b"Swimm\xefng")  # context B: not UTF-8 any more
    (tmp_path / "shared_contexts_32k.jsonl").write_bytes(b"".join(lines))
    task = load_task("personamem-32k", tmp_path)
    assert [q.id for q in task.questions] == ["q-good-1", "q-good-3"]
    # q-negative-end also uses context B but is already bad for its own row
    broken = [b.id for b in task.bad_rows if "line 2 of shared_contexts_32k.jsonl is not UTF-8" in b.problem]
    assert broken == ["q-good-2"]


# --------------------------------------------------------------------------- file names in --data-dir
def test_fallback_picks_the_only_questions_and_contexts_files(tmp_path):
    shutil.copy(FIX / "prerelease" / "questions_128k.csv", tmp_path / "questions.csv")
    shutil.copy(FIX / "prerelease" / "shared_contexts_128k.jsonl", tmp_path / "shared_contexts.jsonl")
    spec = hub.locate_local({"name": "personamem-1m", "size": "1M", "files": {
        "questions": "questions_1M.csv", "contexts": "shared_contexts_1M.jsonl"}}, tmp_path)
    assert spec.questions.name == "questions.csv" and spec.contexts.name == "shared_contexts.jsonl"
    assert any("picked questions.csv" in n for n in spec.notes)
    assert len(load_task("personamem-1m", tmp_path).questions) == 2


def test_fallback_refuses_a_file_of_another_size(tmp_path):
    shutil.copy(FIX / "bad_rows" / "questions_32k.csv", tmp_path)
    with pytest.raises(DataError, match="has no questions_128k.csv"):
        load_task("personamem-128k", tmp_path)


def test_size_case_in_file_names_is_tolerated(tmp_path):
    shutil.copy(FIX / "prerelease" / "questions_128k.csv", tmp_path / "questions_1m.csv")
    shutil.copy(FIX / "prerelease" / "shared_contexts_128k.jsonl", tmp_path / "shared_contexts_1m.jsonl")
    located = hub.locate(hub_spec("personamem-1m"), tmp_path)
    assert located.questions.name == "questions_1m.csv" and not located.notes


def hub_spec(name: str) -> dict:
    from comam_bench.registry import load_task_spec

    return load_task_spec(name)


# --------------------------------------------------------------------------- Hugging Face hub
def fake_downloader(fail_repos=(), folder: Path | None = None, calls: list | None = None):
    """A stand-in for hf_hub_download that checks its keywords against the real signature."""
    from huggingface_hub import hf_hub_download

    accepted = set(inspect.signature(hf_hub_download).parameters)

    def download(repo_id, filename, **kwargs):
        assert set(kwargs) <= accepted
        if calls is not None:
            calls.append((repo_id, filename, kwargs))
        if repo_id in fail_repos or folder is None:
            raise FileNotFoundError(f"{repo_id}/{filename} not cached")
        return str(folder / filename)

    return download


def test_hub_offline_fails_with_data_dir_advice(monkeypatch):
    calls = []
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_downloader", lambda: fake_downloader(calls=calls))
    with pytest.raises(DataError) as err:
        load_task("personamem-32k")
    message = str(err.value)
    assert "HF_HUB_OFFLINE" in message and "--data-dir DIR" in message and REVISION in message
    assert calls and all(kw["local_files_only"] and kw["revision"] == REVISION and kw["repo_type"] == "dataset"
                         for _, _, kw in calls)


def test_hub_tries_the_v1_alias(monkeypatch):
    calls = []
    monkeypatch.setattr(hub, "offline_reason", lambda timeout=3.0: None)
    monkeypatch.setattr(hub, "_downloader", lambda: fake_downloader(
        fail_repos=("bowen-upenn/PersonaMem",), folder=FIX / "bad_rows", calls=calls))
    task = load_task("personamem-32k")
    assert task.info["source"] == f"hf:bowen-upenn/PersonaMem-v1@{REVISION}"
    assert len(task.questions) == 3 and not calls[-1][2]["local_files_only"]


def test_offline_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub, "_probe", lambda host, port, timeout: False)
    assert "cannot reach huggingface.co:443 within 3 s" == hub.offline_reason()
    monkeypatch.setattr(hub, "_probe", lambda host, port, timeout: True)
    assert hub.offline_reason() is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.offline_reason() == "HF_HUB_OFFLINE is set"


def test_probe_sees_an_open_and_a_closed_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    open_port = server.getsockname()[1]
    assert hub._probe("127.0.0.1", open_port, 3.0)
    server.close()  # nothing listens now: the connection is refused
    assert not hub._probe("127.0.0.1", open_port, 3.0)


# --------------------------------------------------------------------------- synthetic
def test_synthetic_task_generates_once_into_the_cache(monkeypatch, tmp_path):
    calls = []

    def generate(out_dir, preset="mini", seed=0):
        calls.append((Path(out_dir), preset, seed))
        for f in (FIX / "synthetic_mini").iterdir():
            shutil.copy(f, out_dir)

    monkeypatch.setenv("COMAM_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "_generator", lambda: generate)
    task = load_task("personamem-mini")
    from comam_bench.data.synthetic import GENERATOR_VERSION

    assert calls == [(tmp_path / "synthetic" / f"mini-s0-v{GENERATOR_VERSION}", "mini", 0)]
    assert {q.id: q.evidence for q in task.questions} == {"s-1": (1, 3), "s-2": (1,)}
    assert task.info["source"] == "synthetic" and "evidence_mini.jsonl" in task.files
    load_task("personamem-mini")
    assert len(calls) == 1  # cached files are reused


def test_real_synthetic_generator_loads_clean(monkeypatch, tmp_path):
    monkeypatch.setenv("COMAM_BENCH_CACHE", str(tmp_path))
    task = load_task("personamem-mini")
    assert task.questions and not task.bad_rows
    assert all(q.evidence is not None for q in task.questions)


# --------------------------------------------------------------------------- real files, import weight
def test_real_prerelease_128k_loads():
    task = load_task("personamem-128k", real("prerelease_128k"))
    assert len(task.questions) == 270 and not task.bad_rows and task.info["schema"] == "prerelease"
    assert sorted(len(m) for m in task.contexts.values()) == [698, 718]
    assert task.files == {
        "questions_128k.csv": "094c1ba3c209df4bd90b1cc6b5763b706bd724bd17eb3ae8a8de890d844dea18",
        "shared_contexts_128k.jsonl": "41c1ed405f941bb48fe0868b4542df2b4efeadcbf98cd624fa524f69a91cf1b6",
    }


def test_importing_the_data_package_is_light():
    code = ("import sys, comam_bench.data, comam_bench.data.validate, comam_bench.data.hub; "
            "heavy = {'torch', 'transformers', 'datasets', 'huggingface_hub'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
