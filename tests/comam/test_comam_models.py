"""One model per CoMAM agent, with a tiny random Llama and tiny random LoRA adapters made here (offline, CPU):
adapters share one loaded base, each is active during its own agent's call, a different base is a separate
load, and checkpoints round-trip."""
from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from comam_bench.api import Resources  # noqa: E402
from comam_bench.comam.checkpoint import CHECKPOINT_FILE, CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from comam_bench.comam.models import AdapterError, AdapterLLM, AgentModels, unwrap  # noqa: E402
from comam_bench.comam.prompts import PROMPT_VERSION, extraction_prompt  # noqa: E402
from comam_bench.comam.system import CoMAM  # noqa: E402
from comam_bench.llm.hashing import HashEmbedder  # noqa: E402
from comam_bench.llm.meter import Meter, MeteredLLM  # noqa: E402
from comam_bench.llm.scripted import ScriptedLLM  # noqa: E402

WORDS = ["<pad>", "<eos>", "<unk>", "user", "assistant", ":"] + [f"w{i}" for i in range(60)]
CHAT = extraction_prompt("w1 w2 w3 w4")  # unknown words map to <unk>; the chat still differs per position
NEW_TOKENS = 6


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    out = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    out.chat_template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
                         "{% if add_generation_prompt %}assistant : {% endif %}")
    return out


def tiny_model(seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         eos_token_id=1, pad_token_id=0, bos_token_id=None)
    return LlamaForCausalLM(config)


def save_base(path, seed: int) -> str:
    tiny_model(seed).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return str(path)


