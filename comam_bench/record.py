"""The run record (run.json) as one typed, versioned object: written by the runner, read by every reader.

    RunRecord.read(path)         -> RunRecord   a run.json, migrated in memory to RECORD_VERSION
    RunRecord.from_dict(d)       -> RunRecord   the same from a dict (a record already in memory)
    record.to_dict() / .write(p)                what the runner writes: the current format

Readers use the typed fields (record.task.name, record.scores.accuracy, record.data.generated) instead of
`.get(...) or {}` chains on a raw dict: the one place that knows a record's shape, and its history, is here.

Format history (`format_version`):
  1  the record as written up to issue 27: no `data` block; `protocol` absent for discriminative runs
     (its version in spec.protocol); `execution` absent before parallel runs; `transport` absent before
     model specs carried transport options.
  2  adds `data` (which data the run read: the files' sha256, their folder relative to the results folder,
     and, for generated data, the generator, its version, preset and seed that write exactly these bytes),
     and always writes `protocol`, `execution` and `transport` (null where a migrated record cannot know).
     In a migrated record `data.dir` is `task.data_dir` where format 1 had it, else null (then
     `task.info.data_dir` holds the folder as it was typed; comam_bench.data.recorded reads both).
  3  adds `cost.latency` (issue 28): per-question seconds and tokens by phase (ingest, answer, total) as
     mean, p50 and p95, ingestion attributed to the first question that needed it (comam_bench.latency).
     A migrated record has `cost.latency` null (unknown: it is computed from the run folder's
     samples.jsonl and ingest.jsonl, which a reader of run.json does not open);
     `scripts/migrate_records.py` fills it from them.

Migration policy: an older record is migrated in memory whenever it is read; nothing is rewritten by a
reader. A migrated record cannot say whether its data was generated for its seed (finding out means
running the generator), so its `data.generated` is null: the leaderboard then keeps its data files in its
configuration. `scripts/migrate_records.py DIR` upgrades records on disk once, and it does run the
generator to fill `data.generated`; the committed records under results/ were upgraded with it.
The spec inside a record keeps its own format_version (SPEC_FORMAT_VERSION): it is hashed into spec_hash
and run ids, which must not change when the record's format does.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The resolved spec's format: part of every spec hash, so independent of RECORD_VERSION.
from comam_bench.errors import ComamBenchError
from comam_bench.results import SPEC_FORMAT_VERSION  # noqa: F401 - re-exported

RECORD_VERSION = 3
SYNTHETIC_GENERATOR = "comam_bench.data.synthetic"


class RecordError(ComamBenchError, ValueError):
    """A run.json cannot be read as a run record; the message says why and what to do."""


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object field, or {} for an absent or malformed one (hand-made and old records vary)."""
    return value if isinstance(value, dict) else {}


def number(value: Any) -> float | None:
    """A JSON number as float; None for anything else (a bool, a string, null)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Block:
    """A JSON object with typed views on the keys readers use; every key is kept, so a record written back is
    the record read (`raw`)."""

    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Any) -> "Block":
        return cls(dict(_obj(value)))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


class TaskBlock(Block):
    """`task`: the task's name and size, how many questions and contexts were scored, the files read."""

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or "unknown")

    @property
    def size(self) -> str | None:
        return self.raw.get("size")

    @property
    def files(self) -> dict[str, str]:
        return _obj(self.raw.get("files"))

    @property
    def info(self) -> dict[str, Any]:
        return _obj(self.raw.get("info"))


class SystemBlock(Block):
    """`system`: the resolved system (name, target, source, args), its config and a plugin's code hash."""

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or "unknown")

    @property
    def args(self) -> dict[str, Any]:
        return _obj(self.raw.get("args"))

    @property
    def config(self) -> dict[str, Any]:
        return _obj(self.raw.get("config"))

    @property
    def checkpoint(self) -> str | None:
        """The trained checkpoint the system loaded (an argument, or its resolved config); None for base weights."""
        return self.args.get("checkpoint") or self.config.get("checkpoint") or None


class ModelBlock(Block):
    """`model`: the model's identity; `spec` is None for a run without a model (an option-only heuristic)."""

    @property
    def spec(self) -> str | None:
        return self.raw.get("spec") or None


class ProtocolBlock(Block):
    """`protocol`: name, version, headline norm (likelihood) or headline (open-ended) and judge."""

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or "discriminative")

    @property
    def version(self) -> str | None:
        return self.raw.get("version")

    @property
    def headline_norm(self) -> str | None:
        return self.raw.get("headline_norm")

    @property
    def judge(self) -> dict[str, Any] | None:
        return self.raw.get("judge") if isinstance(self.raw.get("judge"), dict) else None


