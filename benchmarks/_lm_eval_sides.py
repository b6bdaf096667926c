"""What both lm-eval benchmarks share: the embedded model loaded twice (once as comam-bench's hf backend, once
as lm-eval's hf model from the same GGUF file, the way a user passes it in --model_args), the task exported
with that model's window, one protocol run through each side, and the command line and report file."""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def arguments(doc: str, batch_size: bool = False) -> argparse.Namespace:
    """The benchmarks' command line: --task, --data-dir, --model, --protocols, --limit, --out, and where the
    benchmark lets it vary, --batch-size (the same on both sides)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="personamem-mini")
    parser.add_argument("--data-dir")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--protocols", nargs="*", default=["discriminative", "likelihood"])
    parser.add_argument("--limit", type=int, help="only the first N questions (the harness's order)")
    if batch_size:
        parser.add_argument("--batch-size", type=int, default=1, help="questions per call, the same on both sides")
    parser.add_argument("--out", help="write the table as JSON here")
    return parser.parse_args()


def write_report(out: str | None, report: dict[str, Any]) -> None:
    """The report as JSON at `out` (when given), its paths made portable: no machine paths in results/."""
    from comam_bench.portable import portable_obj

    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(portable_obj(report), indent=2) + "\n")
        print(f"wrote {out}")


def load_both(model: str, batch_size: int) -> dict[str, Any]:
    """comam-bench's LLM for `model` and lm-eval's HFLM on the same weights, with their load times."""
    from lm_eval.models.huggingface import HFLM

    from comam_bench.llm import embedded_model_file, load_llm

    if model != "smollm2":
        raise SystemExit("these benchmarks pass lm-eval the embedded model's GGUF file; only --model smollm2")
    t0 = time.perf_counter()
    ours = load_llm(model)  # float32 on CPU; the runner's batch size decides how many chats a call gets
    t1 = time.perf_counter()
    gguf = embedded_model_file()
    model_args = {"pretrained": str(gguf.parent), "gguf_file": gguf.name, "dtype": "float32"}
    theirs = HFLM(**model_args, device="cpu", batch_size=batch_size)
    t2 = time.perf_counter()
    return {"ours": ours, "theirs": theirs, "lm_eval_model_args": model_args,
            "load_seconds": {"comam_bench": round(t1 - t0, 2), "lm_eval": round(t2 - t1, 2)}}


def export(task: str, data_dir: str | None, llm) -> Path:
    from comam_bench.lmeval.export import export_lm_eval

    folder = Path(tempfile.mkdtemp(prefix=f"lm-eval-{task}-"))
    export_lm_eval(task, folder, data_dir=data_dir, llm=llm)
    return folder


def run_protocol(protocol: str, task: str, data_dir: str | None, folder: Path, models: dict[str, Any],
                 limit: int | None, batch_size: int) -> dict[str, Any]:
    """One protocol through lm-eval (simple_evaluate, chat template on) and through comam-bench's runner
    (full-context system); each side's per-question rows, wall time and accuracy."""
    from comam_bench.lmeval.compare import harness_side, lm_eval_side

    theirs = lm_eval_side(models["theirs"], folder, f"{task}-{protocol}", limit=limit)
    ours = harness_side(task, models["ours"], data_dir=data_dir, limit=limit, batch_size=batch_size, protocol=protocol)
    return {"lm_eval": theirs, "comam_bench": ours}
