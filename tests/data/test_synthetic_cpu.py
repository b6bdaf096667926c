"""The `cpu` preset (task synthetic-cpu, the CPU leaderboard): deterministic, and the shape it was designed
to have (benchmarks/cost_model.py, docs/benchmarks.md#the-cpu-leaderboard-task)."""
from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from comam_bench.api import QUESTION_TYPES
from comam_bench.data import load_task
from comam_bench.data.synthetic import GENERATOR_VERSION, PRESETS, build, count_tokens, file_hashes, generate

SEEDS = (0, 1, 2)


def test_same_seed_same_files_other_seed_differs(tmp_path):
    first, again = generate(tmp_path / "a", "cpu", 0), generate(tmp_path / "b", "cpu", 0)
    other = generate(tmp_path / "c", "cpu", 1)
    for key in first:
        assert first[key].read_bytes() == again[key].read_bytes(), key
        assert first[key].read_bytes() != other[key].read_bytes(), key
    # file_hashes (what a run record's data is checked against) agrees with the written files
    assert file_hashes("cpu", 0) == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in first.values()}


def test_cpu_files_change_only_with_a_version_bump(tmp_path):
    # The committed leaderboard runs name these files by hash: a change must bump GENERATOR_VERSION.
    paths = generate(tmp_path, "cpu", 0)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in paths.values())).hexdigest()
    assert (GENERATOR_VERSION, digest[:16]) == (1, "6beddb52f58a695d")


def test_adding_the_preset_left_the_committed_32k_files_alone():
    # synthetic-32k seed 0 as the committed likelihood runs recorded it (results/runs/synthetic-32k--*--s0)
    assert file_hashes("32k", 0)["questions_32k.csv"] == (
        "5ba74ad1a24255b46ab958d24e07e04d7a081638ba51fea06e0a04e1d9d2526e")


@pytest.mark.parametrize("seed", SEEDS)
def test_one_history_of_60_sessions_and_105_questions_per_seed(seed):
    ctx, = build("cpu", seed)
    sessions = [i for i, m in enumerate(ctx.msgs) if m.role == "system"]
    assert len(sessions) == 60 == PRESETS["cpu"].sessions
    assert len(ctx.items) == 105  # 3 seeds: n = 315 >= 300
    assert Counter(i.qtype for i in ctx.items) == {t: 15 for t in QUESTION_TYPES}
    # short sessions (ingestion per session stays cheap): at most 9 messages, 200-320 generator tokens
    tokens = Counter()
    for m in ctx.msgs:
        tokens[m.session] += count_tokens(m.content)
    assert max(Counter(m.session for m in ctx.msgs).values()) <= 9
    assert 200 <= min(tokens.values()) and max(tokens.values()) <= 320


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from transformers import AutoConfig, AutoTokenizer

    from comam_bench.llm import embedded_model_file

    path = embedded_model_file()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    window = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name).max_position_embeddings
    return tok, window


def test_histories_are_twice_the_embedded_models_window(smollm2_tokenizer):
    tok, window = smollm2_tokenizer
    assert window == 8192
    beyond = 0
    for seed in SEEDS:
        ctx, = build("cpu", seed)
        tokens = [len(tok(m.content, add_special_tokens=False)["input_ids"]) for m in ctx.msgs]
        assert sum(tokens) > 2 * window, seed
        beyond += sum(sum(tokens[:item.end_index]) > window for item in ctx.items)
    # most questions come after more history than the window holds (204 of 315 when designed)
    assert beyond >= 0.6 * 3 * 105


def test_the_task_loads_the_preset(monkeypatch, tmp_path):
    monkeypatch.setenv("COMAM_BENCH_CACHE", str(tmp_path))
    data = load_task("synthetic-cpu")
    assert len(data.questions) == 105 and len({q.context_id for q in data.questions}) == 1
