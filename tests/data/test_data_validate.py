"""`data validate`: facts on hand-made fixtures (hand-counted) and on the real PersonaMem files (PROVENANCE.md)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from comam_bench.data import DataError, load_task, validate_task
from comam_bench.data.validate import context_id_hash
from helpers_paths import FIXTURES, REPO

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

FIX = FIXTURES / "data"
SHARED = Path(os.environ.get("COMAM_BENCH_SHARED", REPO.parent / "shared")) / "data" / "personamem"


def real(folder: str) -> Path:
    path = SHARED / folder
    if not path.is_dir():
        pytest.skip(f"real PersonaMem files not found at {path} (set COMAM_BENCH_SHARED to the shared folder)")
    return path


def counts(facts: dict, *keys: str) -> tuple:
    return tuple(facts[k] for k in keys)


# --------------------------------------------------------------------------- fixtures, counted by hand
def test_bad_rows_fixture_facts():
    report = validate_task("personamem-32k", FIX / "bad_rows")
    f = report.facts
    assert (f["rows"], f["unique_question_ids"], f["rows_with_repeated_question_id"]) == (11, 10, 1)
    assert f["labels_raw"] == {"suggest_new_ideas": 9, "recall_user_shared_facts": 1,
                               "recalling_the_latest_user_preferences": 1}
    assert f["labels_canonical"] == {"suggest_new_ideas": 9, "recall_user_shared_facts": 1,
                                     "acknowledge_latest_preferences": 1}
    assert f["gold"] == {"(A)": 1, "(a)": 8, "(b)": 1, "(e)": 1}
    assert (f["options_literal_eval_failures"], f["options_not_4_strings"], f["options_json_valid"]) == (1, 1, 7)
    assert (f["options_with_a_to_d_prefixes"], f["rows_with_duplicated_option_texts"]) == (9, 2)
    assert f["end_index_range"] == [-1, 7] and f["end_index_negative"] == 1
    assert counts(f, "contexts_referenced", "contexts_present", "contexts_missing", "contexts_unused") == (3, 3, 1, 1)
    # context A (6 messages): ends 5 (last message) and 7 (beyond); context B (4): end 4 (the whole context)
    assert (f["end_index_last_message"], f["end_index_whole_context"], f["end_index_out_of_range"]) == (1, 1, 1)
    assert f["context_id_hash_matches"] == "2/3"  # the third line's id is not its hash
    assert [c["rows"] for c in f["contexts"].values()] == [8, 2, 1]
    assert len(report.bad_rows) == 8 and not report.ok


def test_validate_lists_the_rows_a_run_skips():
    report = validate_task("personamem-32k", FIX / "bad_rows")
    task = load_task("personamem-32k", FIX / "bad_rows")
    assert [(b.row, b.id, b.problem) for b in report.bad_rows] == [(b.row, b.id, b.problem) for b in task.bad_rows]


def test_unknown_label_is_a_bad_row_in_validate():
    report = validate_task("personamem-32k", FIX / "unknown_label")
    assert report.facts["unknown_labels"] == {"make_up_a_label": 1}
    assert [(b.row, b.id) for b in report.bad_rows] == [(2, "q-odd-label")]
    assert "unknown question_type 'make_up_a_label'" in report.bad_rows[0].problem


def test_questions_without_contexts_validate(tmp_path):
    shutil.copy(FIX / "bad_rows" / "questions_32k.csv", tmp_path)
    report = validate_task("personamem-32k", tmp_path)
    f = report.facts
    assert f["contexts_present"] is None and f["contexts_missing"] == 3 and f["context_id_hash_matches"] == "0/0"
    assert report.files["contexts"] is None and not report.ok
    assert report.bad_rows[0].row == 0 and "3 referenced contexts missing" in report.bad_rows[0].problem
    # row-level problems are still found; context-dependent ones cannot be
    assert {b.id for b in report.bad_rows[1:]} == {"q-options-syntax", "q-options-three", "q-gold-e",
                                                   "q-negative-end", "q-good-1", "q-not-utf8"}


def test_malformed_files_raise_in_validate_too():
    with pytest.raises(DataError, match="all_options"):
        validate_task("personamem-32k", FIX / "missing_columns")
    with pytest.raises(DataError, match="line 2: not JSON"):
        validate_task("personamem-32k", FIX / "malformed_jsonl")


def test_context_id_hash_uses_the_dict_repr():
    context = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    text = "{'role': 'user', 'content': 'hi'} {'role': 'assistant', 'content': 'yo'}"
    assert context_id_hash(context) == hashlib.sha256(text.encode()).hexdigest()


def test_as_dict_is_json_and_render_lists_bad_rows():
    report = validate_task("personamem-32k", FIX / "bad_rows")
    data = report.as_dict()
    assert json.loads(json.dumps(data)) == data and data["ok"] is False
    assert data["bad_rows"][0] == {"file": "questions_32k.csv", "row": 4, "id": "q-options-syntax",
                                   "problem": "all_options does not parse as a Python literal"}
    text = report.render(max_bad_rows=2)
    assert "PROBLEMS FOUND" in text and "row 4 id q-options-syntax" in text and "... 6 more" in text


def test_clean_fixture_is_ok():
    report = validate_task("personamem-128k", FIX / "prerelease")
    assert report.ok and report.facts["schema"] == "prerelease" and report.facts["context_id_hash_matches"] == "2/2"


# --------------------------------------------------------------------------- real files (PROVENANCE.md)
OPTION_FACTS = ("options_literal_eval_failures", "options_json_valid", "rows_with_duplicated_option_texts")

def test_real_prerelease_128k():
    report = validate_task("personamem-128k", real("prerelease_128k"))
    f = report.facts
    assert f["schema"] == "prerelease" and f["rows"] == 270 and f["unique_question_ids"] == 270
    assert f["labels_raw"] == {
        "recalling_facts_mentioned_by_the_user": 70, "recalling_the_latest_user_preferences": 70,
        "recommendation_aligned_with_users_latest_preferences": 70,
        "identifying_new_things_not_mentioned_by_the_user": 32,
        "generalizing_past_reasons_in_memory_to_new_scenarios": 20,
        "recalling_the_reasons_behind_previous_updates": 8}
    assert f["gold"] == {"(a)": 65, "(b)": 68, "(c)": 70, "(d)": 67}
    assert counts(f, "contexts_referenced", "contexts_present", "contexts_missing", "contexts_unused") == (2, 2, 0, 0)
    assert f["end_index_range"] == [697, 717] and f["end_index_last_message"] == 270
    assert {c["end_index_range"][0]: c["rows"] for c in f["contexts"].values()} == {697: 135, 717: 135}
    assert counts(f, *OPTION_FACTS) == (0, 78, 8)
    assert f["context_id_hash_matches"] == "2/2" and not report.bad_rows
    assert any("2727" in n for n in report.notes)  # a pre-release copy, not the released 128k file


def test_real_release_32k_without_contexts():
    report = validate_task("personamem-32k", real("release_32k"))
    f = report.facts
    assert f["schema"] == "release" and f["rows"] == 589 and f["unique_question_ids"] == 589
    assert f["labels_raw"] == {
        "recall_user_shared_facts": 129, "provide_preference_aligned_recommendations": 55, "suggest_new_ideas": 93,
        "recalling_the_reasons_behind_previous_updates": 99, "track_full_preference_evolution": 139,
        "generalizing_to_new_scenarios": 57, "recalling_facts_mentioned_by_the_user": 17}
    assert f["labels_canonical"]["recall_user_shared_facts"] == 146  # 129 + 17: see the 32k note in labels.py
    assert f["gold"] == {"(a)": 143, "(b)": 146, "(c)": 158, "(d)": 142}
    assert f["contexts_referenced"] == 37 and f["contexts_missing"] == 37 and f["end_index_range"] == [96, 237]
    assert counts(f, *OPTION_FACTS) == (0, 286, 17)
    assert [b.row for b in report.bad_rows] == [0]


def test_real_1m_sample_through_the_file_name_fallback():
    report = validate_task("personamem-1m", real("prerelease_1m_sample"))
    f = report.facts
    assert report.files["questions"]["name"] == "questions.csv"
    assert any("picked questions.csv" in n for n in report.notes)
    assert (f["rows"], f["contexts_referenced"], f["end_index_range"]) == (460, 2, [3659, 3894])
    assert counts(f, *OPTION_FACTS, "rows_with_negative_distance") == (0, 134, 14, 5)


def test_a_context_id_on_two_lines_is_unusable_in_load_and_validate(tmp_path):
    shutil.copy(FIX / "prerelease" / "questions_128k.csv", tmp_path)
    lines = (FIX / "prerelease" / "shared_contexts_128k.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "shared_contexts_128k.jsonl").write_text(lines[0] + lines[1] + lines[0])
    task = load_task("personamem-128k", tmp_path)
    report = validate_task("personamem-128k", tmp_path)
    assert [q.id for q in task.questions] == ["p-2"]  # p-1 uses the context written twice
    expected = [(1, "p-1", "context id appears on lines 1 and 3 of shared_contexts_128k.jsonl")]
    assert [(b.row, b.id, b.problem) for b in task.bad_rows] == expected
    assert [(b.row, b.id, b.problem) for b in report.bad_rows] == expected
    assert report.facts["contexts_broken"] == 1
