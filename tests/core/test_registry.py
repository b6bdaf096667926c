"""The one generic Registry behind systems, trainers, LLM backends and embedders."""
from __future__ import annotations

import pytest

from comam_bench import registry
from comam_bench.llm.embedders import EMBEDDER_REGISTRY
from comam_bench.llm.spec import LLM_BACKENDS, ModelSpecError
from comam_bench.registry import Registry, RegistryError, did_you_mean, suggest


def test_builtins_are_read_by_reference_and_imported_lazily():
    builtins = {"json-dumps": "json:dumps"}
    reg = Registry("codec", builtins)
    builtins["json-loads"] = "json:loads"  # registering a new entry is one line in the dict
    assert reg.names() == ["json-dumps", "json-loads"]
    assert reg.find("json-loads") == ("json:loads", "builtin")
    import json

    assert reg.load("json-loads") is json.loads
    assert reg.target("os.path:join") == "os.path:join"  # an import path stands for itself


def test_unknown_names_get_close_matches_and_the_known_list_in_the_kind_s_error():
    reg = Registry("codec", {"json": "json:dumps", "pickle": "pickle:dumps"}, error=ModelSpecError)
    with pytest.raises(ModelSpecError, match=r"Unknown codec 'jsno'\. Did you mean 'json'\? Known: json, pickle\."):
        reg.target("jsno")
    with pytest.raises(ModelSpecError, match="Known: json, pickle"):
        reg.target("x:y", import_paths=False)
    assert did_you_mean("zzz", ["json"]) == ""
    assert suggest("jsn", ["json"], "Codecs: json.") == " Did you mean 'json'? Codecs: json."


def test_every_kind_of_name_goes_through_a_registry():
    assert registry.SYSTEMS.find("rag") == ("comam_bench.systems.rag:RAG", "builtin")
    assert registry.TRAINERS.find("local") == ("comam_bench.training.local:LocalTrainer", "builtin")
    assert {"hf", "openai", "vllm", "scripted"} <= set(LLM_BACKENDS.names())
    assert {"minilm", "st", "hash"} <= set(EMBEDDER_REGISTRY.names())
    with pytest.raises(RegistryError, match="Did you mean 'local'"):
        registry.TRAINERS.target("locl")


def test_one_include_rule_deep_merges_and_refuses_a_cycle(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\ndescription: d\nfiles: {questions: q.csv, contexts: c.jsonl}\n")
    (tmp_path / "task.yaml").write_text("include: base.yaml\nfiles: {questions: other.csv}\n")
    task = registry.load_task_spec(str(tmp_path / "task.yaml"))
    assert task == {"name": "task", "files": {"questions": "other.csv", "contexts": "c.jsonl"}}
    (tmp_path / "a.yaml").write_text("include: b.yaml\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\n")
    with pytest.raises(RegistryError, match="deeper than 8"):
        registry.load_task_spec(str(tmp_path / "a.yaml"))
