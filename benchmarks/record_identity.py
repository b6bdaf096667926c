"""Rerun committed runs and check that their records come out the same, timings aside.

    PYTHONPATH=. python benchmarks/record_identity.py --data-dir locomo=DIR [--mode sequential|threads|ray]
        [--reference DIR] [--out DIR] [RUN_ID ...]

Each run's spec (results/runs/<id>/spec.json) is turned back into a RunConfig and run again with the code on
the path into a fresh results folder (--out, default a temporary one), under the same run id. Then run.json,
ingest.jsonl and samples.jsonl (where the reference has them) are compared with the committed ones, and
with DIR/runs/<id> for each --reference DIR (another rerun, say by an older checkout: it has the files the
committed runs leave out). What may differ is masked: timings (`seconds`, `wall_seconds`,
`worker_start_seconds`), when and where it ran (`created`, `env`, `git`), and how it was executed
(`execution`) when --mode is not sequential; then the JSONL rows, which parallel workers write as they
finish, are compared in question-id / key order.
Fields a reference predates (a committed record written before `transport` existed, absent or null after
scripts/migrate_records.py upgraded it) are named, not compared.
Everything else is compared as the JSON text the runner wrote, key order included. Exit 1 if any run differs.

The default runs are the cheap ones (no model, or the embedded smollm2 on 8 questions): minutes on a CPU.
The LoCoMo ones need the folder holding locomo10.json (--data-dir locomo=DIR; it is not downloaded for you).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = (
    "locomo--not-mentioned--no-llm--s0--n24--e727925b",  # open-ended protocol, no model
    "locomo--no-memory--smollm2--s0--n8--83b50037",  # open-ended, the embedded model answering
    "locomo--oracle-evidence--smollm2--s0--n8--e3c5b57e",
    "personamem-mini--longest-option--no-llm--s0--4ef06661",  # discriminative, no model
    "synthetic-32k--longest-option--likelihood--s0",  # likelihood protocol, data generated for the seed
)
TIMING_KEYS = {"seconds", "wall_seconds", "worker_start_seconds"}
FILES = ("run.json", "ingest.jsonl", "samples.jsonl")


def config_of(committed: Path, results: Path, mode: str, data_dirs: dict[str, str]):
    """The RunConfig that reruns a committed run (`data_dirs`: task name -> --data-dir); a run this script
    cannot redo as it was run is refused."""
    from comam_bench import protocols
    from comam_bench.runner import RunConfig

    record = json.loads((committed / "run.json").read_text())
    spec = record["spec"]
    if record.get("transport") or spec.get("judge"):
        raise SystemExit(f"{committed.name}: a run with model transport options or a judge is not rerun by this "
                         "script; pick another run")
    execution = {"sequential": {}, "threads": {"parallel": 2}, "ray": {"ray": "local", "ray_workers": 2}}[mode]
    return RunConfig(task=spec["task"]["name"], system=spec["system"]["name"], model=spec["model"],
                     embedder=spec["embedder"], data_dir=data_dirs.get(spec["task"]["name"]),
                     system_args=dict(spec["system"]["args"]), seed=spec["seed"],
                     limit=spec["limit"], rebuild_per_question=spec["rebuild_per_question"],
                     protocol=protocols.VERSIONS[spec["protocol"]], results_dir=results, run_id=committed.name,
                     overwrite=True, keep_memory=False, **execution)


def masked(value: Any, skip: set[str]) -> Any:
    """`value` with every key in `skip` (at any depth) replaced by "<masked>"."""
    if isinstance(value, dict):
        return {k: "<masked>" if k in skip else masked(v, skip) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, skip) for v in value]
    return value


def aligned(want: Any, got: Any, added: set[str], where: str = "") -> Any:
    """`got` less the keys `want` lacks (fields added to records since the reference was written), each
    such key's path (list positions as []) noted in `added`; the comparison then covers everything else."""
    if isinstance(want, dict) and isinstance(got, dict):
        # A record upgraded by scripts/migrate_records.py holds null where its old format recorded nothing
        # (transport, execution): unknown, so named like an absent field rather than compared.
        unknown = {k for k, v in got.items() if k not in want or (want[k] is None and v is not None)}
        added.update(f"{where}/{k}" for k in unknown)
        return {k: aligned(want[k], v, added, f"{where}/{k}") if k not in unknown else want[k]
                for k, v in got.items() if k in want}
    if isinstance(want, list) and isinstance(got, list):
        return [aligned(w, g, added, f"{where}[]") for w, g in zip(want, got)] + got[len(want):]
    return got


