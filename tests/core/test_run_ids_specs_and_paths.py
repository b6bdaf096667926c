"""Reliability round 3 (issue 30): run ids stay inside DIR/runs (D1), transport options stay outside the spec
hash (D3), the HTTP backend sends base_url's query and credentials right and never prints one (D2, D4), content:null
replies are counted (D11), out-of-range system arguments are refused (D10), records name no machine path (D13).
The failure handling of the same round is in test_failure_handling.py."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_openai import LETTER
from helpers_cli import cli
from helpers_paths import TESTS

SCRIPTED = "scripted:constant=<final_answer>(a)"


def _run(tmp_path, *extra, results=None):
    return cli(["run", "--system", "no-memory", "--task", "personamem-mini", "--limit", "3", "--model", SCRIPTED,
                "--results-dir", results or tmp_path / "results", *extra], tmp_path)


# ---------------------------------------------------------------- D1: run ids
@pytest.mark.parametrize("run_id", ["../../escape", "/ABS", ".", "..", "a/b", "x" * 300, "-dash", "sp ace"],
                         ids=["parent", "absolute", "dot", "dotdot", "slash", "long", "dash", "space"])
def test_a_run_id_is_one_safe_folder_name(tmp_path, run_id):
    run_id = str(tmp_path / "abs") if run_id == "/ABS" else run_id
    results = tmp_path / "deep" / "results"
    res = _run(tmp_path, "--run-id", run_id, "--overwrite", results=results)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "--run-id" in res.stderr
    assert not (tmp_path / "escape").exists() and not (tmp_path / "deep" / "escape").exists()
    assert not (tmp_path / "abs").exists() and not results.exists()


def test_a_plain_run_id_still_works(tmp_path):
    res = _run(tmp_path, "--run-id", "rag-top5_try.2")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "results" / "runs" / "rag-top5_try.2" / "run.json").is_file()


# ---------------------------------------------------------------- D3: transport options
@pytest.fixture
def server(fake_openai):
    return fake_openai()


def test_resume_after_raising_the_timeout_is_the_same_run(tmp_path, server):
    url = f"http://127.0.0.1:{server.port}/v1"
    first = _run(tmp_path, "--model", f"openai:tiny-chat,base_url={url},timeout=30,retries=1")  # loaded machines
    assert first.returncode == 0, first.stderr
    (run_dir,) = (tmp_path / "results" / "runs").iterdir()
    (run_dir / "run.json").unlink()  # as if interrupted after its answers
    again = _run(tmp_path, "--model", f"openai:tiny-chat,base_url={url},timeout=120,retries=6,concurrency=2",
                 "--resume")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [p.name for p in (tmp_path / "results" / "runs").iterdir()] == [run_dir.name]
    record = json.loads((run_dir / "run.json").read_text())
    assert "timeout" not in record["spec"]["model"] and record["spec"]["model"].endswith(f"base_url={url}")
    assert record["transport"] == {"timeout": "120", "retries": "6", "concurrency": "2"}


def test_split_transport_keeps_what_changes_results():
    from comam_bench.llm.spec import split_transport

    assert split_transport("openai:m,base_url=http://h/v1,timeout=9,window=512,key_env=K") == \
        ("openai:m,base_url=http://h/v1,window=512", {"timeout": "9", "key_env": "K"})
    assert split_transport("hf:/x,dtype=float32") == ("hf:/x,dtype=float32", {})
    assert split_transport("nonsense spec") == ("nonsense spec", {})


# ---------------------------------------------------------------- D2, D4, D11: the HTTP backend
@pytest.fixture
def echo_server(request, fake_openai):
    """The shared fake server (tests/fake_openai.py), which records each request's path and Authorization header;
    the parameter decides the answer: "ok" (a letter), "null" (`content: null`), or "echo" (HTTP 400 whose body
    echoes the path and the Authorization header)."""
    reply = getattr(request, "param", "ok")
    server = fake_openai(content=None if reply == "null" else LETTER)
    if reply == "echo":
        server.reply = (400, '{"error": "bad request {path}; Authorization: {auth}"}', {})
    return server


def test_a_query_in_base_url_follows_the_endpoint_path(tmp_path, echo_server):
    url = f"http://127.0.0.1:{echo_server.port}/v1?api_key=QUERYSECRET&region=eu"
    res = _run(tmp_path, "--model", f"openai:tiny-chat,base_url={url}")
    assert res.returncode == 0, res.stderr
    posts = {r.path for r in echo_server.requests if r.method == "POST"}
    assert posts == {"/v1/chat/completions?api_key=QUERYSECRET&region=eu"}
    assert ("GET", "/v1/models?api_key=QUERYSECRET&region=eu", None) in [(r.method, r.path, r.auth) for r in echo_server.requests]


def test_userinfo_is_sent_as_basic_but_an_api_key_wins(tmp_path, echo_server):
    import base64

    url = f"http://alice:PASSWORD9@127.0.0.1:{echo_server.port}/v1"
    res = _run(tmp_path, "--model", f"openai:tiny-chat,base_url={url}", "--run-id", "basic")
    assert res.returncode == 0, res.stderr
    assert {r.auth for r in echo_server.requests} == {"Basic " + base64.b64encode(b"alice:PASSWORD9").decode()}
    echo_server.requests.clear()
    res = cli(["run", "--system", "no-memory", "--task", "personamem-mini", "--limit", "3", "--model",
               f"openai:tiny-chat,base_url={url},key_env=MYKEY", "--results-dir", tmp_path / "results",
               "--run-id", "bearer"], tmp_path, extra_env={"MYKEY": "sk-THEKEY1234"})
    assert res.returncode == 0, res.stderr
    assert {r.auth for r in echo_server.requests} == {"Bearer sk-THEKEY1234"}


@pytest.mark.parametrize("echo_server", ["echo"], indirect=True)
@pytest.mark.parametrize("how", ["basic", "bearer", "query"])
def test_credentials_echoed_by_the_server_are_masked_on_stderr(tmp_path, echo_server, how):
    import base64

    env = {"MYKEY": "sk-BEARERSECRET"} if how == "bearer" else {}
    url = {"basic": f"http://alice:PASSWORD9@127.0.0.1:{echo_server.port}/v1",
           "bearer": f"http://127.0.0.1:{echo_server.port}/v1",
           "query": f"http://127.0.0.1:{echo_server.port}/v1?token=QUERYSECRET7"}[how]
    model = f"openai:tiny-chat,base_url={url}" + (",key_env=MYKEY" if how == "bearer" else "")
    res = cli(["run", "--system", "no-memory", "--task", "personamem-mini", "--limit", "3", "--model", model,
               "--results-dir", tmp_path / "results"], tmp_path, extra_env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "rejected the request" in res.stderr and "***" in res.stderr
    text = res.stdout + res.stderr
    for secret in ("PASSWORD9", base64.b64encode(b"alice:PASSWORD9").decode(), "BEARERSECRET", "QUERYSECRET7"):
        assert secret not in text


@pytest.mark.parametrize("echo_server", ["null"], indirect=True)
def test_null_content_replies_are_counted(tmp_path, echo_server):
    res = _run(tmp_path, "--model", f"openai:tiny-chat,base_url=http://127.0.0.1:{echo_server.port}/v1")
    assert res.returncode == 0, res.stderr
    (run_dir,) = (tmp_path / "results" / "runs").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["diagnostics"]["llm_null_replies"] == 3
    assert record["model"]["null_replies"] == 3
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert [r["diagnostics"].get("llm_null_replies") for r in rows] == [1, 1, 1]


# ---------------------------------------------------------------- D10: out-of-range system arguments
@pytest.mark.parametrize("system, arg", [("rag", "top_k=0"), ("rag", "top_k=-3"), ("no-memory", "answer_tokens=-5"),
                                         ("memorybank", "top_k=0"), ("a-mem", "retrieve_k=0")])
def test_out_of_range_counting_arguments_are_refused(tmp_path, system, arg):
    res = cli(["run", "--system", system, "--task", "personamem-mini", "--model", SCRIPTED, "--embedder", "hash:16",
               "--system-arg", arg, "--results-dir", tmp_path / "r"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "out of range" in res.stderr and arg.split("=")[0] in res.stderr
    assert not (tmp_path / "r" / "runs").exists() or not any((tmp_path / "r" / "runs").iterdir())


def test_counting_arguments_in_range_and_optional_none_are_accepted():
    from comam_bench.args import check_counts
    from comam_bench.systems.rag import RAG

    check_counts(RAG, {"top_k": 1, "piece_tokens": None, "rrf_k": 60}, "rag")


# ---------------------------------------------------------------- D13: portable paths in records
PATH_PLUGIN = '''
from comam_bench.api import Answer, MemorySystem


class WithPath(MemorySystem):
    """Answers (a); takes a path argument, as a checkpoint is given."""
    needs_llm = False

    def __init__(self, resources, where: str = "", **kwargs):
        super().__init__(resources, **kwargs)
        self.where = where

    def reset(self, context_id):
        pass

    def ingest(self, messages, start):
        pass

    def answer(self, questions):
        return [Answer("<final_answer>(a)") for _ in questions]

    def config(self):
        return {"where": self.where}
'''


def test_records_name_project_and_home_paths_portably(tmp_path):
    import os

    from helpers_cli import REPO

    src = tmp_path / "src"
    src.mkdir()
    (src / "path_plugin.py").write_text(PATH_PLUGIN)
    env = {"HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(src), str(TESTS)])}
    where = REPO / "results" / "training" / "some" / "checkpoint"
    res = cli(["run", "--system", "path_plugin:WithPath", "--task", "personamem-mini", "--limit", "3",
               "--system-arg", f"where={where}", "--results-dir", tmp_path / "r", "--run-id", "p"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "r" / "runs" / "p"
    text = (run_dir / "run.json").read_text() + (run_dir / "spec.json").read_text()
    assert str(REPO) not in text and str(tmp_path) not in text
    record = json.loads((run_dir / "run.json").read_text())
    assert record["spec"]["system"]["args"]["where"] == "results/training/some/checkpoint"
    assert record["system"]["config"]["where"] == "results/training/some/checkpoint"
    assert record["task"]["info"]["data_dir"].startswith("~/cache/")
    from comam_bench.results import spec_hash

    assert record["spec_hash"] == spec_hash(record["spec"])


def test_portable_forms():
    from comam_bench.portable import portable

    roots = ["/srv/proj"]
    assert portable("/srv/proj/results/x/checkpoint", roots) == "results/x/checkpoint"
    assert portable("hf:/srv/proj/models/a,window=3", roots) == "hf:models/a,window=3"
    assert portable("/srv/proj", roots) == "."
    assert portable("/srv/project2/x", roots) == "/srv/project2/x"
    assert portable("http://host/srv/proj/x", roots) == "http://host/srv/proj/x"
    assert portable("in /opt/py/lib/python3.11/site-packages/peft/a.py:3", roots) == "in <site-packages>/peft/a.py:3"
    home = str(Path.home())
    if home != "/":
        assert portable(f"{home}/.cache/comam-bench/x", roots) == "~/.cache/comam-bench/x"


def test_committed_records_name_no_machine_path():
    import re

    from helpers_cli import REPO

    pattern = re.compile(r"(?<![\w.~/-])/(?:home|root|Users|work)/|site-packages/")
    found = [str(p.relative_to(REPO)) for p in sorted((REPO / "results").rglob("*"))
             if p.is_file() and p.suffix in (".json", ".jsonl", ".log", ".md", ".html")
             and pattern.search(p.read_text(errors="replace"))]
    assert not found, f"absolute paths in committed records (run scripts/migrate_portable_paths.py): {found[:5]}"
