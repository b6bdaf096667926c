"""`backend: openrlhf`: write an OpenRLHF 0.11.2 job for a recipe, and with openrlhf.address submit and follow it.

    comam-bench train --recipe gpu-openrlhf-128k                       # write the job folder only
    comam-bench train --recipe gpu-openrlhf-128k --set openrlhf.address=http://head:8265

The job folder (results/training/<recipe>/openrlhf/, Ray's working dir for the job) holds prompts.jsonl,
agent.py, comam_openrlhf.json (the executor's settings), flags.json and command.sh (the exact `ray job
submit`); the held-out questions go to validation.jsonl beside it. When a
submitted job succeeds and its --ckpt.output_dir is readable here, the saved model becomes a CoMAM checkpoint
(results/training/<recipe>/checkpoint/) and, with eval.final, is evaluated by the harness runner.
Nothing here imports OpenRLHF, Ray or torch: they live on the cluster.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

from comam_bench.comam.agents import AGENTS
from comam_bench.errors import RunError
from comam_bench.training.base import Trainer, TrainResult
from comam_bench.training.openrlhf.command import AGENT_FILE, DATASET, shell_script, submit_command, train_flags
from comam_bench.training.openrlhf.dataset import load_examples, write_rows
from comam_bench.training.openrlhf.executor_file import CONFIG_FILE, agent_source
from comam_bench.training.openrlhf.settings import Plan, plan_run, whole_batches
from comam_bench.training.recipe import Recipe, RecipeError

_JOB_ID = re.compile(r"raysubmit_[A-Za-z0-9]+")
_STATUS = re.compile(r"^Status for job '(?P<job>[^']+)': (?P<status>[A-Z_]+)\s*$", re.MULTILINE)
LOG_TAIL_LINES = 40  # of the job's log, in the error of a failed job


class JobFailed(RunError):
    """A submitted job that did not succeed (the CLI prints the message, with the log's tail, and exits 2)."""


def job_status(output: str, job: str) -> str:
    """The status of `job` from `ray job status` output (Ray 2.x prints "Status for job 'ID': STATUS");
    "UNKNOWN" when no such line names it."""
    found = [m["status"] for m in _STATUS.finditer(output) if m["job"] == job]
    return found[-1] if found else "UNKNOWN"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file ("" when there is none)."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def check_flags(plan: Plan, save_path: str) -> None:
    """Where OpenRLHF is installed here, every flag of the command must exist in its parser (extra_flags!) and
    pass train_ppo_ray's own post-parse checks."""
    from comam_bench.training.openrlhf.parser import build_parser, checked_args, entry_source, unknown_flags

    if entry_source() is None:
        return
    flags = train_flags(plan, save_path)
    bad = unknown_flags(flags, build_parser())
    if bad:
        raise RecipeError(f"recipe {plan.recipe.name}: OpenRLHF's train_ppo_ray has no flag {', '.join(bad)} "
                          f"(0.11.2 uses dotted names such as --actor.model_name_or_path; check openrlhf.extra_flags)")
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            checked_args(flags)  # its "[Warning]" prints are about flags we do not set
    except (AssertionError, SystemExit) as exc:
        raise RecipeError(f"recipe {plan.recipe.name}: OpenRLHF's train_ppo_ray rejects the command: "
                          f"{exc or 'a value its parser does not accept'} (check the openrlhf section and "
                          f"train.batch_questions)") from None


class OpenRLHFTrainer(Trainer):
    """CoMAM on a GPU cluster with OpenRLHF 0.11.2 (Ray, vLLM, DeepSpeed): one policy per job."""

    name = "openrlhf"
    systems = ("comam",)  # it drives CoMAM's Pipeline and rewards (comam_bench.comam.training)
    description = "CoMAM on GPU clusters: OpenRLHF 0.11.2 job with a CoMAM agent executor (Ray, vLLM, DeepSpeed)"

    def train(self, recipe: Recipe) -> TrainResult:
        plan = plan_run(recipe)  # every check before anything is written
        out = recipe.out_dir()
        job_dir = out / "openrlhf"
        save_path = plan.cfg.save_path or str((out / "model").resolve())
        check_flags(plan, save_path)
        files = self.write_job(plan, job_dir, save_path)
        result = TrainResult(recipe.name, str(out), info={**files, "save_path": save_path, "n": plan.n,
                                                          "trained": plan.trained})
        result.info["note"] = (f"OpenRLHF job written to {job_dir} ({plan.n} samples per prompt: "
                               f"{len(plan.trained)} agents x G={plan.group}); run {files['command']}")
        if not plan.cfg.address:
            return result
        job = self.submit(plan, job_dir, save_path)
        status = self.follow(plan, job, out / "job.log")
        result.info.update(job_id=job, job_status=status)
        if status != "SUCCEEDED":
            ended = f"ended {status}" if status in ("FAILED", "STOPPED") else \
                f"is {status} after its log stream ended (follow it with: ray job logs --follow {job})"
            raise JobFailed(f"OpenRLHF job {job} {ended}; its log is {out / 'job.log'}, ending:\n"
                            f"{log_tail(out / 'job.log')}")
        return self.finish(plan, result, Path(save_path), out)

    # ------------------------------------------------------------------ the job folder
    def write_job(self, plan: Plan, job_dir: Path, save_path: str) -> dict[str, str]:
        train, val, info = load_examples(plan.recipe)
        train, changed = whole_batches(train, plan)  # refuses data smaller than one batch, before writing
        job_dir.mkdir(parents=True, exist_ok=True)
        dataset = write_rows(job_dir / DATASET, train)
        write_rows(job_dir.parent / "validation.jsonl", val)  # beside the job folder: Ray uploads only what the job reads
        (job_dir / CONFIG_FILE).write_text(json.dumps(plan.executor_config(), indent=2, sort_keys=True) + "\n")
        (job_dir / AGENT_FILE).write_text(agent_source())
        command = job_dir / "command.sh"
        command.write_text(shell_script(plan, job_dir.resolve(), save_path))
        command.chmod(0o755)
        (job_dir / "flags.json").write_text(json.dumps(train_flags(plan, save_path), indent=1) + "\n")
        self.progress("phase", phase=0, agents=plan.trained)
        return {"job_dir": str(job_dir), "dataset": str(dataset), "command": str(command),
                "train_examples": str(len(train)), "validation_examples": str(len(val)),
                "whole_batches": f"{plan.cfg.whole_batches} {changed:+d}",
                "dropped": json.dumps(info["dropped"])}

    # ------------------------------------------------------------------ Ray
    @staticmethod
    def _ray() -> str:
        ray = shutil.which("ray")
        if ray is None:
            raise RecipeError("openrlhf.address is set but the `ray` command is not installed here: "
                              "pip install 'ray[default]==2.55.0' (or run the job folder's command.sh on the head node)")
        return ray

    def submit(self, plan: Plan, job_dir: Path, save_path: str) -> str:
        """Submit without waiting; returns the Ray job id."""
        argv = submit_command(plan, job_dir.resolve(), save_path)
        argv[0] = self._ray()
        done = subprocess.run(argv, capture_output=True, text=True)
        found = _JOB_ID.search(done.stdout + done.stderr)
        if done.returncode != 0 or not found:
            tail = (done.stdout + done.stderr).strip()[-2000:]
            raise JobFailed(f"ray job submit to {plan.cfg.address} failed (exit {done.returncode}): {tail}")
        return found.group(0)

    def follow(self, plan: Plan, job: str, log_path: Path) -> str:
        """Stream the job's log to the console and log_path until it ends; returns its final status."""
        ray, address = self._ray(), f"--address={plan.cfg.address}"
        with log_path.open("w", encoding="utf-8") as log, \
                subprocess.Popen([ray, "job", "logs", address, "--follow", job], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) as proc:
            for line in proc.stdout:
                log.write(line)
                print(line, end="")
        done = subprocess.run([ray, "job", "status", address, job], capture_output=True, text=True)
        return job_status(done.stdout + done.stderr, job)

    # ------------------------------------------------------------------ after the job
    def finish(self, plan: Plan, result: TrainResult, saved: Path, out: Path) -> TrainResult:
        from comam_bench.training.openrlhf.convert import to_checkpoint

        if not saved.is_dir():
            result.info["note"] = (f"job succeeded; {saved} is not readable here: convert it where it is with "
                                   f"python -m comam_bench.training.openrlhf.convert")
            return result
        m = plan.recipe.model
        folders = {**plan.cfg.trained_models, **{a: str(saved) for a in plan.trained}}
        untrained = {a: m.agents.get(a, m.base) for a in AGENTS if a not in folders}
        ckpt = to_checkpoint(out / "checkpoint", folders, untrained=untrained, system_args=plan.recipe.pipeline,
                             info={"job_id": result.info.get("job_id"), "trained_here": plan.trained})
        result.checkpoint = str(ckpt.parent)
        self.progress("checkpoint", path=result.checkpoint)
        if plan.recipe.eval.final:
            from comam_bench.training.evaluate import final_evaluation

            base = f"hf:{saved.resolve()}"
            result.final_run = final_evaluation(plan.recipe, ckpt.parent, base,
                                                lambda done, total: self.progress("final", done=done, total=total))
        return result

