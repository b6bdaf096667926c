

def test_ci_runs_the_readme_commands_in_order(tmp_path):
    # .ci/run's plumbing with stand-ins for setup, the CLI and the suite: which commands, in which order.
    for name in (".ci/run", "scripts/readme_command.py", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    calls = tmp_path / "calls.txt"
    stubs = {"scripts/setup.sh": "echo setup", "scripts/test.sh": 'echo "test $*"',
             ".venv/bin/comam-bench": 'echo "comam-bench $*"'}
    for name, body in stubs.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"#!/usr/bin/env bash\n{body} >> {calls}\n")
        (tmp_path / name).chmod(0o755)
    env = {**os.environ, "README_LIMIT": "3"}
    subprocess.run(["bash", str(tmp_path / ".ci" / "run")], check=True, env=env, capture_output=True)
    assert calls.read_text().splitlines() == [
        "setup", "comam-bench run --system no-memory --task personamem-mini --limit 3", "test "]