class Scores(Block):
    """`scores`: the protocol's summary. Multiple choice: n, accuracy, ci95, chance, by_type, ...;
    open-ended: overall {n, f1, ci95, bleu1, judge}, by_category, categories_1_4, n_contexts."""

    @property
    def n(self) -> int:
        return int(self.raw.get("n") or 0)

    @property
    def accuracy(self) -> float | None:
        return number(self.raw.get("accuracy"))

    @property
    def ci95(self) -> list[float] | None:
        return self.raw.get("ci95")

    @property
    def chance(self) -> float | None:
        return number(self.raw.get("chance"))

    @property
    def extraction_failures(self) -> int:
        return int(self.raw.get("extraction_failures") or 0)

    @property
    def by_type(self) -> dict[str, dict[str, Any]]:
        return {t: _obj(b) for t, b in _obj(self.raw.get("by_type")).items()}

    @property
    def clusters(self) -> dict[str, tuple[int, int]]:
        """{`context_id|topic`: (n, correct)} (scores.cluster_key), {} for a record written before it existed."""
        return {c: (int(_obj(b).get("n") or 0), int(_obj(b).get("correct") or 0))
                for c, b in _obj(self.raw.get("by_context_topic")).items()}

    @property
    def overall(self) -> dict[str, Any] | None:
        """An open-ended run's overall scores; None for a multiple-choice run."""
        return self.raw.get("overall") if isinstance(self.raw.get("overall"), dict) else None

    def block(self, key: str) -> dict[str, Any]:
        """A nested summary (by_category, categories_1_4, by_context...), {} when absent."""
        return _obj(self.raw.get(key))


class CostBlock(Block):
    """`cost`: phase totals (ingest, answer), per agent, per question, and wall seconds per phase."""

    def phase(self, name: str) -> dict[str, Any]:
        return _obj(self.raw.get(name))

    @property
    def per_question(self) -> dict[str, Any]:
        return _obj(self.raw.get("per_question"))

    @property
    def wall_seconds(self) -> dict[str, float]:
        return _obj(self.raw.get("wall_seconds"))

    @property
    def latency(self) -> "Latency | None":
        """Per-question seconds and tokens by phase with p50/p95 (format 3); None where not recorded."""
        block = self.raw.get("latency")
        return Latency(block) if isinstance(block, dict) else None


class Latency(Block):
    """`cost.latency`: per-question `seconds` and `tokens`, each by phase (ingest, answer, total) as
    {mean, p50, p95}; `attribution` says how ingestion was given to questions (comam_bench.latency)."""

    def stat(self, kind: str, phase: str, name: str) -> float | None:
        """e.g. stat("seconds", "ingest", "p95"); None where absent."""
        return number(_obj(_obj(self.raw.get(kind)).get(phase)).get(name))


# --------------------------------------------------------------------------- the data a run read
@dataclass(frozen=True)
class Generated:
    """A generator and the arguments under which it writes exactly a run's data files."""

    name: str
    version: int
    preset: str
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "preset": self.preset, "seed": self.seed}


@dataclass(frozen=True)
class DataUsed:
    """`data`: the files read (name -> sha256), one hash over them, their folder relative to the results folder
    (None: none given, i.e. generated into the cache or fetched from the hub) and, for generated data, how
    to make the same bytes again. `generated` None: not generated, or unknown (a migrated format-1 record)."""

    files: dict[str, str]
    sha256: str
    dir: str | None = None
    generated: Generated | None = None

    @classmethod
    def of_files(cls, files: dict[str, str], dir: str | None = None,
                 generated: Generated | None = None) -> "DataUsed":
        files = dict(sorted(files.items()))
        return cls(files, content_hash(files), dir, generated)

    @classmethod
    def from_dict(cls, d: Any) -> "DataUsed":
        d = _obj(d)
        gen = d.get("generated")
        generated = Generated(str(gen["name"]), int(gen["version"]), str(gen["preset"]), int(gen["seed"])) \
            if isinstance(gen, dict) else None
        files = dict(_obj(d.get("files")))
        return cls(files, str(d.get("sha256") or content_hash(files)), d.get("dir"), generated)

    def to_dict(self) -> dict[str, Any]:
        return {"files": dict(self.files), "sha256": self.sha256, "dir": self.dir,
                "generated": self.generated.to_dict() if self.generated else None}

    def drawn_for(self, seed: Any) -> bool:
        """True when these are the bytes the generator writes for `seed` (a run's own seed: then its seeds
        are one configuration, each on its own data, as each has its own sampling)."""
        return self.generated is not None and isinstance(seed, int) and self.generated.seed == seed


