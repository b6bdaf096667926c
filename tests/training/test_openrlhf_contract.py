"""The OpenRLHF backend against OpenRLHF 0.11.2's real classes (installed by scripts/setup.sh with --no-deps).

A fake async engine stands in for vLLM; everything else that OpenRLHF contributes is its own code: the
AgentExecutorBase the executor subclasses, the advantage computation (tests/openrlhf_support.py explains
how it is imported without ray or deepspeed), the argument parser (read from the installed source, since
importing train_ppo_ray needs ray, vllm and deepspeed), and hierarchize.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os

import pytest

if os.environ.get("CI"):
    import openrlhf.utils.agent  # noqa: F401  (CI installs it: a missing install must fail, not skip)
pytest.importorskip("openrlhf.utils.agent", reason="pip install --no-deps openrlhf==0.11.2 (scripts/setup.sh)")

from openrlhf.utils.agent import AgentExecutorBase  # noqa: E402
from openrlhf.utils.config import hierarchize  # noqa: E402
from openrlhf_support import (FakeEngine, Params, byte_tokenizer, experience, openrlhf_experiences,  # noqa: E402
                              role_of)

from comam_bench.api import Question  # noqa: E402
from comam_bench.comam.agents import Pipeline  # noqa: E402
from comam_bench.comam.config import CoMAMArgs  # noqa: E402
from comam_bench.api import Resources  # noqa: E402
from comam_bench.llm.scripted import ScriptedLLM  # noqa: E402
from comam_bench.training.data import Example  # noqa: E402
from comam_bench.training.openrlhf.command import train_flags  # noqa: E402
from comam_bench.training.openrlhf.dataset import prompt_row  # noqa: E402
from comam_bench.training.openrlhf.executor import CoMAMAgentExecutor  # noqa: E402
from comam_bench.training.openrlhf.executor_file import agent_source  # noqa: E402
from comam_bench.training.openrlhf.parser import build_parser, checked_args, unknown_flags  # noqa: E402
from comam_bench.training.openrlhf.settings import plan_run  # noqa: E402
from comam_bench.training.recipe import load_recipe  # noqa: E402
from comam_bench.comam.training.rollout import Group, Scorer, rollout  # noqa: E402
from comam_bench.training.recipe import CreditCfg, RewardCfg  # noqa: E402

G = 4
AGENTS3 = ["extraction", "profile", "retrieval"]
PIPELINE = {"extraction_tokens": 200, "profile_tokens": 180, "retrieval_tokens": 190, "memory_tokens": 900}
OUTPUTS = {
    "extraction": ["User: I love hiking in the Alps every summer.", "User: I like green tea in the morning.",
                   "User: I love hiking in the Alps every summer.\nUser: I like green tea in the morning.",
                   "Assistant: That sounds wonderful."],
    "profile": ["The user loves hiking in the Alps.", "The user likes green tea.", "The user enjoys tea and hiking."],
    "retrieval": ["<information>User: I love hiking in the Alps every summer.</information>\n<final_answer>(a)</final_answer>",
                  "<information>User: I like green tea in the morning.</information>\n<final_answer>(b)</final_answer>",
                  "<information>nothing relevant</information>\n<final_answer>(a)</final_answer>"],
}


def judge_reply(chat) -> str:
    profile = chat[0]["content"].split("User profile:\n", 1)[1]
    return "Score: 8/10" if "hiking" in profile else "Score: 3/10"


def make_example(qid: str, gold: str) -> Example:
    history = ("User: I love hiking in the Alps every summer.\nAssistant: That sounds wonderful.\n"
               "User: I like green tea in the morning.\nAssistant: A calm start.")
    options = ("(a) hiking in the Alps", "(b) green tea", "(c) sailing", "(d) chess")
    q = Question(qid, "recall_user_shared_facts", "recall_user_shared_facts", "travel",
                 f"Which of my hobbies did I mention ({qid})?", options, "\n".join(options), gold, "c1", 4)
    return Example(q, history, (), 0, ("I love hiking in the Alps every summer.",), (0,), True)


def config(trained, frozen=None) -> dict:
    import dataclasses

    return {"group": G, "trained": trained, "frozen": frozen or {}, "judge": "judge", "pipeline": PIPELINE,
            "temperature": 1.0, "seed": 0, "max_len": 4096,
            "rewards": dataclasses.asdict(RewardCfg()), "credit": dataclasses.asdict(CreditCfg())}


def factory(spec: str):
    if spec == "judge":
        return ScriptedLLM(judge_reply)
    if spec == "frozen-retrieval":
        return ScriptedLLM(lambda chat: OUTPUTS["retrieval"][len(chat[0]["content"]) % 3])
    raise AssertionError(spec)


async def _generate_responses(executor, rows, n, tok, engine, params):
    """What RolloutRayActor.generate_responses does, for several prompts at once."""
    async def one(row):
        return await asyncio.gather(*[executor.execute(row["input"], row["label"], params, 4096, tok, engine)
                                      for _ in range(n)])
    return await asyncio.gather(*[one(r) for r in rows])


def run_executor(trained, examples, frozen=None, logprobs=1, tok=None, engine_class=FakeEngine):
    tok = tok or byte_tokenizer()
    engine = engine_class(tok, OUTPUTS)
    executor = CoMAMAgentExecutor(config(trained, frozen), llm_factory=factory)
    rows = [prompt_row(ex) for ex in examples]
    out = asyncio.run(_generate_responses(executor, rows, G * len(trained), tok, engine, Params(logprobs=logprobs)))
    return out, engine, tok


def completion_text(tok, resp) -> str:
    (start, end), = resp["action_ranges"]
    return tok.decode(resp["observation_tokens"][start:end], skip_special_tokens=True)


def prompt_text(tok, resp) -> str:
    (start, _), = resp["action_ranges"]
    return tok.decode(resp["observation_tokens"][:start], skip_special_tokens=True)


def local_advantages(example, texts) -> tuple[dict, Group]:
    """What the local backend's rollout, rewards and credit give for the same sampled texts."""
    llms = {a: ScriptedLLM(list(texts[a])) for a in AGENTS3}
    pipeline = Pipeline(llms, Resources(llms["retrieval"], None), CoMAMArgs.from_mapping(PIPELINE).settings())
    group, = rollout(pipeline, [example], G, 1.0, 0)
    Scorer.from_recipe(RewardCfg(), CreditCfg(), ScriptedLLM(judge_reply)).score([group], AGENTS3)
    return group.advantages, group


