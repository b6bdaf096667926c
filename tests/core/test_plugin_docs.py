"""The plugin docs (docs/plugins.md, linked from the README) are enough to write a plugin: its code and
pyproject.toml, taken from the page's text alone, install and run as the section says (listed by `systems`,
named by its entry-point key, using the run's embedder and model)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from helpers_paths import REPO

ROOT = REPO
PAGE = ROOT / "docs" / "plugins.md"


def section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("## Adding a memory system as a plugin")
    end = text.find("\n## ", start + 10)
    return text[start:end if end != -1 else None]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section(), flags=re.S)


def test_the_section_covers_what_a_plugin_author_needs():
    text = " ".join(section().split())
    for needle in ("tests/plugin_pkg/", ".venv/bin/pip install", "Do not list `comam-bench`", "`role`", "`content`",
                   "render_messages", "`resources`", "`embedder`", "entry-point key", "comam_bench.retrieval"):
        assert needle in text, needle
    assert text.index("tests/plugin_pkg/") < text.index("```")  # the complete example is named first
    code = blocks("python")[0]
    for name in re.findall(r"import (.+)", code):  # nothing imported that is not used
        for item in (x.strip() for x in name.split(",")):
            assert len(re.findall(rf"\b{item}\b", code)) > 1, f"{item} is imported and never used"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The plugin as the docs write it, pip-installed into a private folder (not the shared venv)."""
    src = tmp_path_factory.mktemp("src") / "my-memory"
    src.mkdir()
    toml = next(b for b in blocks("toml") if "[build-system]" in b)
    module = re.search(r'= "(\w+):\w+"', toml).group(1)
    (src / "pyproject.toml").write_text(toml)
    (src / f"{module}.py").write_text(blocks("python")[0])
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(src)], check=True, capture_output=True, timeout=300)
    return site, re.search(r'^([\w-]+) = "\w+:(\w+)"', toml, flags=re.M).groups()


def cli(args, site, tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "HF_HUB_OFFLINE": "1",
           "COMAM_BENCH_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "comam_bench.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)


def test_the_documented_plugin_installs_lists_and_runs(installed, tmp_path):
    site, (key, cls) = installed
    listed = json.loads(cli(["systems", "--json"], site, tmp_path).stdout)
    row = next(r for r in listed["systems"] if r["system"] == key)
    assert row["source"] == "entry-point" and "most similar" in row["description"]
    # A scripted model and the hashing embedder keep the test fast; the code path is the docs'.
    done = cli(["run", "--system", key, "--system-arg", "top_k=3", "--task", "personamem-mini", "--limit", "3",
                "--model", "scripted:constant=<final_answer>(b)", "--embedder", "hash:64",
                "--results-dir", str(tmp_path / "r"), "--run-id", "p"], site, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    run = tmp_path / "r" / "runs" / "p"
    record = json.loads((run / "run.json").read_text())
    assert record["system"]["name"] == key and record["system"]["source"] == "entry-point"
    assert record["system"]["code"]["module"] == "my_memory" and record["scores"]["n"] == 3
    memories = [json.loads(line)["memory"] for line in (run / "memory.jsonl").read_text().splitlines()]
    # top_k=3 messages under the standard prompt's memory header, rendered as "role: content" lines
    picked = [len(re.findall(r"^(?:user|assistant): ", m, flags=re.M)) for m in memories]
    assert all(0 < k <= 3 for k in picked) and 3 in picked, memories
