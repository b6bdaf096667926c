"""`comam-bench run` and `comam-bench leaderboard`."""
from __future__ import annotations

from pathlib import Path

import click
import yaml
from comam_bench.cli.console import console
from rich.markup import escape

from comam_bench.cli.errors import err
from comam_bench.cli.progress import RunProgress, quiet_third_party
from comam_bench.protocols import BUILTIN_PROTOCOLS
from comam_bench.registry import system_conflicts
from comam_bench.results import REFERENCE_RESULTS_DIR, USER_RESULTS_DIR
from comam_bench.keep import DEFAULT_KEEP_CHARS
from comam_bench.errors import RunError
from comam_bench.runner import DEFAULT_EMBEDDER, DEFAULT_MODEL, RunConfig

out = console()


def parse_system_args(pairs: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; values are read as YAML scalars (numbers, booleans, lists)."""
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RunError(f"--system-arg {pair!r} is not KEY=VALUE (for example --system-arg top_k=5)")
        args[key.strip()] = _scalar(value)
    return args


def results_root(value: str | None, default: Path) -> Path:
    """The results folder named by --results-dir (default `default`). A folder of run directories, such as
    results/runs, is refused with the name meant: runs would otherwise land one level too deep."""
    root = Path(value) if value else default
    if value and root.is_dir() and not (root / "runs").is_dir() and any(
            (d / "spec.json").is_file() or (d / "run.json").is_file() for d in root.iterdir() if d.is_dir()):
        raise RunError(f"--results-dir {value} holds run directories itself; --results-dir names the results "
                       f"folder whose runs/ holds them. Use --results-dir {root.parent}.")
    return root


def _scalar(value: str):
    """A --system-arg value as YAML reads it (5 -> 5, true -> True, [a, b] -> a list); text YAML cannot read
    (`a: b`, an unclosed `[`) stays the text, for the system's argument check to judge."""
    try:
        return yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        return value


@click.command()
@click.option("--system", required=True, help="A system name (see `comam-bench systems`), a YAML spec name, "
              "or package.module:Class.")
@click.option("--task", default="personamem-mini", show_default=True, help="A task name (see `comam-bench tasks`).")
@click.option("--model", default=None,
              help=f"Model spec: smollm2 | hf:DIR_OR_GGUF[,opt=v] | openai:NAME,base_url=URL | vllm:PATH  "
                   f"[default: {DEFAULT_MODEL}, or a --system-arg checkpoint's base model]")
@click.option("--embedder", default=DEFAULT_EMBEDDER, show_default=True, help="minilm | st:DIR | hash:DIM")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory holding the task's data files.")
@click.option("--system-arg", "system_args", multiple=True, help="KEY=VALUE argument for the system (repeatable).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--limit", type=int, help="Only the first N questions (in run order: by context, then end index), "
              "so a small N covers the first context only; see --limit-per-context.")
@click.option("--limit-per-context", type=int, metavar="N",
              help="Up to N questions from each context, spread (deterministically) over question types in "
                   "proportion and over positions (end index, distance to the evidence), not the earliest. "
                   "Cost: each context is still ingested up to the latest question taken, so on long histories "
                   "this costs nearly a full ingestion per context; --limit (earliest first) ingests less.")
@click.option("--questions", "questions_file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Only the question ids FILE lists: one per line (`#` starts a comment), or a JSON list. "
                   "An id the task lacks is an error. Recorded by the ids' hash and count; combines with "
                   "--limit-per-context and --limit (applied after it).")
@click.option("--batch-size", default=4, show_default=True, type=int, help="Questions answered per system call.")
@click.option("--results-dir", type=click.Path(file_okay=False), metavar="DIR",
              help=f"Results folder; the run goes to DIR/runs/<id>/. Default: the project's {USER_RESULTS_DIR}/ "
                   f"(git-ignored; the committed reference records are in {REFERENCE_RESULTS_DIR}/, "
                   f"written with --results-dir {REFERENCE_RESULTS_DIR}).")
@click.option("--run-id", help="Name of the run directory (default: derived from task, system, model, seed, spec hash).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run with the same spec.")
@click.option("--overwrite", is_flag=True, help="Discard an existing run with the same id.")
@click.option("--keep-memory/--no-keep-memory", default=None,
              help="Keep the memory each answer was given (and each agent's output) in memory.jsonl, for "
                   "`comam-bench view`  [default: on for runs of up to 1000 questions]")
@click.option("--keep-chars", default=DEFAULT_KEEP_CHARS, show_default=True, type=click.IntRange(min=0),
              help="Characters kept per memory text (head and tail; 0 = no cap).")
@click.option("--parallel", default=1, show_default=True, type=click.IntRange(min=1),
              help="Contexts in flight at once (per Ray worker with --ray), each on its own system instance; "
                   "the records are those of a sequential run.")
@click.option("--llm-sharing", default="auto", show_default=True, type=click.Choice(["auto", "lock", "batch"]),
              help="How parallel contexts share a model that is not thread-safe (transformers, vLLM): one call "
                   "at a time, or merging waiting greedy calls into one batch. auto = batch.")
@click.option("--ray", "ray_address", metavar="auto|local|ADDRESS",
              help="Run contexts as Ray work: auto = the cluster `ray start --head` started, local = a private "
                   "one for this run, or HOST:PORT / ray://HOST:PORT. Needs comam-bench[ray].")
@click.option("--ray-workers", type=click.IntRange(min=1), help="Ray workers (each loads the model once) "
              "[default: as many as the cluster's free CPUs/GPUs fit].")
@click.option("--ray-num-cpus", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="CPUs per Ray worker.")
@click.option("--ray-num-gpus", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="GPUs per Ray worker.")
@click.option("--timeout-per-question", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Bound a hung system: an answer call may take SECONDS per question (a batch of n, n times "
                   "as long); past it the questions are recorded in errors.jsonl, the rest of that context is "
                   "abandoned, the run goes on and exits 2; --resume retries them  [default: no bound]")
@click.option("--protocol", type=click.Choice(list(BUILTIN_PROTOCOLS)), default=None,
              help="discriminative: the model writes a letter; likelihood: the options' texts are scored as its "
                   "reply, best length-normalised log-likelihood wins; open-ended: a free-text answer scored by "
                   "F1 (LoCoMo)  [default: the task's, else discriminative]")
@click.option("--judge", default=None, metavar="MODEL",
              help="Open-ended tasks: also ask this model (a model spec) to judge each answer correct or wrong "
                   "against the gold answer (mem0's 'J' score); cached per question, answer and judge.")
def run(system, task, model, embedder, data_dir, system_args, seed, limit, limit_per_context, questions_file,
        batch_size, results_dir, run_id,
        resume, overwrite, parallel, llm_sharing, ray_address, ray_workers, ray_num_cpus, ray_num_gpus, protocol,
        judge, keep_memory, keep_chars, timeout_per_question) -> None:
    """Evaluate a memory system on a task; writes my-results/runs/<id>/run.json and samples.jsonl."""
    from comam_bench.runner import Run

    quiet_third_party()

    cfg = RunConfig(task=task, system=system, model=model, embedder=embedder, data_dir=data_dir,
                    system_args=parse_system_args(system_args), seed=seed, limit=limit,
                    limit_per_context=limit_per_context, questions_file=questions_file, batch_size=batch_size,
                    results_dir=results_root(results_dir, None) if results_dir else None, run_id=run_id, resume=resume,
                    overwrite=overwrite, parallel=parallel, llm_sharing=llm_sharing, ray=ray_address,
                    ray_workers=ray_workers, ray_num_cpus=ray_num_cpus, ray_num_gpus=ray_num_gpus, protocol=protocol,
                    judge=judge, keep_memory=keep_memory, keep_chars=keep_chars,
                    timeout_per_question=timeout_per_question)
    display = RunProgress(out, f"{system} on {task}")
    runner = Run(cfg, events=display)
    for warning in system_conflicts(system):
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
    runner.prepare()  # bad options, names, data and run-directory clashes fail here, before any bar is drawn
    if runner.already_complete:
        record = runner.execute()
        out.print(f"run {escape(runner.run_id)} is already complete; nothing to do.")
        show_summary(record, runner.dir.path)
        return
    out.print(f"run folder: {escape(str(runner.dir.path))}", soft_wrap=True)
    with display:
        record = runner.execute()
    show_summary(record, runner.dir.path)


def show_summary(record: dict, run_dir: Path) -> None:
    from comam_bench.record import RunRecord

    rec = RunRecord.from_dict(record)
    s, c = rec.scores, rec.cost.per_question
    if s.overall is not None:  # an open-ended run's scores are F1 by category (comam_bench.protocols.open_ended)
        from comam_bench.protocols.open_ended import summary_lines

        for line in summary_lines(rec) + [f"record: {run_dir / 'run.json'}"]:
            out.print(escape(line), soft_wrap=True)
        return
    lo, hi = s.ci95
    out.print(f"[bold]{escape(rec.system.name)}[/bold] on {escape(rec.task.name)} ({rec.protocol.name}): accuracy "
              f"{s.accuracy:.3f} (95% CI {lo:.3f}-{hi:.3f}, chance {s.chance:.2f}) over {s.n} questions; "
              f"skipped rows: {rec.skipped_count}")
    out.print(f"per question: {c['calls']} LLM calls, {c['prompt_tokens']} prompt + {c['completion_tokens']} "
              f"generated tokens, {c['seconds']} s")
    if rec.peak_rss_mb is not None:
        out.print(f"peak memory: {rec.peak_rss_mb:.0f} MiB (largest process)")
    if rec.selection and rec.selection.get("rule") not in (None, "all"):
        out.print(f"questions: {escape(rec.selection['rule'])} ({rec.selection.get('n_selected')} of "
                  f"{rec.selection.get('n_available')})", soft_wrap=True)
    if rec.scores_by_norm:
        norms = ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in rec.scores_by_norm.items())
        out.print(f"by normalisation (headline {rec.protocol.headline_norm}): {norms}")
    for name, t in s.by_type.items():
        out.print(f"  {name:45s} {t['accuracy']:.3f}  (n={t['n']})")
    out.print(f"record: {run_dir / 'run.json'}", soft_wrap=True)


@click.command()
@click.option("--results-dir", type=click.Path(file_okay=False), metavar="DIR",
              help=f"Results folder: reads DIR/runs/*/run.json, writes the tables and chart into DIR. Default: the "
                   f"project's {REFERENCE_RESULTS_DIR}/ (the committed records); --results-dir {USER_RESULTS_DIR} "
                   f"for your own runs.")
@click.option("--html", "html_page", is_flag=True,
              help="Also write leaderboard.html (sortable, with the chart) and each listed run's report.html.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="With --html: the task data folder, for the "
              "reports' question texts.")
def leaderboard(results_dir, html_page, data_dir) -> None:
    """Tables and a chart built only from run records: LEADERBOARD.md, leaderboard.json, leaderboard.png."""
    from comam_bench.leaderboard import build_board, render_terminal, scan_runs, write_outputs
    from comam_bench.record import RECORD_VERSION
    from comam_bench.registry import project_root

    root = results_root(results_dir, project_root() / REFERENCE_RESULTS_DIR)
    runs, ignored = scan_runs(root / "runs")
    for item in ignored:
        out.print(f"[yellow]ignored[/yellow] {escape(item['run'])}: {escape(item['reason'])}")
    old = [r for r in runs if r.read_format < RECORD_VERSION]
    if old:  # read fine, but what their format lacks is unknown (comam_bench.record): say what and how to fill it
        lacks = ["whether their data was generated for their seed (such seeds are not grouped as one "
                 "configuration)"] * any(r.read_format < 2 for r in old) + ["per-question latency (no p50 / p95)"]
        out.print(f"[yellow]note[/yellow] {len(old)} record(s) in an older format were migrated in memory; they "
                  f"do not say {' or '.join(lacks)}. `python scripts/migrate_records.py {escape(str(root))}` "
                  "records it in them.", soft_wrap=True)
    board = build_board(runs, root / "runs")
    for table in render_terminal(board):
        out.print(table)
    paths = write_outputs(board, root)
    for kind, path in paths.items():
        out.print(f"wrote {kind}: {path}")
    if html_page:
        from comam_bench.view.board import write_board_html

        page = write_board_html(board, root, paths.get("png"), data_dir=data_dir,
                                warn=lambda m: out.print(f"[yellow]note[/yellow] {m}"),
                                by_type_path=paths.get("png_by_type"), cost_path=paths.get("png_cost"))
        out.print(f"wrote html: {page['html']} (and {len(page['reports'])} run reports)")