def content_hash(files: dict[str, str]) -> str:
    """One sha256 over a data set's files (name -> sha256): equal exactly when every file is."""
    text = json.dumps(dict(sorted(files.items())), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def observe_data(task_spec: dict[str, Any], files: dict[str, str], dir: str | None, seeds: list[Any]) -> DataUsed:
    """What the runner (and scripts/migrate_records.py) records about a run's data. For a synthetic task the
    generator is run once per candidate seed (the run's own first, then the task's) into a temporary folder;
    the first whose files match byte for byte is recorded, so no reader ever needs to run it again."""
    return DataUsed.of_files(files, dir, generated_for(task_spec, files, seeds))


def generated_for(task_spec: dict[str, Any], files: dict[str, str], seeds: list[Any]) -> Generated | None:
    if task_spec.get("source") != "synthetic" or not files:
        return None
    from comam_bench.data.synthetic import GENERATOR_VERSION, file_hashes

    preset = str(task_spec.get("preset", "mini"))
    for seed in dict.fromkeys(s for s in seeds if isinstance(s, int) and not isinstance(s, bool)):
        try:
            if file_hashes(preset, seed) == dict(files):
                return Generated(SYNTHETIC_GENERATOR, GENERATOR_VERSION, preset, seed)
        except (KeyError, ValueError):  # a preset this generator does not know
            return None
    return None


# --------------------------------------------------------------------------- the record
@dataclass(frozen=True)
class RunRecord:
    """One complete run: what ran (spec, hash), on which data, with what, its scores, costs and provenance."""

    run_id: str
    spec: dict[str, Any]
    spec_hash: str
    task: TaskBlock
    data: DataUsed
    system: SystemBlock
    model: ModelBlock
    protocol: ProtocolBlock
    scores: Scores
    cost: CostBlock
    created: str = ""
    status: str = "complete"
    seed: Any = None
    limit: int | None = None
    # Added in format 2 without a version bump (absent in older records: None, and not written back):
    # which questions were selected (comam_bench.selection) and the processes' peak memory (comam_bench.resources).
    selection: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None
    embedder: dict[str, Any] | None = None
    transport: dict[str, Any] | None = None  # how the model was reached; None: not recorded (format 1)
    memory: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, Any] = field(default_factory=lambda: {"count": 0, "rows": []})
    diagnostics: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    execution: dict[str, Any] | None = None  # None: not recorded (format 1)
    scores_by_norm: dict[str, Any] | None = None  # likelihood runs only
    format_version: int = RECORD_VERSION
    # The format it was read in (not written): a reader can say that an old record lacks what migration
    # cannot fill in, and how to fill it (scripts/migrate_records.py).
    read_format: int = field(default=RECORD_VERSION, compare=False)

    # ------------------------------------------------------------------ reading
    @classmethod
    def read(cls, path: str | Path, run_id: str | None = None) -> "RunRecord":
        """A run.json (or a run folder holding one), migrated to the current format; RecordError if unreadable."""
        path = Path(path)
        path = path / "run.json" if path.is_dir() else path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"unreadable run.json ({type(exc).__name__}: {exc})") from None
        return cls.from_dict(data, run_id=run_id or path.parent.name)

    @classmethod
    def from_dict(cls, data: Any, run_id: str | None = None) -> "RunRecord":
        """A record dict of any known format, migrated in memory (the dict itself is not changed)."""
        d = migrate(data)
        kwargs = {"read_format": data.get("format_version", RECORD_VERSION)}
        kwargs.update({k: d[k] for k in ("created", "status", "seed", "limit", "embedder", "transport",
                                    "execution", "scores_by_norm", "selection", "resources") if k in d})
        return cls(
            run_id=str(d.get("run_id") or run_id or ""), spec=_obj(d.get("spec")),
            spec_hash=str(d.get("spec_hash") or ""), task=TaskBlock.of(d.get("task")),
            data=DataUsed.from_dict(d.get("data")), system=SystemBlock.of(d.get("system")),
            model=ModelBlock.of(d.get("model")), protocol=ProtocolBlock.of(d.get("protocol")),
            scores=Scores.of(d.get("scores")), cost=CostBlock.of(d.get("cost")),
            memory=_obj(d.get("memory")), skipped=_obj(d.get("skipped")) or {"count": 0, "rows": []},
            diagnostics=_obj(d.get("diagnostics")), env=_obj(d.get("env")), git=_obj(d.get("git")),
            **kwargs)

    # ------------------------------------------------------------------ writing
    def to_dict(self) -> dict[str, Any]:
        """The record as run.json holds it (current format)."""
        out = {
            "format_version": self.format_version, "run_id": self.run_id, "status": self.status,
            "created": self.created, "spec": self.spec, "spec_hash": self.spec_hash,
            "task": self.task.to_dict(), "data": self.data.to_dict(), "system": self.system.to_dict(),
            "model": self.model.to_dict(), "transport": self.transport, "embedder": self.embedder,
            "seed": self.seed, "limit": self.limit, "protocol": self.protocol.to_dict(),
            "scores": self.scores.to_dict(), "cost": self.cost.to_dict(), "memory": self.memory,
            "skipped": self.skipped, "diagnostics": self.diagnostics, "env": self.env, "git": self.git,
            "execution": self.execution,
        }
        if self.scores_by_norm is not None:
            out["scores_by_norm"] = self.scores_by_norm
        for key in ("selection", "resources"):  # optional: a record read without them is written back the same
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @property
    def peak_rss_mb(self) -> float | None:
        """The largest peak resident memory (MiB) of the run's processes (main and workers); None if unrecorded."""
        peaks = _obj(_obj(self.resources).get("peak_rss_mb"))
        values = [number(peaks.get("main"))] + [number(w) for w in peaks.get("workers") or []]
        known = [v for v in values if v is not None]
        return max(known) if known else None

    def write(self, path: str | Path) -> None:
        """Write run.json atomically (the runner's last step: a run folder with run.json is complete)."""
        from comam_bench.results import write_json_atomic

        write_json_atomic(Path(path), self.to_dict())

    # ------------------------------------------------------------------ what readers ask
    @property
    def skipped_count(self) -> int:
        return int(self.skipped.get("count") or 0)

    @property
    def data_per_seed(self) -> bool:
        """Whether the run read the data generated for its own seed (see DataUsed.drawn_for)."""
        return self.data.drawn_for(self.spec.get("seed", self.seed))


