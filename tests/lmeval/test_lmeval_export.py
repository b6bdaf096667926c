"""`comam-bench export lm-eval`: the folder loads with lm-eval's real TaskManager, presents PersonaMem's exact
messages, truncates like full-context, and a tiny random model gives the same verdicts through lm-eval as
through `comam-bench run`."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("lm_eval")
torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from comam_bench.cli.main import cli  # noqa: E402
from comam_bench.data import load_task  # noqa: E402
from comam_bench.lmeval.export import export_lm_eval, question_from_doc  # noqa: E402
from comam_bench.llm.scripted import ScriptedLLM  # noqa: E402
from comam_bench.protocol import likelihood_chat, option_continuations, protocol_chat  # noqa: E402
from comam_bench.runner import ordered_questions  # noqa: E402

TASK = "personamem-mini"
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
            "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


@pytest.fixture(scope="module")
def mini():
    return load_task(TASK)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm-eval-export")
    result = CliRunner().invoke(cli, ["export", "lm-eval", "--task", TASK, "--out", str(out), "--no-truncation"])
    assert result.exit_code == 0, result.output
    return out


def task_dict(folder):
    from lm_eval.tasks import TaskManager

    names = [f"{TASK}-discriminative", f"{TASK}-likelihood"]
    return TaskManager(include_path=str(folder)).load(names)["tasks"]


def test_import_comam_bench_and_exporting_do_not_import_lm_eval(tmp_path):
    code = ("import sys, comam_bench, comam_bench.lmeval, comam_bench.cli.main\n"
            "from comam_bench.lmeval.export import export_lm_eval\n"
            f"export_lm_eval({TASK!r}, {str(tmp_path)!r})\n"
            "assert 'lm_eval' not in sys.modules and 'torch' not in sys.modules, 'heavy import'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_exported_tasks_load_with_lm_eval_and_yield_every_question(exported, mini):
    tasks = task_dict(exported)
    assert set(tasks) == {f"{TASK}-discriminative", f"{TASK}-likelihood"}
    order = [q.id for q in ordered_questions(mini, None)]
    for name, task in tasks.items():
        docs = list(task.test_docs())
        assert len(docs) == len(mini.questions) == 28
        assert [d["question_id"] for d in docs] == order  # the harness's order: by context, then end index
    assert tasks[f"{TASK}-discriminative"].OUTPUT_TYPE == "generate_until"
    assert tasks[f"{TASK}-likelihood"].OUTPUT_TYPE == "multiple_choice"


def test_prompts_are_personamem_messages_through_the_models_chat_template(exported, mini):
    tasks = task_dict(exported)
    seen = []

    def template(chat, add_generation_prompt=True):
        seen.append((chat, add_generation_prompt))
        return "RENDERED"

    by_id = {q.id: q for q in mini.questions}
    disc, lik = tasks[f"{TASK}-discriminative"], tasks[f"{TASK}-likelihood"]
    doc = disc.test_docs()[5]
    q = by_id[doc["question_id"]]
    history = mini.contexts[q.context_id][:q.end_index]
    assert disc.fewshot_context(doc, 0, apply_chat_template=True, chat_template=template) == "RENDERED"
    assert seen[-1] == (protocol_chat(history, q), True)
    assert lik.fewshot_context(doc, 0, apply_chat_template=True, chat_template=template) == "RENDERED"
    assert seen[-1] == (likelihood_chat(history, q), True)
    assert question_from_doc(doc) == q
    assert lik.doc_to_choice(doc) == option_continuations(q)
    assert lik.doc_to_target(doc) == "abcd".index(q.gold)
    plain = disc.fewshot_context(doc, 0)  # no --apply_chat_template: the hf backend's plain transcript
    assert plain.endswith("assistant:") and plain.startswith(f"{history[0].role}: {history[0].content}")
    with pytest.raises(ValueError, match="zero-shot"):
        disc.fewshot_context(doc, 2)


def test_truncation_matches_full_context(tmp_path, mini):
    """A small window: each question keeps exactly the messages full-context keeps, and the task says so."""
    from comam_bench.api import Resources
    from comam_bench.systems.sanity import FullContext

    llm = ScriptedLLM(context_window=700)
    export_lm_eval(TASK, tmp_path, llm=llm)
    docs = [json.loads(line) for line in (tmp_path / "docs.jsonl").read_text().splitlines()]
    assert any(d["window_start"] > 0 for d in docs) and any(d["window_start"] == 0 for d in docs)
    system = FullContext(Resources(llm, None))
    by_id = {q.id: q for q in mini.questions}
    for doc in docs:
        q = by_id[doc["question_id"]]
        system.messages = list(mini.contexts[q.context_id][:q.end_index])
        kept = system.build_chat(q)[:-1]
        assert len(kept) == q.end_index - doc["window_start"], q.id
    yaml_text = (tmp_path / f"{TASK}-discriminative.yaml").read_text()
    assert "truncated from the oldest end" in yaml_text and "window of scripted (700 tokens" in yaml_text


def vocab_tokenizer(data):
    """A word-level tokenizer over the mini task's own words (so prompts differ), with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    texts = [m.content for c in data.contexts.values() for m in c] + [q.text + q.options_raw for q in data.questions]
    split = pre_tokenizers.Whitespace()
    words = sorted({w for t in texts + ["system user assistant"] for w, _ in split.pre_tokenize_str(t)} | set("abcd"))
    backend = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(SPECIALS + words)}, unk_token="<unk>"))
    backend.pre_tokenizer = split
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                                  eos_token="</s>", additional_special_tokens=SPECIALS[4:])
    tok.chat_template = TEMPLATE
    return tok


