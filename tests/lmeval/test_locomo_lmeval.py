"""LoCoMo as an lm-eval generate_until task: the exported folder loads with lm-eval's real TaskManager, asks
the harness's own messages, and scores with the harness's F1 (invented conversations, as in test_locomo_task)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("lm_eval")

from comam_bench.lmeval.export import export_lm_eval  # noqa: E402
from comam_bench.protocol import protocol_chat  # noqa: E402
from comam_bench.protocols.locomo_f1 import category_f1  # noqa: E402
from helpers_locomo import invented  # noqa: E402


@pytest.fixture
def exported(tmp_path):
    data = tmp_path / "locomo"
    data.mkdir()
    (data / "locomo10.json").write_text(json.dumps(invented()))
    written = export_lm_eval("locomo", tmp_path / "export", data_dir=str(data))
    return tmp_path / "export", written


def test_open_ended_export_loads_and_scores_like_the_harness(exported):
    from lm_eval.tasks import TaskManager

    from comam_bench.data import load_task
    from comam_bench.lmeval.open_task import process_open_ended

    folder, written = exported
    assert set(written) == {"docs", "contexts", "utils", "open-ended", "readme"}
    task = TaskManager(include_path=str(folder)).load(["locomo-open-ended"])["tasks"]["locomo-open-ended"]
    assert task.OUTPUT_TYPE == "generate_until"
    docs = list(task.test_docs())
    assert len(docs) == 6 and docs[0]["question_id"] == "c1:0"
    prompt = task.fewshot_context(docs[0], 0)
    data = load_task("locomo", folder.parent / "locomo")
    q = next(x for x in data.questions if x.id == "c1:0")
    expected = "".join(f"{m['role']}: {m['content']}\n" for m in protocol_chat(data.contexts["c1"], q)) + "assistant:"
    assert prompt == expected and "<final_answer>" in prompt
    multi = next(d for d in docs if d["category"] == 1)
    answer = "<final_answer>pottery</final_answer>"
    assert process_open_ended(multi, [answer]) == {"f1": category_f1("pottery", multi["gold"], 1)} == {"f1": 0.5}