# --------------------------------------------------------------------------- migration
def migrate(data: Any) -> dict[str, Any]:
    """A record dict in the current format (a new dict; the argument is not changed). RecordError for what is
    not a record, or a record of a newer format than this comam-bench reads."""
    if not isinstance(data, dict):
        raise RecordError("run.json is not a JSON object")
    version = data.get("format_version", RECORD_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordError(f"format_version {version!r} is not a record format (1 to {RECORD_VERSION})")
    if version > RECORD_VERSION:
        raise RecordError(f"format_version {version} is newer than this comam-bench reads ({RECORD_VERSION}); "
                          "upgrade comam-bench to read this record")
    d = dict(data)
    if version == 1:
        d = _from_v1(d)
    if version <= 2:
        d = _from_v2(d)
    return d


def _from_v2(d: dict[str, Any]) -> dict[str, Any]:
    """Format 2 -> 3: `cost.latency` null (not known from run.json alone; scripts/migrate_records.py fills it
    from the run folder's rows). The cost dict is copied, so the caller's record is not changed."""
    cost = dict(_obj(d.get("cost")))
    cost.setdefault("latency", None)
    d["cost"] = cost
    d["format_version"] = RECORD_VERSION
    return d


def _from_v1(d: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2: add `data` (generated: unknown), and the keys format 2 always has."""
    task, spec = _obj(d.get("task")), _obj(d.get("spec"))
    files = _obj(task.get("files")) or _obj(spec.get("data_files"))
    d["data"] = DataUsed.of_files(files, task.get("data_dir"), None).to_dict()
    if not isinstance(d.get("protocol"), dict):
        d["protocol"] = _v1_protocol(spec.get("protocol"))
    for key in ("transport", "execution"):
        d.setdefault(key, None)
    d["format_version"] = 2
    return d


def _v1_protocol(version: Any) -> dict[str, Any]:
    """A format-1 record without a protocol block ran the discriminative protocol (the one protocol then);
    its version is the spec's where it names one."""
    from comam_bench.protocol import protocol_record

    block = protocol_record("discriminative")
    return {**block, "version": version} if isinstance(version, str) and version else block