def prompt_sensitive_model(tok):
    """A random Llama whose greedy answers change with the prompt and often start with a letter a-d."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=2, eos_token_id=3, pad_token_id=0, initializer_range=0.3)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for letter in "abcd":
            model.lm_head.weight[tok.convert_tokens_to_ids(letter)] *= 3
    return model


def test_tiny_model_same_verdicts_through_lm_eval_and_comam_bench_run(tmp_path, mini):
    """A tiny random Llama: lm-eval's hf model on the exported task vs `comam-bench run --system full-context`,
    question by question (2 answer tokens on both sides, so most answers name one letter)."""
    from lm_eval.models.huggingface import HFLM

    from comam_bench.lmeval.compare import agreement, harness_side, lm_eval_side
    from comam_bench.llm.hf import TransformersLLM

    tok = vocab_tokenizer(mini)
    model = prompt_sensitive_model(tok)
    ours = TransformersLLM(model, tok, spec="tiny", batch_size=1)
    export_lm_eval(TASK, tmp_path / "export", llm=ours, answer_tokens=2)
    n = 12
    theirs = lm_eval_side(HFLM(pretrained=model, tokenizer=tok, batch_size=1, device="cpu"), tmp_path / "export",
                          f"{TASK}-discriminative", limit=n)
    mine = harness_side(TASK, ours, system_args={"answer_tokens": 2}, limit=n, results_dir=tmp_path / "runs")
    report = agreement(mine["rows"], theirs["rows"])
    assert report["questions"] == n and report["differences"] == [], report
    assert report["identical_outputs"] == n
    assert all(r["correct"] == r["correct_by_protocol"] for r in theirs["rows"].values())
    # not a vacuous comparison: answers vary with the prompt, name letters, and are sometimes right
    assert len({r["output"] for r in mine["rows"].values()}) > n // 2
    assert sum(r["extracted"] is not None for r in mine["rows"].values()) > n // 2
    assert 0 < sum(r["correct"] for r in mine["rows"].values()) < n


def direct_scores(model, tok, chat, continuations):
    """Test-only reference for Contract A's loglikelihood with transformers directly: each continuation
    appended to the templated chat (generation prompt added), its tokens' log-probabilities summed."""
    from comam_bench.api import OptionScore

    context = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    n_context = len(tok(context, add_special_tokens=False)["input_ids"])
    scores = []
    for text in continuations:
        ids = tok(context + text, add_special_tokens=False)["input_ids"]
        target = torch.tensor(ids[n_context:])
        with torch.no_grad():
            logp = model(torch.tensor([ids])).logits[0, n_context - 1:-1].float().log_softmax(-1)
        scores.append(OptionScore(float(logp.gather(1, target[:, None]).sum()), len(target), len(text),
                                  bool((logp.argmax(-1) == target).all())))
    return scores


