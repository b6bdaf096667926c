"""A bad --system-arg is a one-paragraph error naming the argument, the accepted ones and a close match; a
failure before the first answer leaves nothing that blocks the corrected rerun (issue 11, item 3)."""
from __future__ import annotations

import pytest

from comam_bench.registry import RegistryError, resolve_system, system_class
from comam_bench.runner import Run, RunConfig
from helpers_cli import cli

BASE = ["run", "--system", "longest-option", "--task", "personamem-mini", "--limit", "3", "--run-id", "r1"]


def test_unknown_system_arg_then_the_corrected_command(tmp_path):
    results = ["--results-dir", tmp_path / "results"]
    bad = cli([*BASE, *results, "--system-arg", "answer_tokenz=5"], tmp_path)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    err = " ".join(bad.stderr.split())
    assert "'answer_tokenz'" in err and "Did you mean 'answer_tokens'" in err and "Accepted: answer_tokens" in err
    assert not (tmp_path / "results" / "runs" / "r1").exists()
    good = cli([*BASE, *results, "--system-arg", "answer_tokens=5"], tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert (tmp_path / "results" / "runs" / "r1" / "run.json").exists()


def test_a_system_arg_of_the_wrong_type(tmp_path):
    res = cli([*BASE, "--results-dir", tmp_path / "results", "--system-arg", "answer_tokens=many"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    err = " ".join(res.stderr.split())
    assert "answer_tokens" in err and "int" in err and "'many'" in err
    assert not (tmp_path / "results" / "runs" / "r1").exists()


def test_the_error_is_a_registry_error_raised_in_prepare(tmp_path):
    run = Run(RunConfig(task="personamem-mini", system="rag", results_dir=tmp_path / "r",
                        system_args={"top_kk": 3}, embedder="hash:64"))
    with pytest.raises(RegistryError, match="top_k"):
        run.prepare()
    assert not (tmp_path / "r").exists()


def test_accepted_arguments_of_systems_with_their_own_argument_class():
    from comam_bench.args import typed_args

    spec = resolve_system("comam", {"rankin": "bm25"})
    with pytest.raises(RegistryError, match="Did you mean 'ranking'"):
        typed_args(system_class(spec), spec.args, spec.name)
    spec = resolve_system("comam", {"ranking": "bm25", "checkpoint": None})
    typed_args(system_class(spec), spec.args, spec.name)


@pytest.mark.parametrize("model", ["hf:/nope/not/a/model", "openai:m,base_url=http://127.0.0.1:9/v1"])
def test_a_model_that_cannot_load_leaves_nothing_behind(tmp_path, model, fake_openai):
    args = ["run", "--system", "no-memory", "--task", "personamem-mini", "--limit", "2", "--run-id", "m",
            "--results-dir", tmp_path / "results"]
    res = cli([*args, "--model", model], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "results" / "runs" / "m").exists()
    server = fake_openai()
    ok = cli([*args, "--model", f"openai:tiny-chat,base_url={server.base_url}"], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
