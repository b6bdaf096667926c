"""The `comam-bench` lm-eval model: requests in any order, memory built once per context, answers from the
memory at each question's position; the likelihood hook through a scripted scorer; the documented command."""
from __future__ import annotations

import random
import subprocess
import sys

import pytest

pytest.importorskip("lm_eval")

from comam_bench.api import Answer, MemorySystem, OptionScore  # noqa: E402
from comam_bench.lmeval.export import export_lm_eval  # noqa: E402
from comam_bench.llm.scripted import ScriptedLLM  # noqa: E402
from comam_bench.protocol import memory_likelihood_chat  # noqa: E402

TASK = "personamem-mini"
EVENTS: list[tuple] = []


class Counter(MemorySystem):
    """Records resets and ingests; answers with its memory size, and (likelihood) a chat naming it."""

    name = "counter"
    needs_llm = False

    def reset(self, context_id):
        EVENTS.append(("reset", context_id))
        self.seen = 0

    def ingest(self, messages, start):
        assert start == self.seen, "messages must arrive in history order, each once"
        EVENTS.append(("ingest", start, len(messages)))
        self.seen += len(messages)

    def answer(self, questions):
        return [Answer(f"{q.id} saw {self.seen} <final_answer>(a)") for q in questions]

    def likelihood_answer(self, questions):
        return [Answer("", memory_likelihood_chat(f"{self.seen} messages", q)) for q in questions]


class Scorer(ScriptedLLM):
    """A scripted double of Contract A's loglikelihood: the score encodes the chat's memory and the option."""

    def loglikelihood(self, chat, continuations, **kwargs):
        seen = int(chat[0]["content"].split("\n")[1].split()[0])
        return [OptionScore(-float(seen) - len(c) / 1000, len(c.split()), len(c), i == 0)
                for i, c in enumerate(continuations)]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    from lm_eval.tasks import TaskManager

    out = tmp_path_factory.mktemp("export")
    export_lm_eval(TASK, out)
    return TaskManager(include_path=str(out)).load([f"{TASK}-discriminative", f"{TASK}-likelihood"])["tasks"]


def shuffled_requests(task, seed=0):
    task.build_all_requests(limit=None, rank=0, world_size=1)
    requests = list(task.instances)
    random.Random(seed).shuffle(requests)
    return requests


def ingest_check(max_end: dict[str, int]):
    resets = [e[1] for e in EVENTS if e[0] == "reset"]
    assert sorted(resets) == sorted(max_end), "one reset per context, no more"
    total = sum(e[2] for e in EVENTS if e[0] == "ingest")
    assert total == sum(max_end.values()), "every message ingested exactly once"


def test_out_of_order_generate_requests_memory_built_once_per_context(tasks):
    from comam_bench.lmeval.model import ComamBenchLM

    task = tasks[f"{TASK}-discriminative"]
    requests = shuffled_requests(task)
    EVENTS.clear()
    lm = ComamBenchLM(system=f"{__name__}:Counter", batch_size=3)
    outputs = lm.generate_until(requests)
    for r, text in zip(requests, outputs):
        assert text == f"{r.doc['question_id']} saw {r.doc['end_index']} <final_answer>(a)"
    docs = list(task.test_docs())
    max_end = {}
    for d in docs:
        max_end[d["context_id"]] = max(max_end.get(d["context_id"], 0), d["end_index"])
    ingest_check(max_end)
    positions = {(d["context_id"], d["end_index"]) for d in docs}
    assert len([e for e in EVENTS if e[0] == "ingest"]) == len(positions)  # one ingest per new position


def test_likelihood_requests_scored_from_the_memory_at_each_position(tasks):
    from comam_bench.lmeval.model import ComamBenchLM

    task = tasks[f"{TASK}-likelihood"]
    requests = shuffled_requests(task, seed=1)
    assert len(requests) == 4 * len(task.test_docs())
    EVENTS.clear()
    lm = ComamBenchLM(system=f"{__name__}:Counter", llm=Scorer())
    scores = lm.loglikelihood(requests)
    for r, (logprob, greedy) in zip(requests, scores):
        assert logprob == pytest.approx(-r.doc["end_index"] - len(r.args[1]) / 1000)
        assert greedy == (r.idx == 0)
    assert sum(e[0] == "reset" for e in EVENTS) == len({d["context_id"] for d in task.test_docs()})


def test_simple_evaluate_accuracy_equals_comam_bench_run(tasks, tmp_path):
    """longest-option (no LLM) through lm-eval: the same accuracy as the harness's own run."""
    from lm_eval import simple_evaluate

    from comam_bench.lmeval.model import ComamBenchLM
    from comam_bench.runner import RunConfig, run

    task = tasks[f"{TASK}-discriminative"]
    out = simple_evaluate(model=ComamBenchLM(system="longest-option"), tasks=[task], bootstrap_iters=0)
    record = run(RunConfig(task=TASK, system="longest-option", results_dir=tmp_path))
    assert out["results"][f"{TASK}-discriminative"]["acc,none"] == pytest.approx(record["scores"]["accuracy"], abs=1e-4)


def test_documented_command_registers_the_model(tmp_path):
    export_lm_eval(TASK, tmp_path / "export")
    cmd = [sys.executable, "-m", "comam_bench.lmeval", "--model", "comam-bench", "--model_args",
           "system=longest-option", "--include_path", str(tmp_path / "export"), "--tasks",
           f"{TASK}-discriminative", "--limit", "4"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{TASK}-discriminative" in done.stdout and "acc" in done.stdout


def test_a_foreign_task_gets_a_clear_error():
    from lm_eval.api.instance import Instance

    from comam_bench.lmeval.model import ComamBenchLM, NotAnExportedTask

    lm = ComamBenchLM(system="longest-option")
    req = Instance("generate_until", {"question": "2+2?"}, ("2+2?", {}), 0, ("arith", 0, 1))
    with pytest.raises(NotAnExportedTask, match="comam-bench export lm-eval"):
        lm.generate_until([req])