# --------------------------------------------------------------------------- the executor
def test_executor_is_the_real_base_and_the_agent_file_loads_as_openrlhf_loads_it(tmp_path):
    assert issubclass(CoMAMAgentExecutor, AgentExecutorBase)
    (tmp_path / "agent.py").write_text(agent_source())
    (tmp_path / "comam_openrlhf.json").write_text(__import__("json").dumps(config(AGENTS3)))
    spec = importlib.util.spec_from_file_location("agent_module", tmp_path / "agent.py")  # as _load_agent_executor
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert issubclass(module.AgentExecutor, AgentExecutorBase)
    assert module.AgentExecutor().coordinator.n == 3 * G


def test_3g_concurrent_calls_give_g_calls_per_role_and_role_action_ranges():
    examples = [make_example("q1", "a"), make_example("q2", "b")]
    out, engine, tok = run_executor(AGENTS3, examples)
    for role in AGENTS3:  # G engine calls per role per prompt, no more
        assert sum(c["role"] == role for c in engine.calls) == G * len(examples)
    # each request carries its agent's own budget and the rollout temperature
    budgets = {"extraction": 200, "profile": 180, "retrieval": 190}
    assert {(c["role"], c["max_tokens"], c["temperature"]) for c in engine.calls} == \
        {(role, budget, 1.0) for role, budget in budgets.items()}
    for responses in out:
        assert len(responses) == 3 * G
        for j, resp in enumerate(responses):
            role = AGENTS3[j // G]
            (start, end), = resp["action_ranges"]
            assert end == len(resp["observation_tokens"]) and start > 0
            assert completion_text(tok, resp) in OUTPUTS[role]  # the action is that role's completion, only
            assert f"You are the {dict(extraction='Memory Extractor', profile='Profile Abstractor', retrieval='Retrieval agent')[role]}" in prompt_text(tok, resp)
            assert resp["rollout_log_probs"] == [0.0] * start + [-0.25] * (end - start)
        for t in range(G):  # each trajectory is one chain: extraction -> profile -> retrieval
            ext, prof, ret = (responses[k * G + t] for k in range(3))
            assert completion_text(tok, ext) in prompt_text(tok, prof)
            assert completion_text(tok, prof) in prompt_text(tok, ret)


def test_rewards_equal_the_local_backends_credit_for_the_same_trajectories():
    examples = [make_example("q1", "a"), make_example("q2", "b")]
    out, _, tok = run_executor(AGENTS3, examples)
    for ex, responses in zip(examples, out):
        texts = {a: [completion_text(tok, responses[k * G + t]) for t in range(G)] for k, a in enumerate(AGENTS3)}
        expected, group = local_advantages(ex, texts)
        for k, agent in enumerate(AGENTS3):
            got = [responses[k * G + t]["reward"] for t in range(G)]
            assert got == pytest.approx(expected[agent], abs=1e-9)
            assert [responses[k * G + t]["scores"] for t in range(G)] == group.answer
        assert any(a != 0 for a in expected["extraction"]) and any(a != 0 for a in expected["retrieval"])


def test_every_sample_is_one_engine_call_s_own_token_ids():
    """The ids reach the executor on the pipeline's steps, one engine call per sample, none used twice."""
    out, engine, _ = run_executor(AGENTS3, [make_example("q1", "a"), make_example("q2", "b")])
    calls = sorted(c["prompt_ids"] + c["ids"] for c in engine.calls)
    assert sorted(r["observation_tokens"] for responses in out for r in responses) == calls


class CuttingEngine(FakeEngine):
    """Reports every profile completion as cut at its token budget (vLLM's finish_reason "length")."""

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        out = await super().generate(prompt_token_ids, sampling_params, multi_modal_data)
        if self.calls[-1]["role"] == "profile":
            out.outputs[0].finish_reason = "length"
        return out


def test_a_completion_cut_by_its_budget_is_returned_as_truncated():
    out, _, _ = run_executor(AGENTS3, [make_example("q1", "a")], engine_class=CuttingEngine)
    assert [r["truncated"] for r in out[0]] == [False] * G + [True] * G + [False] * G


def test_without_rollout_logprobs_none_are_returned():  # OpenRLHF's default (is_correction_level off)
    out, _, _ = run_executor(AGENTS3, [make_example("q1", "a")], logprobs=None)
    assert all(r["rollout_log_probs"] is None for r in out[0])


def test_the_same_prompt_twice_in_a_batch_is_two_groups():
    ex = make_example("q1", "a")
    out, engine, _ = run_executor(AGENTS3, [ex, ex])
    assert [len(r) for r in out] == [3 * G, 3 * G]
    assert sum(c["role"] == "retrieval" for c in engine.calls) == 2 * G


@pytest.mark.slow
def test_with_a_real_chat_template_and_end_of_turn_token():
    """SmolLM2's tokenizer (the embedded GGUF): ChatML template, <|im_end|> as EOS, merges that re-split text."""
    from transformers import AutoTokenizer

    from comam_bench.llm.defaults import embedded_model_file

    path = embedded_model_file()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    example = make_example("q1", "a")
    out, _, _ = run_executor(AGENTS3, [example], tok=tok)
    responses, = out
    for j, resp in enumerate(responses):
        (start, end), = resp["action_ranges"]
        assert resp["observation_tokens"][end - 1] == tok.eos_token_id  # trained: the policy learns to stop
        assert completion_text(tok, resp) in OUTPUTS[AGENTS3[j // G]]
        assert prompt_text(tok, resp).rstrip().endswith("assistant")
    texts = {a: [completion_text(tok, responses[k * G + t]) for t in range(G)] for k, a in enumerate(AGENTS3)}
    expected, _ = local_advantages(example, texts)
    assert [r["reward"] for r in responses] == pytest.approx([x for a in AGENTS3 for x in expected[a]], abs=1e-9)


def test_a_frozen_agent_is_not_returned_but_still_gets_credit():
    out, engine, tok = run_executor(["extraction", "profile"], [make_example("q1", "a")],
                                    frozen={"retrieval": "frozen-retrieval"})
    responses, = out
    assert len(responses) == 2 * G and {c["role"] for c in engine.calls} == {"extraction", "profile"}
    assert [completion_text(tok, r) in OUTPUTS["profile"] for r in responses[G:]] == [True] * G
    assert set(responses[0]["extra_logs"]) == set(responses[-1]["extra_logs"])  # same keys: OpenRLHF stacks them


# --------------------------------------------------------------------------- OpenRLHF's advantage code
def test_openrlhf_dr_grpo_leaves_the_rewards_unchanged():
    import torch

    examples = [make_example("q1", "a"), make_example("q2", "b")]
    out, _, tok = run_executor(AGENTS3, examples)
    plan = plan_run(load_recipe("gpu-openrlhf-128k", [
        "train.agents=[extraction, profile, retrieval]", "model.agents={}", f"rollout.group={G}",
        "train.batch_questions=2", "openrlhf.gpus_per_node=8"]))
    args = checked_args(train_flags(plan, "/tmp/out"))
    assert args.algo.advantage.estimator == "dr_grpo" and args.rollout.n_samples_per_prompt == 3 * G
    responses = [r for group in out for r in group]
    experiences = openrlhf_experiences(responses, args, tok.pad_token_id)
    assert sum(len(e.index) for e in experiences) == len(responses)
    for e in experiences:
        for row, i in enumerate(e.index):
            mask = e.action_mask[row].bool()
            # every trained token carries the executor's reward (positions outside action_mask never enter the loss)
            assert torch.allclose(e.advantages[row][mask], torch.full((int(mask.sum()),), responses[i]["reward"]),
                                  atol=1e-6)
    assert any(abs(r["reward"]) > 0.1 for r in responses)


def test_group_norm_would_change_them():  # the estimator choice matters: the test above can fail
    import torch

    out, _, _ = run_executor(AGENTS3, [make_example("q1", "a")])
    rewards = torch.tensor([r["reward"] for r in out[0]], dtype=torch.float64).reshape(1, -1)
    normed = (rewards - rewards.mean(-1, keepdim=True)) / (rewards.std(-1, keepdim=True) + 1e-9)
    assert abs(float(rewards.mean())) < 1e-9 and not torch.allclose(normed, rewards, atol=1e-3)


# --------------------------------------------------------------------------- the command against the parser
@pytest.mark.parametrize("name", ["gpu-openrlhf-32k", "gpu-openrlhf-128k", "gpu-openrlhf-1m"])
def test_every_flag_exists_in_the_installed_parser_and_passes_its_checks(name):
    parser = build_parser()
    for sets in ([], ["train.agents=[retrieval]"]):
        flags = train_flags(plan_run(load_recipe(name, sets)), "/shared/out")
        assert unknown_flags(flags, parser) == []
        assert hierarchize(parser.parse_args(flags))  # types and choices too
        args = checked_args(flags)  # and train_ppo_ray's own post-parse asserts and adjustments
        assert args.train.agent_func_path == "agent.py" and args.algo.kl.use_loss
        assert args.reward.remote_url == ["agent"]  # what agent_func_path sets: rewards come from the executor
        assert args.train.batch_size == args.rollout.batch_size * args.rollout.n_samples_per_prompt
        assert (args.actor.lr_scheduler, args.actor.lr_warmup_ratio) == ("constant", 0.0)
        assert args.vllm.enable_prefix_caching and args.ckpt.load_enable and args.ckpt.save_steps > 0
        assert args.ckpt.path == "/shared/out-ckpt" and args.ckpt.output_dir == "/shared/out"


def test_the_adam_betas_are_the_local_backends():
    """The local backend builds torch.optim.AdamW without betas (policies.py): torch's defaults."""
    import inspect

    import torch

    from comam_bench.training import policies
    from comam_bench.training.openrlhf.command import LOCAL_ADAM_BETAS

    flags = train_flags(plan_run(load_recipe("gpu-openrlhf-32k")), "/shared/out")
    assert tuple(checked_args(flags).actor.adam.betas) == LOCAL_ADAM_BETAS
    assert torch.optim.AdamW([torch.zeros(1, requires_grad=True)]).defaults["betas"] == LOCAL_ADAM_BETAS
    calls = [line for line in inspect.getsource(policies).splitlines() if "AdamW(" in line]
    assert calls and all("betas" not in line for line in calls)


def test_openrlhfs_checks_can_reject_a_command():
    """1 question x 2 samples in micro-batches of 4 is no sample batch for the one actor process."""
    plan = plan_run(load_recipe("gpu-openrlhf-32k", [
        "openrlhf.gpus_per_node=1", "openrlhf.vllm_engines=1", "openrlhf.rollout_micro_batch=4",
        "train.batch_questions=1", "rollout.group=2", "train.agents=[retrieval]",
        "openrlhf.frozen.extraction=openai:x,base_url=http://h:1/v1",
        "openrlhf.frozen.profile=openai:x,base_url=http://h:1/v1"]))
    with pytest.raises(AssertionError, match="number of sample batches"):
        checked_args(train_flags(plan, "/shared/out"))


def recipe_factory(spec: str):
    """Every openai: endpoint of a paper recipe: the judge, or a frozen agent answering by its role."""
    if "judge-host" in spec:
        return ScriptedLLM(judge_reply)
    def reply(chat):
        text = " ".join(m["content"] for m in chat)
        options = OUTPUTS[role_of(text)]
        return options[len(text) % len(options)]
    return ScriptedLLM(reply)


@pytest.mark.parametrize("name", ["gpu-openrlhf-32k", "gpu-openrlhf-128k", "gpu-openrlhf-1m"])
@pytest.mark.parametrize("job", ["construction", "retrieval"])
def test_the_paper_recipes_executor_output_through_openrlhfs_own_experience_and_advantages(name, job):
    """The executor as the recipe's job configures it (G = 8, its budgets, frozen agents and judge), two
    prompts, its responses through OpenRLHF's own code under the job's own checked args."""
    import torch

    sets = ["train.agents=[retrieval]"] if job == "retrieval" else []
    plan = plan_run(load_recipe(name, sets))
    config = plan.executor_config()
    assert config["endpoint_concurrency"] == 128  # 128 questions x G 8 / 8 engines
    tok = byte_tokenizer()
    engine = FakeEngine(tok, OUTPUTS)
    specs = []
    executor = CoMAMAgentExecutor(config, llm_factory=lambda spec: specs.append(spec) or recipe_factory(spec))
    rows = [prompt_row(ex) for ex in (make_example("q1", "a"), make_example("q2", "b"))]
    out = asyncio.run(_generate_responses(executor, rows, plan.n, tok, engine, Params(logprobs=None)))
    assert all(s.endswith(",concurrency=128") for s in specs) and len(specs) == len(set(specs)) > 0
    args = checked_args(train_flags(plan, "/shared/out"))
    assert args.rollout.n_samples_per_prompt == plan.n == len(out[0])
    responses = [r for group in out for r in group]
    experiences = openrlhf_experiences(responses, args, tok.pad_token_id)
    for e in experiences:
        for row, i in enumerate(e.index):
            r = responses[i]
            (start, end), = r["action_ranges"]
            mask = e.action_mask[row].bool()
            # the trained span is exactly the agent's completion, and its tokens carry the executor's reward
            assert e.sequences[row][1:][mask].tolist() == r["observation_tokens"][start:end]
            assert torch.allclose(e.advantages[row][mask], torch.full((end - start,), r["reward"]), atol=1e-6)
    trained = plan.trained
    assert {role_of(tok.decode(r["observation_tokens"][:r["action_ranges"][0][0]])) for r in responses} == set(trained)


def test_the_parser_rejects_old_flag_names():
    assert unknown_flags(["--pretrain", "x", "--prompt_data", "y", "--actor.model_name_or_path", "z"]) == \
        ["--pretrain", "--prompt_data"]


def test_endpoint_clients_are_built_off_the_event_loop_once_per_endpoint():
    """Building an OpenAI client asks its server GET /models (blocking): never on the rollout actor's loop,
    which serves every vLLM request of the engine."""
    built = []

    def recording(spec):
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        built.append((spec, on_loop))
        return factory(spec.split(",concurrency=")[0])

    cfg = {**config(["extraction", "profile"], {"retrieval": "frozen-retrieval"}), "endpoint_concurrency": 5}
    executor = CoMAMAgentExecutor(cfg, llm_factory=recording)
    tok = byte_tokenizer()
    rows = [prompt_row(ex) for ex in (make_example("q1", "a"), make_example("q2", "b"))]
    asyncio.run(_generate_responses(executor, rows, 2 * G, tok, FakeEngine(tok, OUTPUTS), Params()))
    assert sorted(built) == [("frozen-retrieval", False), ("judge", False)]  # not openai: no cap appended
    assert executor.coordinator.endpoint_spec("openai:m,base_url=http://h:1/v1") == \
        "openai:m,base_url=http://h:1/v1,concurrency=5"
    assert executor.coordinator.endpoint_spec("openai:m,base_url=http://h:1/v1,concurrency=3").endswith("=3")
