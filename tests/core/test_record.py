"""The run record (comam_bench.record): every committed record loads, old formats migrate in memory, the
runner writes the current format, and a record says which data it used (generated data by seed)."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from comam_bench.record import (RECORD_VERSION, SYNTHETIC_GENERATOR, DataUsed, Generated, RecordError, RunRecord,
                                content_hash, migrate, observe_data)
from comam_bench.registry import project_root
from comam_bench.runner import Run, RunConfig

ROOT = project_root()
COMMITTED = sorted((ROOT / "results").rglob("run.json"))


def _shape(obj, depth: int = 2):
    """The keys of a record down to `depth` levels (values' shapes only where they are objects)."""
    if not isinstance(obj, dict) or depth == 0:
        return type(obj).__name__ if obj is not None else None
    return {k: _shape(v, depth - 1) for k, v in obj.items()}


def _as_format_1(record: dict) -> dict:
    """A format-2 record as format 1 wrote it: no data block, nulls for what format 1 did not record."""
    old = {k: v for k, v in copy.deepcopy(record).items() if k != "data"}
    old["format_version"] = 1
    for key in ("transport", "execution"):
        if old[key] is None:
            del old[key]
    return old


def test_every_committed_record_loads_and_is_in_the_current_format():
    assert len(COMMITTED) >= 60
    for path in COMMITTED:
        raw = json.loads(path.read_text(encoding="utf-8"))
        record = RunRecord.read(path)
        assert raw["format_version"] == RECORD_VERSION, f"{path}: run scripts/migrate_records.py"
        assert record.to_dict() == raw, path  # typed and back: nothing lost, nothing added
        assert record.run_id == path.parent.name and record.status == "complete"
        assert record.data.files == record.task.files and record.data.sha256 == content_hash(record.data.files)
        assert record.scores.raw and record.system.name != "unknown" and record.protocol.version


def test_committed_synthetic_records_name_the_generator_and_seed_of_their_data():
    records = [RunRecord.read(p) for p in COMMITTED]
    per_seed = [r for r in records if r.task.name == "synthetic-32k"]
    assert len(per_seed) == 21
    for r in per_seed:
        assert r.data.generated == Generated(SYNTHETIC_GENERATOR, 1, "32k", r.seed) and r.data_per_seed
    locomo = [r for r in records if r.task.name == "locomo"]
    assert locomo and all(r.data.generated is None and not r.data_per_seed for r in locomo)


def test_format_1_migrates_in_memory_without_changing_the_dict():
    raw = json.loads(COMMITTED[0].read_text(encoding="utf-8"))
    old = _as_format_1(raw)
    before = copy.deepcopy(old)
    record = RunRecord.from_dict(old)
    assert old == before
    assert record.format_version == RECORD_VERSION
    # What format 1 cannot say (was the data generated for this seed?) stays unknown: no generator is run.
    assert record.data == DataUsed.of_files(raw["task"]["files"], None, None)
    assert record.protocol.raw == raw["protocol"] and record.scores.raw == raw["scores"]


def test_format_1_without_a_protocol_block_is_the_discriminative_version_its_spec_names():
    record = RunRecord.from_dict({"format_version": 1, "spec": {"protocol": "personamem-discriminative-v1"}})
    assert record.protocol.raw == {"name": "discriminative", "version": "personamem-discriminative-v1",
                                   "headline_norm": None}


@pytest.mark.parametrize("data, match", [
    ([1, 2], "not a JSON object"),
    ({"format_version": RECORD_VERSION + 1}, "newer than this comam-bench reads"),
    ({"format_version": "two"}, "not a record format"),
])
def test_what_is_not_a_readable_record_says_why(data, match):
    with pytest.raises(RecordError, match=match):
        migrate(data)


def test_unreadable_file_is_a_record_error(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(RecordError, match="unreadable run.json"):
        RunRecord.read(tmp_path)


def test_observe_data_finds_the_seed_whose_generated_files_match():
    from comam_bench.data.synthetic import GENERATOR_VERSION, file_hashes

    task = {"source": "synthetic", "preset": "mini", "seed": 0}
    seed1 = file_hashes("mini", 1)
    data = observe_data(task, seed1, None, [1, 0])
    assert data.generated == Generated(SYNTHETIC_GENERATOR, GENERATOR_VERSION, "mini", 1) and data.drawn_for(1)
    assert not data.drawn_for(0)
    assert observe_data(task, seed1, None, [2, 0]).generated is None  # neither seed's bytes
    assert observe_data({"source": "personamem"}, seed1, "data", [1]).generated is None
    edited = {**seed1, "questions_mini.csv": "0" * 64}
    assert observe_data(task, edited, None, [1]).generated is None


def test_runner_writes_the_current_format_with_the_same_shape_as_migrated_records(tmp_path):
    """A new record has the shape of the committed (migrated) ones, and names its generated data."""
    cfg = RunConfig(task="synthetic-32k", system="longest-option", model=None, embedder="hash:64",
                    results_dir=tmp_path / "results", limit=4, seed=0)
    record = Run(cfg).execute()
    on_disk = json.loads((tmp_path / "results" / "runs" / record["run_id"] / "run.json").read_text())
    assert on_disk == record == RunRecord.from_dict(record).to_dict()
    committed = json.loads((ROOT / "results" / "runs" / "synthetic-32k--longest-option--likelihood--s0"
                            / "run.json").read_text())
    ignore = {"scores_by_norm"}  # a likelihood run's extra scores; this one is discriminative
    # selection and resources are optional keys of format 2 the committed records predate (comam_bench.record).
    assert {"selection", "resources"} <= set(record)
    assert set(record) - {"selection", "resources"} == set(committed) - ignore - {"selection", "resources"}
    for key in ("data", "task", "system", "protocol", "cost", "skipped"):
        assert set(record[key]) >= set(committed[key]) - {"data_dir"}, key
    assert set(record["data"]) == set(committed["data"])
    from comam_bench.data.synthetic import GENERATOR_VERSION

    generated = RunRecord.from_dict(record).data.generated
    assert generated == Generated(SYNTHETIC_GENERATOR, GENERATOR_VERSION, "32k", 0)
    assert record["data"]["files"] == record["task"]["files"] == record["spec"]["data_files"]


def test_migrate_records_script_upgrades_once_and_checks(tmp_path):
    """scripts/migrate_records.py: format-1 records get the data block a new run writes; a second run and
    --check find nothing to do; the spec and its hash are untouched."""
    src = ROOT / "results" / "runs" / "synthetic-32k--rag--likelihood--s1"
    runs = tmp_path / "results" / "runs"
    shutil.copytree(src, runs / src.name, ignore=shutil.ignore_patterns("samples.jsonl", "ingest.jsonl"))
    current = json.loads((src / "run.json").read_text())
    (runs / src.name / "run.json").write_text(json.dumps(_as_format_1(current)))
    script = [sys.executable, str(ROOT / "scripts" / "migrate_records.py"), str(tmp_path / "results")]
    check = subprocess.run(script + ["--check"], capture_output=True, text=True)
    assert check.returncode == 1 and "would upgrade" in check.stdout
    done = subprocess.run(script, capture_output=True, text=True)
    assert done.returncode == 0 and "32k seed 1" in done.stdout
    assert json.loads((runs / src.name / "run.json").read_text()) == current  # as the committed one
    again = subprocess.run(script + ["--check"], capture_output=True, text=True)
    assert again.returncode == 0 and "0 record(s)" in again.stdout


@pytest.mark.parametrize("name", ["migrate_records.py", "backfill_checkpoint_info.py"])
def test_record_scripts_refuse_a_folder_without_runs(tmp_path, name):
    """Both record-rewriting scripts share one command line (comam_bench.results.records_script_args)."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / name), str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "runs/<run id>/run.json" in done.stderr and "Traceback" not in done.stderr


def test_leaderboard_says_how_to_upgrade_records_in_an_older_format(tmp_path):
    from click.testing import CliRunner

    from comam_bench.cli.main import cli

    src = ROOT / "results" / "runs" / "synthetic-32k--rag--likelihood--s1"
    runs = tmp_path / "results" / "runs"
    for name, record in (("old", _as_format_1(json.loads((src / "run.json").read_text()))),
                         ("new", json.loads((src / "run.json").read_text()))):
        (runs / name).mkdir(parents=True)
        (runs / name / "run.json").write_text(json.dumps({**record, "run_id": name}))
    result = CliRunner().invoke(cli, ["leaderboard", "--results-dir", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    assert "1 record(s) in an older format" in result.output and "migrate_records.py" in result.output
