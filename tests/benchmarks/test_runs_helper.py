"""benchmarks/_runs.sh, the run/start functions that likelihood_runs.sh, leaderboard_cpu.sh,
evaluate_checkpoints.sh and leaderboard_128k.sh source: a complete run id is skipped, every other one is
printed and, unless DRY_RUN is set, run with --resume; and the two scripts without a test of their own."""
import os
import subprocess

from helpers_paths import REPO


def bash(tmp_path, command, **env):
    full = {**os.environ, "RESULTS": str(tmp_path / "results"), **env}
    return subprocess.run(["bash", "-c", command], cwd=REPO, env=full, capture_output=True, text=True, timeout=120)


def complete(tmp_path, run_id):
    (tmp_path / "results" / "runs" / run_id).mkdir(parents=True)
    (tmp_path / "results" / "runs" / run_id / "run.json").write_text("{}")


def test_start_skips_a_complete_run_and_runs_the_others_with_resume(tmp_path):
    complete(tmp_path, "done")
    fake = tmp_path / "comam-bench"  # shows the arguments it was given, one <...> each
    fake.write_text("#!/bin/sh\nprintf '<%s>' \"$@\"; echo\n")
    fake.chmod(0o755)
    command = "set -eu; . benchmarks/_runs.sh; start done --x; start todo --system 'a b'"
    out = bash(tmp_path, command, BIN=str(fake), PROTOCOL="likelihood")
    assert out.returncode == 0, out.stderr
    results = tmp_path / "results"
    printed = f"+ {fake} run --protocol likelihood --results-dir {results} --run-id todo --resume --system a b"
    assert out.stdout.splitlines() == [
        "= done is complete", printed,
        f"<run><--protocol><likelihood><--results-dir><{results}><--run-id><todo><--resume><--system><a b>"]
    dry = bash(tmp_path, command, BIN=str(fake), PROTOCOL="likelihood", DRY_RUN="1")
    assert dry.returncode == 0 and dry.stdout.splitlines() == ["= done is complete", printed]


def test_likelihood_runs_dry(tmp_path):
    complete(tmp_path, "synthetic-32k--rag--likelihood--s0")
    out = bash(tmp_path, "bash benchmarks/likelihood_runs.sh", DRY_RUN="1", SEEDS="0", DATA_ROOT=str(tmp_path / "d"),
               SYNTHETIC_SYSTEMS="rag recency", MINI_SYSTEMS="rag")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "= synthetic-32k--rag--likelihood--s0 is complete" in lines
    runs = [line for line in lines if " run --protocol likelihood " in line]
    assert [line.split("--run-id ")[1].split()[0] for line in runs] == [
        "synthetic-32k--recency--likelihood--s0", "personamem-mini--rag--likelihood--s0"]
    assert all("--resume" in line for line in runs) and lines[-1].endswith(f"leaderboard --results-dir {tmp_path}/results")


def test_evaluate_checkpoints_dry(tmp_path):
    (tmp_path / "out" / "s0" / "joint" / "checkpoint").mkdir(parents=True)
    complete(tmp_path, "personamem-mini--comam-untrained--likelihood--s0--n8")
    out = bash(tmp_path, "bash benchmarks/evaluate_checkpoints.sh", DRY_RUN="1", OUT=str(tmp_path / "out"),
               MODES="joint local-only")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"- no checkpoint at {tmp_path}/out/s0/local-only/checkpoint" in lines
    assert "= personamem-mini--comam-untrained--likelihood--s0--n8 is complete" in lines
    [run] = [line for line in lines if line.startswith("+ ")]
    assert run.startswith("+ .venv/bin/comam-bench run --task personamem-mini --protocol likelihood --limit 8 "
                          f"--results-dir {tmp_path}/results --run-id personamem-mini--comam-trained-joint--"
                          "likelihood--s0--n8 --resume --system comam --system-arg checkpoint=")


def test_evaluate_checkpoints_on_the_real_128k_dry(tmp_path):
    """--flagship-128k: the untrained reference and the joint checkpoint, N questions from each history."""
    (tmp_path / "out" / "s0" / "joint" / "checkpoint").mkdir(parents=True)
    out = bash(tmp_path, "bash benchmarks/evaluate_checkpoints.sh --flagship-128k", DRY_RUN="1",
               OUT=str(tmp_path / "out"), PER_CONTEXT="3", DATA_DIR="/data/128k")
    assert out.returncode == 0, out.stderr
    runs = [line for line in out.stdout.splitlines() if line.startswith("+ ")]
    assert [line.split("--run-id ")[1].split()[0] for line in runs] == [
        "personamem-128k--comam-untrained--likelihood--s0--pc3", "personamem-128k--comam-trained-joint--likelihood--s0--pc3"]
    assert all("--task personamem-128k --protocol likelihood --limit-per-context 3 --data-dir /data/128k " in line
               for line in runs)
    assert "--system-arg retrieval_format=structured" in runs[0] and "--system-arg checkpoint=" in runs[1]
