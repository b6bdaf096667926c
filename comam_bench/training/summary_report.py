"""summary.json of a training comparison (computed by training.summary), and summary.md and curves.png generated
from it; `write` makes all three."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comam_bench.comam.agents import AGENTS
from comam_bench.training.compare import verdict
from comam_bench.training.summary import MEASURES, summarize

LABELS = {
    "heldout_accuracy": "held-out accuracy (likelihood, after E'_q)",
    "heldout_accuracy_letter": "held-out accuracy (the reply's letter)",
    "heldout_probability": "held-out p(gold) after E'_q",
    "memory_only_accuracy": "accuracy from the memory alone (likelihood)",
    **{f"reward_{a}": f"held-out r_{a}" for a in AGENTS},
}


def _iv(ci: list | None) -> str:
    return "–" if not ci else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _num(x: float | None, signed: bool = False) -> str:
    return "–" if x is None else (f"{x:+.3f}" if signed else f"{x:.3f}")


def measure_table(summary: dict[str, Any], name: str) -> list[str]:
    lines = [f"### {LABELS[name]}", "",
             "| mode | seeds | before | after | change | 95% CI over seeds | 95% CI, sessions bootstrapped | "
             "detectable (seeds / sessions) | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for mode, s in summary["modes"].items():
        m = s.get(name)
        if not m:
            continue
        lines.append(f"| {mode} | {m['seeds']} | {_num(m['before'])} | {_num(m['after'])} | "
                     f"{_num(m['change'], True)} | {_iv(m['ci95_over_seeds'])} | {_iv(m['ci95_bootstrap_session'])} | "
                     f"{_num(m['detectable_over_seeds'])} / {_num(m['detectable_bootstrap_session'])} | "
                     f"{verdict(m) if mode != 'untrained' else 'reference'} |")
    return lines + [""]


def markdown(summary: dict[str, Any]) -> str:
    """The human-readable summary: one table per held-out measure, mode − joint, cost."""
    lines = [f"Produced by: `{summary['command']}`", "",
             f"Split by {summary['split_unit']}; {summary['validation_questions']} validation questions"
             f"{' shared by every run' if summary['validation_shared'] else ' (NOT the same in every run)'}; "
             f"seeds {summary['seeds']}; 'before' is {summary['before_from']}.", "",
             "Change = after − before on the same questions, averaged per seed, then over seeds. Intervals: a t "
             "interval over the seeds' mean changes, and a percentile interval when validation sessions are "
             "resampled (all seeds' questions of a session together). 'Detectable' is the smallest true change "
             "each design finds with 80% power at 5%.", "", "## Held-out measures, before → after training", ""]
    for name in MEASURES:
        lines += measure_table(summary, name)
    if summary["versus_joint"]:
        lines += ["## Against joint, after training, seed by seed (mode − joint)", "",
                  "| mode | measure | difference | 95% CI over seeds | 95% CI, sessions | detectable (seeds / sessions) |",
                  "|---|---|---|---|---|---|"]
        for mode, by in summary["versus_joint"].items():
            for name, v in by.items():
                if v and name in ("heldout_accuracy", "memory_only_accuracy", "heldout_probability"):
                    lines.append(f"| {mode} | {LABELS[name]} | {_num(v['difference'], True)} | "
                                 f"{_iv(v['ci95_over_seeds'])} | {_iv(v['ci95_bootstrap_session'])} | "
                                 f"{_num(v['detectable_over_seeds'])} / {_num(v['detectable_bootstrap_session'])} |")
        lines.append("")
    lines += ["## Cost, format and final runs", "",
              "Final runs: the checkpoint through `comam-bench run` (benchmarks/evaluate_checkpoints.sh), and its "
              "change against the untrained pipeline's run on the same questions, paired, with history x topic "
              "clusters resampled.", "",
              "| mode | steps | s/step | peak RSS MB | answer-format rate after | final runs (accuracy, n; change) |",
              "|---|---|---|---|---|---|"]
    for mode, s in summary["modes"].items():
        finals = "; ".join(_final(f) for f in s.get("final_runs", [])) or "–"
        lines.append(f"| {mode} | {s['steps']} | {_num(s['seconds_per_step'])} | {s['peak_rss_mb']} | "
                     f"{_num(s['answer_format_rate'])} | {finals} |")
    return "\n".join(lines) + "\n"


def _final(f: dict[str, Any]) -> str:
    """`run: accuracy (n)`, then `; − untrained +change [low, high], k clusters` where a reference was found."""
    text = f"{f['run_id']}: {f['accuracy']:.3f} ({f['n']})"
    ref = f.get("against_untrained")
    if ref:
        text += (f", − {ref['reference']}: {_num(ref['change'], True)} {_iv(ref['ci95_bootstrap_cluster'])} over "
                 f"{ref['clusters']} clusters")
    return text


def plot(summary: dict[str, Any], png: Path, title: str) -> Path | None:
    """Training curves (mean over seeds, t band) for every key some mode logged, then the held-out changes
    per mode with both intervals; panels without data are not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for s in summary["modes"].values() for k in s["curves"]},
                  key=lambda k: (not k.startswith("reward"), k))
    held = [n for n in ("heldout_accuracy", "memory_only_accuracy", "heldout_probability")
            if any(s.get(n) for s in summary["modes"].values())]
    panels = len(keys) + len(held)
    if not panels:
        return None
    cols = 4
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.4 * rows), squeeze=False)
    colors = {m: f"C{i}" for i, m in enumerate(summary["modes"])}
    flat = list(axes.flat)
    for ax, key in zip(flat, keys):
        for mode, s in summary["modes"].items():
            c = s["curves"].get(key)
            if not c:
                continue
            ax.plot(c["steps"], c["mean"], color=colors[mode], label=mode)
            if any(v is not None for v in c["low"]):
                lo = [v if v is not None else m for v, m in zip(c["low"], c["mean"])]
                hi = [v if v is not None else m for v, m in zip(c["high"], c["mean"])]
                ax.fill_between(c["steps"], lo, hi, color=colors[mode], alpha=0.15)
        ax.set_title(f"training {key}")
        ax.set_xlabel("step")
        ax.set_ylabel(key.split("/")[0])
    for ax, name in zip(flat[len(keys):], held):
        modes = [m for m, s in summary["modes"].items() if s.get(name) and m != "untrained"]
        for i, mode in enumerate(modes):
            m = summary["modes"][mode][name]
            for offset, ci, marker in ((-0.12, m["ci95_over_seeds"], "o"), (0.12, m["ci95_bootstrap_session"], "s")):
                if ci:
                    ax.errorbar(i + offset, m["change"], yerr=[[m["change"] - ci[0]], [ci[1] - m["change"]]],
                                fmt=marker, color=colors[mode], capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(modes)), modes, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{LABELS[name]}: change", fontsize=9)
        ax.set_ylabel("after − before (o seeds, ■ sessions)")
    for ax in flat[panels:]:
        ax.set_visible(False)
    handles, labels = flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower right", fontsize=8)
    fig.suptitle(f"{title}: mean over seeds, band = 95% t interval over seeds")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return png


# --------------------------------------------------------------------------- writing
def write(out: Path, command: str = "", results_dir: Path | None = None) -> dict[str, Any]:
    """summary.json, and summary.md and curves.png generated from it."""
    summary = summarize(out, command, results_dir)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(summary))
    if summary["modes"]:
        plot(summary, out / "curves.png", out.name)
    return summary
