"""Reliability round 3 (issue 30): run ids stay inside DIR/runs, transport options stay outside the spec hash,
credentials never reach stderr, no traceback where a sentence is due, a sequential run goes on past a failing
context, a hung system is bounded, SIGTERM behaves like Ctrl-C."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reliability_helpers import cli

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
def server():
    from reliability_helpers import ChatServer

    s = ChatServer()
    yield s
    s.close()


def test_resume_after_raising_the_timeout_is_the_same_run(tmp_path, server):
    url = f"http://127.0.0.1:{server.port}/v1"
    first = _run(tmp_path, "--model", f"openai:tiny-chat,base_url={url},timeout=5,retries=1")
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