def rows_of(path: Path) -> list[Any]:
    if path.name.endswith(".jsonl"):
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(path.read_text())]


def first_difference(a: Any, b: Any, where: str = "") -> str:
    """Where two JSON values first differ (a path and both values), for the report."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{where or '/'}: keys {list(a)} != {list(b)}"
        for k in a:
            if a[k] != b[k]:
                return first_difference(a[k], b[k], f"{where}/{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{where}[{i}]")
    return f"{where or '/'}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}"


def compare(reference: Path, rerun: Path, skip: set[str], added: set[str], any_order: bool = False) -> list[str]:
    """The differences of each file the reference has, masked; [] when identical. Fields the reference
    predates are left out of the comparison and named in `added`. `any_order`: rows are compared in the order
    of their question id or ingest key (parallel workers write them as they finish; the record is in run order)."""
    out = []
    for name in FILES:
        if not (reference / name).exists():
            continue
        if not (rerun / name).exists():
            out.append(f"{name}: missing in the rerun")
            continue
        want, got = (masked(rows_of(d / name), skip) for d in (reference, rerun))
        if any_order and name.endswith(".jsonl"):
            want, got = (sorted(rows, key=lambda r: str(r.get("question_id", r.get("key")))) for rows in (want, got))
        news: set[str] = set()
        got = aligned(want, got, news)
        added.update(f"{name}{path.removeprefix('[]')}" for path in news)
        if json.dumps(want) != json.dumps(got):
            out.append(f"{name}: {first_difference(want, got)}")
    return out


def report(run_id: str, reference: Path, rerun: Path, skip: set[str], any_order: bool = False) -> bool:
    """Print how a rerun compares with one reference; True when they differ."""
    added: set[str] = set()
    diffs = compare(reference, rerun, skip, added, any_order)
    files = [n for n in FILES if (reference / n).exists()]
    print(f"{run_id} vs {reference.parent.parent}: {'identical' if not diffs else 'DIFFERENT'} ({', '.join(files)}"
          + (f"; fields the reference predates, not compared: {', '.join(sorted(added))}" if added else "") + ")")
    for d in diffs:
        print(f"  {d}")
    return bool(diffs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", default=list(DEFAULT_RUNS))
    parser.add_argument("--mode", choices=("sequential", "threads", "ray"), default="sequential")
    parser.add_argument("--reference", type=Path, action="append", default=[], metavar="DIR",
                        help="also compare with DIR/runs/<id> (another rerun, say by an older checkout); repeatable")
    parser.add_argument("--data-dir", action="append", default=[], metavar="TASK=DIR",
                        help="the --data-dir a task's runs were given (LoCoMo: locomo=/work/shared/data/locomo)")
    parser.add_argument("--out", type=Path, help="results folder for the reruns (default: a temporary one)")
    args = parser.parse_args(argv)
    from comam_bench.runner import Run

    data_dirs = dict(pair.split("=", 1) for pair in args.data_dir)
    out = args.out or Path(tempfile.mkdtemp(prefix="record-identity-"))
    # resources: measured memory and time; selection: a block the records committed before issue 28 lack.
    skip = TIMING_KEYS | {"created", "env", "git", "resources", "selection"} | (
        {"execution"} if args.mode != "sequential" else set())
    print(f"masked: {', '.join(sorted(skip))}")
    failed = 0
    for run_id in args.runs:
        committed = ROOT / "results" / "runs" / run_id
        Run(config_of(committed, out, args.mode, data_dirs)).execute()
        for reference in [committed] + [d / "runs" / run_id for d in args.reference]:
            failed += report(run_id, reference, out / "runs" / run_id, skip, any_order=args.mode != "sequential")
    compared = len(args.runs) * (1 + len(args.reference))
    print(f"{compared - failed} of {compared} comparisons identical; reruns in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
