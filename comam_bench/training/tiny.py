"""A tiny random Llama and a word-level tokenizer built from the training texts: smoke runs with no download.

The model knows nothing, so a smoke run checks the machinery (rollouts, rewards, credit, updates,
checkpoints, the final evaluation), not learning. The tokenizer splits on whitespace and punctuation and
knows every word of the texts it is built from, so sampled text is made of real words and tags
("< final_answer >" still parses: the tag scanner and the scorer allow spaces).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

SPECIALS = ["<pad>", "<eos>", "<unk>"]
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}assistant : {% endif %}")
_PIECES = re.compile(r"\w+|[^\w\s]")


def vocabulary(texts: Iterable[str], limit: int = 4000) -> list[str]:
    """Specials, then the `limit` most frequent words and symbols of `texts` (ties alphabetical)."""
    counts: dict[str, int] = {}
    for text in texts:
        for piece in _PIECES.findall(text):
            counts[piece] = counts.get(piece, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return SPECIALS + [w for w in ranked if w not in SPECIALS][:limit]


def build_tokenizer(words: list[str]):
    """A fast word-level tokenizer over `words` with a minimal chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    out = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    out.chat_template = CHAT_TEMPLATE
    return out


def save_tiny_model(directory: str | Path, texts: Iterable[str], *, hidden: int = 48, layers: int = 2,
                    window: int = 4096, seed: int = 0) -> str:
    """Write a random LlamaForCausalLM and its tokenizer to `directory`; returns the model spec hf:DIR."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = build_tokenizer(vocabulary(texts))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=window, eos_token_id=1, pad_token_id=0, bos_token_id=None,
                         tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return f"hf:{directory.resolve()}"
