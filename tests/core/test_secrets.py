"""No secret typed into a model spec reaches a record, a run id, the terminal or an error (issue 11, item 1)."""
from __future__ import annotations

import json

import pytest

from comam_bench.redact import redact, redact_obj
from helpers_cli import cli, written_text


@pytest.fixture
def server(fake_openai):
    return fake_openai()


def _run(tmp_path, base_url, *extra):
    return cli(["run", "--system", "no-memory", "--task", "personamem-mini", "--limit", "3",
                "--model", f"openai:tiny-chat,base_url={base_url}", "--results-dir", tmp_path / "results", *extra],
               tmp_path)


def test_userinfo_and_key_query_never_written_or_printed(tmp_path, server):
    url = f"http://alice:SECRET1@127.0.0.1:{server.port}/v1?api_key=SECRET2&region=eu"
    res = _run(tmp_path, url)
    assert res.returncode == 0, res.stdout + res.stderr
    assert any("api_key" in p for p in server.paths), "the real URL (with its query) still reaches the server"
    text = written_text(tmp_path / "results") + res.stdout + res.stderr
    assert "SECRET" not in text and "alice" not in text
    (run_dir,) = (tmp_path / "results" / "runs").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert "region=eu" in record["spec"]["model"], "non-secret parts of the URL stay"
    assert "tiny-chat" in run_dir.name


def test_spec_hash_does_not_depend_on_the_secret(tmp_path, server):
    a = _run(tmp_path, f"http://u:SECRET_A@127.0.0.1:{server.port}/v1", "--run-id", "a")
    b = _run(tmp_path, f"http://u:SECRET_B@127.0.0.1:{server.port}/v1", "--run-id", "b")
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    hashes = [json.loads((tmp_path / "results" / "runs" / r / "run.json").read_text())["spec_hash"] for r in "ab"]
    assert hashes[0] == hashes[1]


def test_server_down_error_has_no_secret(tmp_path):
    res = _run(tmp_path, "http://bob:SECRET3@127.0.0.1:9/v1?token=SECRET4")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert "SECRET" not in res.stdout + res.stderr + written_text(tmp_path / "results")


def test_a_bad_spec_error_has_no_secret(tmp_path):
    res = cli(["run", "--system", "no-memory", "--task", "personamem-mini", "--results-dir", tmp_path / "r",
               "--model", "openai:m,base_url=http://u:SECRET5@h/v1,bogus_option=1"], tmp_path)
    assert res.returncode == 2 and "SECRET" not in res.stdout + res.stderr, res.stderr


def test_redaction_is_stable_and_keeps_the_rest():
    assert redact("openai:m,base_url=https://me:pw@host:8/v1") == "openai:m,base_url=https://***@host:8/v1"
    assert redact("http://h/v1?key=abc&x=1&access_token=zz") == "http://h/v1?key=***&x=1&access_token=***"
    assert redact("hf:/models/qwen,dtype=bfloat16") == "hf:/models/qwen,dtype=bfloat16"
    assert redact_obj({"a": ["http://x:y@h"], "b": 3}) == {"a": ["http://***@h"], "b": 3}
