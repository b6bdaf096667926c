"""benchmarks/leaderboard_cpu.sh, dry: every system x seeds 0-2 on synthetic-cpu, likelihood, fixed run ids
with --resume, the 2,048-token window for the systems with a model, the leaderboard last."""
import os
import re
import subprocess

from helpers_paths import REPO

SCRIPT = REPO / "benchmarks" / "leaderboard_cpu.sh"


def dry(tmp_path, *args):
    env = {**os.environ, "DRY_RUN": "1", "RESULTS": str(tmp_path / "results"), "DATA_ROOT": str(tmp_path / "data")}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True)


def test_every_system_three_seeds_resumable(tmp_path):
    out = dry(tmp_path, "--resume")
    assert out.returncode == 0, out.stderr
    runs = [line for line in out.stdout.splitlines() if " run --protocol likelihood" in line]
    ids = {re.search(r"--run-id (\S+)", line).group(1) for line in runs}
    systems = {i.split("--")[1] for i in ids}
    assert len(runs) == len(ids) == 3 * len(systems) and len(systems) == 23
    assert {"a-mem", "cam", "comam", "comam-no-extraction", "comam-no-profile", "comam-no-retrieval", "mem0",
            "mem1", "memory-r1", "memorybank", "memoryos", "full-context", "no-memory", "oracle-evidence",
            "longest-option", "longest-option-sni", "rag", "recency", "comam-flagship"} <= systems
    assert all("--resume" in line and "--task synthetic-cpu" in line for line in runs)
    for line in runs:
        floor = "--system longest-option" in line
        assert ("--model smollm2,window=2048" in line) != floor, line
    assert out.stdout.rstrip().splitlines()[-1].endswith(f"leaderboard --results-dir {tmp_path / 'results'} --html")


def test_floors_only_and_bad_arguments(tmp_path):
    out = dry(tmp_path, "--floors")
    runs = [line for line in out.stdout.splitlines() if " run --protocol" in line]
    assert len(runs) == 6 and all("--system longest-option" in line for line in runs)
    assert out.stdout.rstrip().splitlines()[-1].endswith(f"leaderboard --results-dir {tmp_path / 'results'} --html")
    bad = dry(tmp_path, "--all")
    assert bad.returncode == 2 and "usage:" in bad.stderr


def test_a_trained_flagship_checkpoint_runs_last_where_there_is_one(tmp_path):
    """comam-trained-joint: skipped, and said so, without a checkpoint; with one, comam on it, three seeds."""
    out = dry(tmp_path)
    assert "skipped comam-trained-joint: no checkpoint at" in out.stdout
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "comam_checkpoint.json").write_text("{}")
    env = {**os.environ, "DRY_RUN": "1", "RESULTS": str(tmp_path / "results"), "DATA_ROOT": str(tmp_path / "data"),
           "FLAGSHIP_CHECKPOINT": str(ckpt), "SYSTEMS": "comam-flagship comam-trained-joint"}
    out = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True)
    runs = [line for line in out.stdout.splitlines() if " run --protocol likelihood" in line]
    assert len(runs) == 6 and all("--model smollm2,window=2048" in line for line in runs)
    trained = [line for line in runs if "--run-id synthetic-cpu--comam-trained-joint--" in line]
    assert len(trained) == 3 and all(f"--system comam --system-arg checkpoint={ckpt} " in line for line in trained)
