"""Every option checked before anything loads, with the accepted values in the message; square brackets in
errors survive rich (issue 11, item 8)."""
from __future__ import annotations

import pytest

from helpers_cli import cli

BASE = ["run", "--system", "longest-option", "--task", "personamem-mini"]


@pytest.mark.parametrize("extra, needle", [
    (["--limit", "0"], "--limit"),
    (["--limit", "-1"], "--limit"),
    (["--batch-size", "0"], "--batch-size"),
    (["--embedder", "nope"], "minilm"),
    (["--embedder", "hash:x"], "hash"),
    (["--model", "bogus:x"], "openai:"),
])
def test_bad_option_fails_up_front_with_accepted_values(tmp_path, extra, needle):
    res = cli([*BASE, "--results-dir", tmp_path / "r", *extra], tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert "validate" not in res.stderr, "the data is fine: the message is about the option"
    assert not (tmp_path / "r").exists()


def test_model_that_cannot_load_draws_no_progress_bar(tmp_path):
    res = cli(["run", "--system", "no-memory", "--task", "personamem-mini", "--model", "hf:/nope",
               "--results-dir", tmp_path / "r"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "0/" not in res.stdout and "━" not in res.stdout


def test_square_brackets_survive_in_errors(capsys):
    from comam_bench.cli.errors import friendly_errors
    from comam_bench.runner import RunError

    with pytest.raises(SystemExit) as exit_info:
        with friendly_errors():
            raise RunError("install it: pip install comam-bench[vllm] and retry [bold]")
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "comam-bench[vllm]" in err and "[bold]" in err


def test_generate_names_the_accepted_presets(tmp_path):
    res = cli(["data", "generate", "--out", tmp_path / "d", "--preset", "huge"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "'mini'" in res.stderr and "'1m'" in res.stderr
