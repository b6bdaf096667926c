"""Model specs: parsing, aliases, suggestions, option checking, the scripted and vLLM backends by spec."""
from __future__ import annotations

import subprocess
import sys
import types

import pytest

from comam_bench.llm import (
    BackendError,
    ModelLoadError,
    ModelSpecError,
    backend_names,
    embedded_model_file,
    load_llm,
    parse_model_spec,
)
from comam_bench.llm.spec import ModelSpec, take_options


# --------------------------------------------------------------------------- parsing
def test_parse_backend_target_and_options_in_order():
    ms = parse_model_spec("openai:Qwen2.5-3B,base_url=http://gpu1:8000/v1,timeout=30")
    assert ms == ModelSpec("openai", "Qwen2.5-3B", {"base_url": "http://gpu1:8000/v1", "timeout": "30"})
    assert list(ms.options) == ["base_url", "timeout"]
    assert str(ms) == "openai:Qwen2.5-3B,base_url=http://gpu1:8000/v1,timeout=30"


def test_parse_hf_paths_and_hub_ids():
    assert parse_model_spec("hf:/models/a=b/x.gguf").target == "/models/a=b/x.gguf"  # '=' in a path is no option
    assert parse_model_spec("hf:HuggingFaceTB/SmolLM2-135M-Instruct,dtype=bfloat16") == ModelSpec(
        "hf", "HuggingFaceTB/SmolLM2-135M-Instruct", {"dtype": "bfloat16"})
    assert parse_model_spec("HF:/x").backend == "hf"  # backend names are case-insensitive


def test_bare_gguf_or_existing_path_means_hf(tmp_path):
    assert parse_model_spec("model.gguf,window=512") == ModelSpec("hf", "model.gguf", {"window": "512"})
    assert parse_model_spec(str(tmp_path)) == ModelSpec("hf", str(tmp_path), {})


def test_scripted_spec_with_option_only():
    ms = parse_model_spec("scripted:constant=<final_answer>(a)")
    assert ms == ModelSpec("scripted", "", {"constant": "<final_answer>(a)"})


@pytest.mark.parametrize("alias", ["smollm2", "default"])
def test_aliases_keep_their_options(alias):
    ms = parse_model_spec(f"{alias},window=2048")
    assert (ms.backend, ms.alias, ms.options) == ("hf", alias, {"window": "2048"})


@pytest.mark.parametrize("spec, fragment", [
    ("", "empty model spec"),
    ("openia:gpt", "Did you mean 'openai'"),
    ("smolm2", "Did you mean 'smollm2'"),
    ("Qwen/Qwen2.5-3B", "hf:Qwen/Qwen2.5-3B"),
    ("hf:/x,window=1,window=2", "twice"),
    ("hf:/x,dtype=float32,/y", "neither the target"),
])
def test_invalid_specs_explain(spec, fragment):
    with pytest.raises(ModelSpecError) as err:
        parse_model_spec(spec)
    assert fragment in str(err.value)


def test_secret_in_spec_is_refused_without_echoing_it():
    with pytest.raises(ModelSpecError) as err:
        parse_model_spec("openai:gpt,api_key=sk-very-secret")
    assert "sk-very-secret" not in str(err.value)
    assert "key_env" in str(err.value)


def test_errors_are_model_load_errors():
    assert issubclass(ModelSpecError, ModelLoadError)
    assert not issubclass(BackendError, ModelLoadError)


def test_backend_names_are_the_builtins():
    assert {"hf", "openai", "vllm", "scripted"} <= set(backend_names())


# --------------------------------------------------------------------------- options
def test_take_options_converts_and_suggests():
    ms = ModelSpec("hf", "x", {"window": "512", "batch_size": "4"})
    opts = take_options(ms, {"window": int, "batch_size": int, "dtype": str}, {"dtype": "auto", "window": None})
    assert opts == {"dtype": "auto", "window": 512, "batch_size": 4}
    with pytest.raises(ModelSpecError, match="Did you mean 'window'"):
        take_options(ModelSpec("hf", "x", {"windw": "5"}), {"window": int}, {})
    with pytest.raises(ModelSpecError, match="window='big'"):
        take_options(ModelSpec("hf", "x", {"window": "big"}), {"window": int}, {})


def test_unknown_hf_option_fails_before_loading_anything():
    with pytest.raises(ModelSpecError, match="Did you mean 'dtype'"):
        load_llm("smollm2,dtpye=float16")


# --------------------------------------------------------------------------- loading by spec
def test_load_scripted_sets_spec_and_answers():
    llm = load_llm("scripted:constant=<final_answer>(b),window=1000")
    assert llm.spec == "scripted:constant=<final_answer>(b),window=1000"
    assert llm.context_window == 1000
    out = llm.generate([[{"role": "user", "content": "q"}]] * 2)
    assert [g.text for g in out] == ["<final_answer>(b)"] * 2


def test_embedded_model_file_is_the_packaged_gguf():
    path = embedded_model_file()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_import_stays_light():
    code = ("import sys, comam_bench.llm, comam_bench.llm.hf, comam_bench.llm.http, comam_bench.llm.vllm_backend;"
            "heavy = [m for m in ('torch', 'transformers', 'httpx', 'vllm', 'sentence_transformers') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------- vLLM (no GPU here)
def test_vllm_missing_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(ModelLoadError, match="needs a GPU machine with `pip install vllm`"):
        load_llm("vllm:/models/qwen,tensor_parallel_size=2")


class _FakeTokenizer:
    """Characters as tokens; the 'template' joins contents with '|'."""

    def apply_chat_template(self, chat, add_generation_prompt, tokenize):
        return "|".join(m["content"] for m in chat) + ">"

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]


class _FakeEngine:
    """Just enough of vllm.LLM: echoes the last 3 prompt tokens back as text."""

    def __init__(self, model, **kwargs):
        self.kwargs = kwargs
        max_len = kwargs.get("max_model_len") or 64
        self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=max_len, dtype="bf16"))
        self.calls = []

    def get_tokenizer(self):
        return _FakeTokenizer()

    def generate(self, prompts, params, use_tqdm=False):
        self.calls.append((prompts, params))
        return [types.SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=[types.SimpleNamespace(
            text="".join(chr(t) for t in p["prompt_token_ids"][-3:]), token_ids=[1, 2])]) for p in prompts]


def test_vllm_backend_batches_truncates_and_seeds(monkeypatch):
    fake = types.ModuleType("vllm")
    fake.LLM = _FakeEngine
    fake.SamplingParams = lambda **kw: kw
    monkeypatch.setitem(sys.modules, "vllm", fake)
    llm = load_llm("vllm:/models/x,max_model_len=20,gpu_memory_utilization=0.5")
    assert llm.engine.kwargs == {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.5, "max_model_len": 20,
                                 "dtype": "auto"}
    chats = [[{"role": "user", "content": "abc"}], [{"role": "user", "content": "0123456789" * 3}]]
    out = llm.generate(chats, max_new_tokens=5, temperature=0.7, seed=10)
    assert [g.text for g in out] == ["bc>", "89>"]
    assert [g.prompt_tokens for g in out] == [4, 15]  # the second cut from the left to 20 - 5 tokens
    assert llm.truncated_prompts == 1
    prompts, params = llm.engine.calls[0]
    assert prompts[1]["prompt_token_ids"] == [ord(c) for c in ("0123456789" * 3 + ">")[-15:]]
    assert [p["seed"] for p in params] == [10, 11]
    assert llm.identity()["backend"] == "vllm"
