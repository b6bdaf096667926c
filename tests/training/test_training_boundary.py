"""train.reuse_rollout_states (training/boundary.py): the update runs only the adapted top layers on the
hidden states the rollout recorded below them. Checked on a tiny random Llama whose LoRA adapts only its
top layer: the recorded states are the plain forward's, and log-probabilities and LoRA gradients from them
equal the plain path's (float rounding aside), for a shared-prompt group and for prompts of several lengths."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from comam_bench.training.boundary import Recorder  # noqa: E402
from comam_bench.training.update import completion_logprobs  # noqa: E402


def tiny_base(layers: int = 3, top: int = 1):
    from transformers import LlamaConfig, LlamaForCausalLM

    from comam_bench.llm.hf import TransformersLLM
    from comam_bench.training.policies import PolicyBase
    from comam_bench.training.tiny import build_tokenizer

    torch.manual_seed(0)
    words = ["<pad>", "<eos>", "<unk>"] + [f"w{i}" for i in range(37)]
    model = LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=0))
    lora = SimpleNamespace(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"], top_layers=top)
    base = PolicyBase(TransformersLLM(model, build_tokenizer(words), spec="tiny", window=64), ["agent"], lora)
    for p in base.parameters("agent"):  # LoRA B starts at zero: move it, so the adapter changes the logits
        torch.nn.init.normal_(p, std=0.1)
    return base


def sample(base, prompts, new_tokens=5, seed=3):
    """Sampled completions of `prompts` through the hf decoding loop with a recorder attached."""
    from comam_bench.api import Generation

    base.base.recorder = Recorder(base.first_adapted)
    with base.active("agent"):
        outputs = base.base._decode(prompts, new_tokens, 1.0, base.base._generator(seed), stop=[])
    recorder, base.base.recorder = base.base.recorder, None
    return recorder, [Generation("", len(p), len(o), p, o) for p, o in zip(prompts, outputs)]


def logprobs_and_grad(base, samples, boundary, share=False):
    with base.active("agent"):
        logp, mask = completion_logprobs(base.model, samples, pad_id=0, temperature=0.7, boundary=boundary,
                                         share_prompt=share)
    (logp * mask).sum().backward()
    grad = torch.cat([p.grad.flatten() for p in base.parameters("agent")])
    for p in base.parameters("agent"):
        p.grad = None
    return (logp * mask).detach(), mask, grad


@pytest.mark.parametrize("prompts,new", [([[5, 6, 7, 8]] * 3, 5), ([[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15]], 5),
                                         ([[5, 6, 7, 8]] * 2, 1)], ids=["shared-prompt", "different-lengths", "one-token"])
def test_recorded_states_give_the_plain_logprobs_and_gradients(prompts, new):
    base = tiny_base()
    assert base.first_adapted == 2  # 3 layers, the top one adapted
    recorder, samples = sample(base, prompts, new)
    states = recorder.lookup(samples)
    assert [s.shape for s in states] == [(len(p) + new - 1, 32) for p in prompts]  # prompt + completion but its last
    # They are what a plain forward feeds layer 2 (hidden_states[2]), token by token.
    for s, h in zip(samples, states):
        with torch.no_grad():
            plain = base.model(input_ids=torch.tensor([s.prompt_ids + s.completion_ids[:-1]]),
                               output_hidden_states=True).hidden_states[2][0]
        assert torch.allclose(h, plain, atol=1e-5)
    plain_logp, mask, plain_grad = logprobs_and_grad(base, samples, None)
    assert plain_grad.abs().sum() > 0
    for share in (False, True):  # share_prompt: a shared prompt's states run the adapted layers once
        fast_logp, fast_mask, fast_grad = logprobs_and_grad(base, samples, (states, recorder.layer), share)
        assert torch.equal(mask, fast_mask)
        assert torch.allclose(plain_logp, fast_logp, atol=1e-5)
        assert torch.allclose(plain_grad, fast_grad, atol=1e-5)


def test_a_sample_without_recorded_states_takes_the_plain_path():
    from comam_bench.api import Generation

    base = tiny_base()
    recorder, samples = sample(base, [[5, 6, 7]])
    other = Generation("", 3, 2, [5, 6, 7], [20, 21])  # never sampled: nothing recorded
    assert recorder.lookup(samples) is not None and recorder.lookup(samples + [other]) is None
    recorder.clear()
    assert recorder.lookup(samples) is None


def test_training_with_reused_states_ends_where_the_plain_run_ends(tmp_path, monkeypatch):
    """Two local-trainer steps with and without train.reuse_rollout_states: the same samples and rewards, and
    adapters equal up to float rounding; the fast path ran for every update batch."""
    import json

    from comam_bench.training import boundary, policies as P
    from comam_bench.training.local import LocalTrainer
    from test_training_local import snapshot, tiny_recipe

    calls = []
    real = boundary.top_logits
    monkeypatch.setattr(boundary, "top_logits", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(LocalTrainer, "release", lambda self: None)
    built = []
    real_build = P.build_policies
    monkeypatch.setattr(P, "build_policies", lambda *a, **k: built.append(real_build(*a, **k)) or built[-1])
    rows, params = [], []
    for reuse in (False, True):
        recipe = tiny_recipe(tmp_path / str(reuse), lora={"top_layers": 1},
                             train={"reuse_rollout_states": reuse, "max_steps": 2})
        result = LocalTrainer().train(recipe)
        rows.append([json.loads(line) for line in open(result.metrics) if '"train"' in line])
        params.append({k.split("|", 1)[1]: v for k, v in snapshot(built[-1]).items()})  # keys without the path
        assert bool(calls) == reuse
    keys = [k for k in rows[0][0] if k.startswith(("reward/", "tokens/"))]
    assert keys and [[r[k] for k in keys] for r in rows[0]] == [[r[k] for k in keys] for r in rows[1]]
    assert all(r["sequences/extraction"] > 0 for r in rows[1])
    assert all(torch.allclose(params[0][k], params[1][k], atol=1e-5) for k in params[0])
    moved = [json.loads(line) for line in open(tmp_path / "True" / "out" / "metrics.jsonl") if '"adapters"' in line]
    assert moved and moved[-1]["adapter/extraction/delta_norm"] > 0  # they did train


def test_several_updates_per_batch_from_reused_states_match_the_plain_ones():
    """updates_per_batch 2 (old log-probs, then two clipped steps): the same adapter with and without the
    recorded states."""
    import copy

    from comam_bench.training.update import AgentBatch, Item, grpo_step

    base = tiny_base()
    recorder, samples = sample(base, [[5, 6, 7, 8]] * 2 + [[9, 10]], 4)
    start = [p.detach().clone() for p in base.parameters("agent")]
    cfg = SimpleNamespace(micro_batch=2, loss_agg="token", kl_coef=0.1, clip_eps=0.2, clip_eps_high=None,
                          updates_per_batch=2, grad_clip=1.0, share_prompt=True)
    after = []
    for reuse in (False, True):
        for p, s in zip(base.parameters("agent"), start):
            p.data.copy_(s)
        optimizers = {"agent": torch.optim.SGD(base.parameters("agent"), lr=0.5)}
        base.base.recorder = copy.copy(recorder) if reuse else None
        items = [Item(s, a) for s, a in zip(samples, [1.0, -0.5, -0.5])]
        grpo_step([AgentBatch("agent", base, "agent", items)], optimizers, cfg, temperature=0.7)
        after.append(torch.cat([p.detach().flatten() for p in base.parameters("agent")]))
    base.base.recorder = None
    moved = (after[0] - torch.cat([s.flatten() for s in start])).abs().max()
    assert moved > 1e-3 and torch.allclose(after[0], after[1], atol=1e-5)
