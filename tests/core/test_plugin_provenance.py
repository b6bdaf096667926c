"""Plugin code is part of the record and of the spec hash; two plugins claiming one name are reported
(issue 11, item 5)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

from helpers_cli import cli

PLUGIN = textwrap.dedent('''
    import os
    from comam_bench.api import Answer, MemorySystem

    class Counting(MemorySystem):
        """Answers (a); interrupts itself (a Ctrl-C) before answer number $STOP_AT, when it is set."""
        needs_llm = False

        def __init__(self, resources, **kwargs):
            super().__init__(resources, **kwargs)
            self.n = 0

        def reset(self, context_id):
            pass

        def ingest(self, messages, start):
            pass

        def answer(self, questions):
            out = []
            for q in questions:
                if str(self.n) == os.environ.get("STOP_AT"):
                    raise KeyboardInterrupt
                self.n += 1
                out.append(Answer("<final_answer>(a)"))
            return out
''')


def _write_dist(site: Path, dist: str, version: str, entries: dict[str, str]) -> None:
    """A minimal installed distribution (dist-info only): what importlib.metadata reads for entry points."""
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[comam_bench.systems]\n{lines}\n")


def test_import_path_plugin_hash_in_record_and_resume_after_edit_refused(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "my_counting.py").write_text(PLUGIN)
    env = {"PYTHONPATH": str(src)}
    args = ["run", "--system", "my_counting:Counting", "--task", "personamem-mini", "--results-dir", tmp_path / "r",
            "--run-id", "p", "--batch-size", "1"]
    first = cli(args, tmp_path, {**env, "STOP_AT": "4"})
    assert first.returncode == 130, first.stderr
    (src / "my_counting.py").write_text(PLUGIN + "\n# an edit between start and resume\n")
    resumed = cli([*args, "--resume"], tmp_path, env)
    assert resumed.returncode == 2, resumed.stdout + resumed.stderr
    assert "my_counting" in resumed.stderr and "changed" in resumed.stderr
    fresh = cli([*args, "--overwrite"], tmp_path, env)
    assert fresh.returncode == 0, fresh.stderr
    record = json.loads((tmp_path / "r" / "runs" / "p" / "run.json").read_text())
    code = record["system"]["code"]
    assert code["module"] == "my_counting" and len(code["sha256"]) == 64
    assert record["spec"]["system"]["code"] == code


def test_entry_point_distribution_in_record_and_duplicates_reported(tmp_path):
    site = tmp_path / "site"
    (site / "dup_mod.py").parent.mkdir(parents=True)
    (site / "dup_mod.py").write_text(PLUGIN)
    _write_dist(site, "alpha_plugin", "1.2.0", {"twin": "dup_mod:Counting", "rag": "dup_mod:Counting"})
    _write_dist(site, "beta_plugin", "0.3.0", {"twin": "dup_mod:Counting"})
    env = {"PYTHONPATH": str(site)}
    listed = cli(["systems"], tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    text = " ".join((listed.stdout + listed.stderr).split())
    assert "'twin'" in text and "alpha_plugin" in text and "beta_plugin" in text
    assert "'rag'" in text and "built-in" in text
    ran = cli(["run", "--system", "twin", "--task", "personamem-mini", "--limit", "2", "--results-dir",
               tmp_path / "r", "--run-id", "t"], tmp_path, env)
    assert ran.returncode == 0, ran.stderr
    err = " ".join(ran.stderr.split())
    assert "twin" in err and "alpha_plugin" in err and "beta_plugin" in err and "wins" in err
    record = json.loads((tmp_path / "r" / "runs" / "t" / "run.json").read_text())
    assert record["system"]["code"]["distribution"] == "alpha_plugin"
    assert record["system"]["code"]["version"] == "1.2.0"
    builtin = cli(["run", "--system", "rag", "--task", "personamem-mini", "--limit", "1", "--embedder", "hash:32",
                   "--model", "scripted:constant=(a)", "--results-dir", tmp_path / "r", "--run-id", "b"],
                  tmp_path, env)
    assert builtin.returncode == 0, builtin.stderr
    assert "built-in" in " ".join(builtin.stderr.split())