def test_tiny_model_likelihood_task_scores_like_contract_a(tmp_path, mini):
    """lm-eval's multiple_choice on the exported task: per option the log-likelihood of the option text
    after the templated likelihood chat; its acc / acc_norm pick what protocol.choose picks with sum / char."""
    from lm_eval.models.huggingface import HFLM

    from comam_bench.lmeval.compare import lm_eval_side
    from comam_bench.protocol import choose

    from comam_bench.llm.hf import TransformersLLM

    tok = vocab_tokenizer(mini)
    model = prompt_sensitive_model(tok)
    # Exported with the model: its tokenizer's option counts give acc_token (comam-bench's `token` norm).
    export_lm_eval(TASK, tmp_path, llm=TransformersLLM(model, tok, spec="tiny", batch_size=1))
    n = 6
    theirs = lm_eval_side(HFLM(pretrained=model, tokenizer=tok, batch_size=1, device="cpu"), tmp_path,
                          f"{TASK}-likelihood", limit=n)["rows"]
    by_id = {q.id: q for q in mini.questions}
    assert len(theirs) == n
    for qid, row in theirs.items():
        q = by_id[qid]
        chat = likelihood_chat(mini.contexts[q.context_id][:q.end_index], q)
        scores = direct_scores(model, tok, chat, option_continuations(q))
        assert row["loglikelihoods"] == pytest.approx([s.logprob for s in scores], abs=1e-3)
        assert row["chosen"] == {"sum": choose(scores, "sum"), "char": choose(scores, "char")}
        assert row["acc"] == float(choose(scores, "sum") == q.gold)
        assert row["acc_norm"] == float(choose(scores, "char") == q.gold)
        assert row["acc_token"] == float(choose(scores, "token") == q.gold)


def test_likelihood_metrics_are_the_harness_norms_under_lm_evals_names():
    from comam_bench.api import OptionScore
    from comam_bench.lmeval.task import process_likelihood
    from comam_bench.protocol import LM_EVAL_METRICS, choose

    choices = ["(a) yes", "(b) a much longer option text", "(c) no", "(d) maybe so"]
    doc = {"options": choices, "gold": "b", "option_tokens": [2, 12, 2, 3], "question_id": "q", "type": "t",
           "raw_type": "t", "topic": "x", "question": "?", "options_raw": "", "context_id": "c", "end_index": 1}
    results = [(-4.0, False), (-13.0, False), (-3.5, True), (-5.0, False)]
    got = process_likelihood(doc, results)
    # sum picks (c); token picks (b) (-13/12 per token beats -3.5/2)
    from comam_bench.lmeval.task import doc_to_choice

    conts = doc_to_choice(doc)
    scores = [OptionScore(ll, n, len(t), g) for (ll, g), n, t in zip(results, doc["option_tokens"], conts)]
    assert got == {LM_EVAL_METRICS[k]: float(choose(scores, k) == "b") for k in ("token", "char", "sum")}
    assert set(got) == {"acc", "acc_norm", "acc_token"} and got["acc"] == 0.0 and got["acc_token"] == 1.0
    del doc["option_tokens"]  # exported without a model: no token counts, no acc_token
    assert set(process_likelihood(doc, results)) == {"acc", "acc_norm"}


def test_export_prints_the_runnable_command_for_both_tasks(tmp_path):
    from comam_bench.llm import embedded_model_file

    result = CliRunner().invoke(cli, ["export", "lm-eval", "--task", TASK, "--out", str(tmp_path), "--no-truncation"])
    assert result.exit_code == 0, result.output
    command = result.output.strip().splitlines()[-1]
    gguf = embedded_model_file()
    assert command == (f"HF_HUB_OFFLINE=1 lm_eval --model hf --model_args pretrained={gguf.parent},"
                       f"gguf_file={gguf.name},dtype=float32 --device cpu --include_path {tmp_path.resolve()} "
                       f"--tasks {TASK}-discriminative,{TASK}-likelihood --apply_chat_template")
    readme = (tmp_path / "README.md").read_text()
    assert command in readme and "no `acc_token`" in readme
    assert "acc_token" not in (tmp_path / f"{TASK}-likelihood.yaml").read_text()
