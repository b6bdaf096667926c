"""How often the evidence locator lands on the right turn, on synthetic data where the truth is known.

    .venv/bin/python benchmarks/evidence_locator.py --presets 32k 128k --seeds 0 1 2 \\
        --out results/benchmarks/evidence_locator.json

The PersonaMem release has no evidence column: training (Appendix B.1) locates E_q by walking back
`distance_to_ref_in_tokens` from the end index (comam_bench.training.data.locate_evidence). Synthetic data
carries the gold evidence, so the locator can be scored there. Two counters are measured:
- "same": the locator counts tokens exactly as the distances were written (the best case);
- "smollm2": it counts with the SmolLM2 tokenizer while the distances were written with the generator's
  approximate counter, the situation on the release (gpt-4o counts upstream, ours differ), with and
  without the rescaling by context_length_in_tokens that make_example applies.
"exact" = the located message is the last gold evidence message; "within_2" = at most two messages off.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def smollm2_counter():
    from comam_bench.llm.defaults import embedded_model_file
    from transformers import AutoTokenizer

    model = embedded_model_file()
    tok = AutoTokenizer.from_pretrained(str(model.parent), gguf_file=model.name)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="*", default=["32k", "128k"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()

    from comam_bench.data import load_task, resolve_spec
    from comam_bench.data.synthetic import generate
    from comam_bench.training.data import locator_accuracy

    smol = smollm2_counter()
    rows = []
    for preset in args.presets:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as d:
                generate(d, preset, seed=seed)
                data = load_task(resolve_spec(f"synthetic-{preset}" if preset != "mini" else "personamem-mini"), d)
            for counter, count, calibrate in (("same", None, False), ("smollm2", smol, False),
                                              ("smollm2", smol, True)):
                kw = {"count": count} if count else {}
                r = locator_accuracy(data, calibrate=calibrate, **kw)
                rows.append({"preset": preset, "seed": seed, "counter": counter, "rescaled": calibrate, **r})
                print(f"{preset:5s} seed {seed} {counter:8s} rescaled={calibrate!s:5s} n={r['questions']:4d} "
                      f"exact {r['exact']:.3f}  within 2 {r['within_2']:.3f}", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