def save_adapter(base_dir: str, path, seed: int) -> str:
    """A LoRA with random (nonzero) B, so it really changes the model's outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(LlamaForCausalLM.from_pretrained(base_dir),
                           LoraConfig(r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("comam_models")
    base = save_base(root / "base", seed=0)
    other = save_base(root / "other", seed=99)
    adapters = {name: save_adapter(base, root / name, seed) for name, seed in (("A", 1), ("B", 2), ("C", 3))}
    return {"base": base, "other": other, **adapters}


def load_hf(directory: str):
    from comam_bench.llm.hf import TransformersLLM

    return TransformersLLM.load(directory, spec=f"hf:{directory}", window=512)


def generate(llm) -> str:
    return llm.generate([CHAT], max_new_tokens=NEW_TOKENS, temperature=0.0)[0].text


@pytest.fixture(scope="module")
def reference(files):
    """What each adapter alone (in its own fresh PeftModel), and the plain base, generate for CHAT."""
    from peft import PeftModel

    from comam_bench.llm.hf import TransformersLLM

    out = {"base": generate(load_hf(files["base"]))}
    for name in ("A", "B", "C"):
        plain = load_hf(files["base"])
        out[name] = generate(TransformersLLM(PeftModel.from_pretrained(plain.model, files[name]), plain.tokenizer))
    return out


def never_load(spec):
    raise AssertionError(f"nothing should be loaded, but {spec!r} was")


def test_the_random_adapters_really_change_the_outputs(reference):
    # otherwise the checks below could not tell adapters apart
    assert len({reference["base"], reference["A"], reference["B"], reference["C"]}) == 4


def test_three_adapters_load_into_the_run_model_once_and_each_is_active_in_its_own_call(files, reference):
    run = load_hf(files["base"])
    meter = Meter()
    resources = Resources(MeteredLLM(run, meter), HashEmbedder, meter=meter)
    agents = AgentModels(resources, {"extraction": None, "profile": None, "retrieval": None},
                         {"extraction": files["A"], "profile": files["B"], "retrieval": files["C"]}, loader=never_load)
    llms = {a: unwrap(llm) for a, llm in agents.llms.items()}
    assert all(isinstance(llm, AdapterLLM) for llm in llms.values())
    assert llms["extraction"].shared_model is llms["profile"].shared_model is llms["retrieval"].shared_model is run.model
    # interleaved calls: each agent's adapter is switched on for its own call only
    for agent, name in (("retrieval", "C"), ("extraction", "A"), ("profile", "B"), ("extraction", "A")):
        assert agents.llms[agent].generate([CHAT], max_new_tokens=NEW_TOKENS, agent=agent)[0].text == reference[name]
    assert {agent: c.calls for (_, agent), c in meter.totals.items()} == {"retrieval": 1, "extraction": 2, "profile": 1}
    described = agents.describe()
    assert described["bases_loaded"] == 0 and described["profile"]["adapter_sha256"]


def test_an_agent_without_an_adapter_runs_the_plain_base_even_next_to_adapted_agents(files, reference):
    run = load_hf(files["base"])
    agents = AgentModels(Resources(run, HashEmbedder), {"extraction": None, "profile": None, "retrieval": None},
                         {"extraction": files["A"], "profile": None, "retrieval": None}, loader=never_load)
    assert generate(agents.llms["profile"]) == reference["base"]
    assert generate(agents.llms["extraction"]) == reference["A"]
    assert generate(agents.llms["retrieval"]) == reference["base"]


def test_a_different_base_per_agent_is_a_separate_load_done_once_per_spec(files):
    loads = []

    def loader(spec):
        loads.append(spec)
        return load_hf(spec.removeprefix("hf:"))

    run = load_hf(files["base"])
    other = f"hf:{files['other']}"
    agents = AgentModels(Resources(run, HashEmbedder), {"extraction": None, "profile": other, "retrieval": other},
                         {"extraction": None, "profile": None, "retrieval": None}, loader=loader)
    assert loads == [other]
    assert agents.llms["extraction"] is run
    assert agents.llms["profile"] is agents.llms["retrieval"] is not run
    assert agents.describe()["retrieval"]["model"] == other and agents.describe()["bases_loaded"] == 1


def test_adapters_need_a_transformers_backend_and_an_adapter_directory(files, tmp_path):
    with pytest.raises(AdapterError, match="hf: backend"):
        AgentModels(Resources(ScriptedLLM(), HashEmbedder), {"extraction": None}, {"extraction": files["A"]})
    with pytest.raises(AdapterError, match="adapter_config.json"):
        AgentModels(Resources(load_hf(files["base"]), HashEmbedder), {"extraction": None}, {"extraction": str(tmp_path)})


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_loads_with_the_system_argument(files, reference, tmp_path):
    ckpt = tmp_path / "ckpt"
    base_spec = f"hf:{files['base']}"
    save_checkpoint(ckpt, base_model=base_spec, adapters={"extraction": files["A"], "profile": None,
                                                          "retrieval": files["C"]},
                    system_args={"memory_tokens": 300}, info={"step": 7})
    doc = json.loads((ckpt / CHECKPOINT_FILE).read_text())
    assert doc["adapters"] == {"extraction": "adapters/extraction", "profile": None, "retrieval": "adapters/retrieval"}
    assert doc["prompt_version"] == PROMPT_VERSION and doc["policy"] == "separate"

    loaded = load_checkpoint(ckpt)
    assert loaded.base_model == base_spec and loaded.adapters["profile"] is None
    assert loaded.adapters["extraction"] == (ckpt / "adapters" / "extraction").resolve()
    assert loaded.info == {"step": 7}

    # the run's model is the checkpoint's base: it is reused, not loaded again
    run = load_hf(files["base"])
    system = CoMAM(Resources(run, HashEmbedder), checkpoint=str(ckpt), retrieval_tokens=NEW_TOKENS)
    llms = system.models.llms
    assert unwrap(llms["extraction"]).shared_model is run.model
    assert generate(llms["extraction"]) == reference["A"]
    assert generate(llms["profile"]) == reference["base"]
    assert generate(llms["retrieval"]) == reference["C"]
    config = system.config()
    assert config["memory_tokens"] == 300 and config["retrieval_tokens"] == NEW_TOKENS  # explicit args win
    assert config["checkpoint"] == str(ckpt.resolve()) and config["checkpoint_prompt_version"] == PROMPT_VERSION
    assert config["models"]["extraction"]["adapter"] == str(loaded.adapters["extraction"])


def test_a_run_given_only_a_checkpoint_names_its_base_model(files, tmp_path):
    """No --model: the run's model (record, run id, leaderboard group) is the checkpoint's base, not smollm2."""
    from comam_bench.runner import DEFAULT_MODEL, Run, RunConfig

    save_checkpoint(tmp_path / "ckpt", base_model=f"hf:{files['base']}", adapters={"retrieval": files["C"]})

    def prepared(**kw):
        run = Run(RunConfig(task="personamem-mini", system="comam", results_dir=tmp_path / "results", **kw))
        run.prepare()
        return run

    run = prepared(system_args={"checkpoint": str(tmp_path / "ckpt")})
    assert run.spec["model"] == f"hf:{files['base']}" and "--base--" in run.run_id
    other = f"hf:{files['other']}"  # an existing folder: a path that does not exist fails up front
    explicit = prepared(system_args={"checkpoint": str(tmp_path / "ckpt")}, model=other, run_id="x")
    assert explicit.spec["model"] == other  # an explicit --model is kept
    assert prepared(run_id="y").spec["model"] == DEFAULT_MODEL


def test_shared_policy_checkpoint_plays_every_agent_with_one_adapter(files, reference, tmp_path):
    from peft import PeftModel

    plain = load_hf(files["base"])
    save_checkpoint(tmp_path / "shared", base_model=None, policy="shared",
                    adapters={"shared": PeftModel.from_pretrained(plain.model, files["B"])})  # saved from a model
    loaded = load_checkpoint(tmp_path / "shared")
    assert set(loaded.adapters.values()) == {(tmp_path / "shared" / "adapters" / "shared").resolve()}
    system = CoMAM(Resources(load_hf(files["base"]), HashEmbedder), checkpoint=str(tmp_path / "shared"))
    assert system.args.shared_policy
    names = {unwrap(llm).name for llm in system.models.llms.values()}
    assert names == {"shared"}  # loaded once, under one name
    assert {generate(llm) for llm in system.models.llms.values()} == {reference["B"]}


def test_bad_checkpoints_fail_with_a_clear_message(files, tmp_path):
    with pytest.raises(CheckpointError, match="is missing"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path / "c", base_model="smollm2", adapters={"retrieval": files["C"]})
    doc = json.loads((tmp_path / "c" / CHECKPOINT_FILE).read_text())
    doc["adapters"]["retrieval"] = "adapters/nowhere"
    (tmp_path / "c" / CHECKPOINT_FILE).write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="adapter_config.json"):
        load_checkpoint(tmp_path / "c")
    with pytest.raises(CheckpointError, match="unknown agents"):
        save_checkpoint(tmp_path / "d", base_model=None, adapters={"planner": files["A"]})
    with pytest.raises(CheckpointError, match="exactly one adapter"):
        save_checkpoint(tmp_path / "e", base_model=None, policy="shared",
                        adapters={"extraction": files["A"], "retrieval": files["B"]})
