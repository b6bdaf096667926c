"""Every built-in system, end to end through the real runner, on the synthetic mini task with a tiny model.

The model is a random Llama (transformers, CPU) whose word-level vocabulary comes from the task's texts,
so its outputs are real words in random order: malformed JSON, missing tags, ids that do not exist. That
is the point: each system must survive the garbage a weak model produces, count it, and still answer
every question with a complete run record. Accuracy is not checked (the model knows nothing).
"""
from __future__ import annotations

import json

import pytest

from comam_bench.registry import BUILTIN_SYSTEMS, resolve_system, system_class
from comam_bench.runner import Run, RunConfig

# Systems that parse structured model output (JSON, tags, ids): the random model's garbage must show up
# as counted diagnostics, not vanish silently.
PARSES_OUTPUT = {"mem0", "a-mem", "memory-r1", "memoryos", "comam"}
LIMIT = 16  # crosses into the second context of personamem-mini, so reset() is exercised too


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory):
    from comam_bench.data.synthetic import generate
    from comam_bench.training.tiny import save_tiny_model

    data = tmp_path_factory.mktemp("mini-data")
    generate(data, "mini", seed=0)
    texts = [p.read_text() for p in sorted(data.iterdir())]
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), texts, hidden=32, layers=1, window=2048)


# not-mentioned answers open-ended questions only (LoCoMo); its runs are tested in test_locomo_task.py.
@pytest.mark.parametrize("name", sorted(n for n in BUILTIN_SYSTEMS if n != "not-mentioned"))
def test_system_runs_end_to_end(name, tiny_spec, tmp_path):
    cls = system_class(resolve_system(name))
    cfg = RunConfig(task="personamem-mini", system=name, model=tiny_spec if cls.needs_llm else None,
                    embedder="hash:64", limit=LIMIT, batch_size=4, results_dir=tmp_path)
    record = Run(cfg).execute()

    run_dir = next(tmp_path.glob("runs/*"))
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert record["scores"]["n"] == len(samples) == LIMIT
    assert record["task"]["n_contexts"] == 2
    assert json.loads((run_dir / "run.json").read_text())["scores"]["n"] == LIMIT
    cost = record["cost"]
    if cls.needs_llm:
        assert cost["answer"]["calls"] > 0, "an LLM system must call its model to answer"
        assert cost["per_agent"], "LLM calls are attributed to agents"
    else:
        assert cost["answer"]["calls"] == 0
    if name in PARSES_OUTPUT:
        assert sum(record["diagnostics"].values()) > 0, record["diagnostics"]
    # Every system's answers keep the memory they were given, with no code of its own (comam_bench.keep).
    from comam_bench.keep import read_kept

    kept = read_kept(run_dir)
    assert sorted(kept) == sorted(s["question_id"] for s in samples)
    if cls.needs_llm and name != "no-memory":
        assert any(row["memory"] for row in kept.values()), f"{name}: no memory kept from its prompts"
