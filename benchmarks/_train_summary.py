"""The summary of a train_comam.py output folder: per run, per mode over seeds, and mode against joint.

Reads OUT/s<seed>/<mode>/ (or OUT/<mode>/ for a single unseeded run): process.json, metrics.jsonl and
validation_questions.jsonl. Writes OUT/summary.json, OUT/summary.md and OUT/curves.png. Every interval is
a 95% Student-t interval (comam_bench.training.compare): over seeds for means, over held-out questions
(pooled across seeds) for paired before/after changes, over steps for slopes. A mode is compared with joint
seed by seed: the same seed gives both the same held-out questions and the same base model.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from comam_bench.training.compare import interval, paired, plateau, slope
from comam_bench.training.metrics import read_rows

AGENTS = ("extraction", "profile", "retrieval")
VAL_KEYS = ("accuracy/likelihood", "accuracy/letter", *(f"reward/{a}" for a in AGENTS))
TRAIN_KEYS = ("answer", *AGENTS)


def find_runs(out: Path) -> list[tuple[int, str, Path]]:
    """(seed, mode, folder) of every finished run under OUT (the seed of an unseeded run from its sets)."""
    runs = []
    for process in sorted(out.glob("*/process.json")) + sorted(out.glob("s*/*/process.json")):
        info = json.loads(process.read_text())
        m = re.fullmatch(r"s(\d+)", process.parent.parent.name)
        seed = int(m.group(1)) if m else next((int(s.split("=", 1)[1]) for s in info["sets"] if s.startswith("seed=")), 0)
        runs.append((seed, info["mode"], process.parent))
    return runs


def _final_record(folder: Path, records: list[dict]) -> dict | None:
    """The newest complete run record that evaluated this run's checkpoint."""
    from comam_bench.portable import portable

    # Records name the checkpoint portably (relative to the project, issue 30 D13); compare portable forms.
    checkpoint = portable(str((folder / "checkpoint").resolve()))
    found = [r for r in records if portable(str(r.get("system", {}).get("args", {}).get("checkpoint"))) == checkpoint]
    return max(found, key=lambda r: r.get("created", "")) if found else None


def summarize_run(seed: int, mode: str, folder: Path, records: list[dict]) -> dict[str, Any]:
    info = json.loads((folder / "process.json").read_text())
    rows = read_rows(folder / "metrics.jsonl")
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "validation"]
    adapters = next((r for r in rows if r["kind"] == "adapters"), {})
    first, last = (val[0]["global_step"], val[-1]["global_step"]) if val else (None, None)
    questions = read_rows(folder / "validation_questions.jsonl")
    per_q = {step: {q["question"]: q for q in questions if q["global_step"] == step} for step in (first, last)}
    record = _final_record(folder, records)
    steps = [r["global_step"] for r in train]
    return {
        "seed": seed, "mode": mode, "recipe": info["recipe"], "exit_status": info["exit_status"], "steps": len(train),
        "validation": {r["global_step"]: {k: r.get(f"val/{k}") for k in VAL_KEYS} for r in val},
        "before_step": first, "after_step": last,
        "per_question": {k: tuple({q: v[k] for q, v in per_q[step].items() if v.get(k) is not None}
                                  for step in (first, last)) for k in VAL_KEYS} if val and last != first else {},
        "train": {k: [r.get(f"reward/{k}") for r in train] for k in TRAIN_KEYS},
        "weights": {a: [r.get(f"weight/{a}") for r in train] for a in AGENTS},
        "train_steps": steps,
        "slope": {k: _d(slope(steps, [r.get(f"reward/{k}") for r in train])) for k in TRAIN_KEYS},
        "plateau": {k: plateau([r["global_step"] for r in val], [r.get(f"val/{k}") for r in val]) for k in VAL_KEYS},
        "adapters": {k.split("/")[1]: v for k, v in adapters.items() if k.endswith("/delta_norm")},
        "step_seconds": _mean([r["time/step"] for r in train]),
        "validation_seconds": _mean([r["time/validation"] for r in val]),
        "peak_rss_mb": info["peak_rss_mb"], "wall_seconds": info["wall_seconds"],
        "final_run": None if record is None else {"run_id": record["run_id"], **{k: record["scores"].get(k) for k in
                                                                                  ("accuracy", "n", "ci95")}},
    }


def _mean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(sum(xs) / len(xs), 3) if xs else None


def _d(iv) -> dict | None:
    return None if iv is None else iv.as_dict()


def at(run: dict, which: str, key: str) -> float | None:
    """A run's held-out value of `key` at its first ("before") or last ("after") validation."""
    step = run[f"{which}_step"]
    return run["validation"].get(step, {}).get(key) if step is not None else None


def summarize_mode(runs: list[dict]) -> dict[str, Any]:
    """Means over seeds, pooled paired changes, pooled slopes, plateaus and cost of one mode."""
    out: dict[str, Any] = {"mode": runs[0]["mode"], "recipe": runs[0]["recipe"], "seeds": [r["seed"] for r in runs],
                           "steps": sorted({r["steps"] for r in runs})}
    out["before"] = {k: _d(interval([at(r, "before", k) for r in runs])) for k in VAL_KEYS}
    out["after"] = {k: _d(interval([at(r, "after", k) for r in runs])) for k in VAL_KEYS}
    out["paired"] = {}
    for k in VAL_KEYS:  # the same held-out questions before and after, pooled over seeds
        before = {f"{r['seed']}/{q}": v for r in runs for q, v in r["per_question"].get(k, ({}, {}))[0].items()}
        after = {f"{r['seed']}/{q}": v for r in runs for q, v in r["per_question"].get(k, ({}, {}))[1].items()}
        p = paired(before, after)
        out["paired"][k] = None if p is None else {**p.difference.as_dict(), "better": p.better, "worse": p.worse}
    out["slope"] = {}
    for k in TRAIN_KEYS:  # every seed's (step, batch reward) points on one line
        xs = [s for r in runs for s in r["train_steps"]]
        ys = [v for r in runs for v in r["train"][k]]
        out["slope"][k] = _d(slope(xs, ys))
    out["plateau"] = {k: [r["plateau"][k] for r in runs] for k in VAL_KEYS}
    out["adapters_min_delta"] = {a: min(r["adapters"].get(a, 0.0) for r in runs) for a in runs[0]["adapters"]}
    out["step_seconds"] = _d(interval([r["step_seconds"] for r in runs]))
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    out["final_runs"] = [r["final_run"] for r in runs if r["final_run"]]
    return out


def versus(runs: dict[str, dict[int, dict]], mode: str, base: str = "joint") -> dict[str, Any] | None:
    """mode − base on after-training held-out values and on the change, seed by seed."""
    seeds = sorted(set(runs.get(mode, {})) & set(runs.get(base, {})))
    if not seeds or mode == base:
        return None
    out = {"seeds": seeds}
    for k in VAL_KEYS:
        after, change = [], []
        for s in seeds:
            m = [at(runs[mode][s], w, k) for w in ("before", "after")]
            b = [at(runs[base][s], w, k) for w in ("before", "after")]
            if None not in m + b:  # older runs lack some keys
                after.append(m[1] - b[1])
                change.append((m[1] - m[0]) - (b[1] - b[0]))
        out[k] = {"after": _d(interval(after)), "change": _d(interval(change))}
    return out


def fmt(iv: dict | None, digits: int = 3) -> str:
    if not iv:
        return "–"
    m = f"{iv['mean']:+.{digits}f}" if iv.get("signed") else f"{iv['mean']:.{digits}f}"
    return m if iv["ci95"] is None else f"{m} [{iv['ci95'][0]:.{digits}f}, {iv['ci95'][1]:.{digits}f}]"


def signed(iv: dict | None) -> dict | None:
    return None if iv is None else {**iv, "signed": True}


def noise(iv: dict | None) -> str:
    if not iv or iv["ci95"] is None:
        return ""
    lo, hi = iv["ci95"]
    if lo == hi:
        return " (constant)"
    return " (inside the noise)" if lo <= 0 <= hi else (" (rises)" if lo > 0 else " (falls)")


def markdown(modes: list[dict], against: dict[str, dict], command: str) -> str:
    lines = [f"Produced by: `{command}`", "",
             "Means over seeds with 95% t intervals; paired changes pool every seed's held-out questions "
             "(the same questions before and after); slopes pool every seed's training steps.", "",
             "## Held-out accuracy before → after training", "",
             "| mode | seeds | likelihood before | likelihood after | paired change (n) | letter before | letter after |",
             "|---|---|---|---|---|---|---|"]
    for m in modes:
        p = m["paired"]["accuracy/likelihood"]
        lines.append(f"| {m['mode']} | {len(m['seeds'])} | {fmt(m['before']['accuracy/likelihood'])} | "
                     f"{fmt(m['after']['accuracy/likelihood'])} | {fmt(signed(p))} ({p['n'] if p else 0}){noise(p)} | "
                     f"{fmt(m['before']['accuracy/letter'])} | {fmt(m['after']['accuracy/letter'])} |")
    lines += ["", "## Each agent's local reward on the held-out questions (before → after, paired change)", "",
              "| mode | " + " | ".join(AGENTS) + " |", "|---|" + "---|" * len(AGENTS)]
    for m in modes:
        cells = []
        for a in AGENTS:
            k = f"reward/{a}"
            b, f, p = m["before"][k], m["after"][k], m["paired"][k]
            cells.append(f"{fmt(b)} → {fmt(f)}; {fmt(signed(p))}{noise(p)}" if b else "–")
        lines.append(f"| {m['mode']} | " + " | ".join(cells) + " |")
    lines += ["", "## Learning: slope of the training batch reward per step (pooled seeds)", "",
              "| mode | " + " | ".join(f"r_{k}" if k != "answer" else "r_ans (global)" for k in TRAIN_KEYS) + " |",
              "|---|" + "---|" * len(TRAIN_KEYS)]
    for m in modes:
        lines.append(f"| {m['mode']} | " + " | ".join(f"{fmt(signed(m['slope'][k]), 4)}{noise(m['slope'][k])}"
                                                    for k in TRAIN_KEYS) + " |")
    lines += ["", "## Against joint, seed by seed (mode − joint)", "",
              "| mode | seeds | likelihood acc after | change in likelihood acc | " +
              " | ".join(f"change in r_{a}" for a in AGENTS) + " |", "|---|---|---|---|" + "---|" * len(AGENTS)]
    for name, v in against.items():
        cells = [fmt(signed(v["accuracy/likelihood"]["after"])) + noise(v["accuracy/likelihood"]["after"]),
                 fmt(signed(v["accuracy/likelihood"]["change"])) + noise(v["accuracy/likelihood"]["change"])]
        cells += [fmt(signed(v[f"reward/{a}"]["change"])) + noise(v[f"reward/{a}"]["change"]) for a in AGENTS]
        lines.append(f"| {name} | {len(v['seeds'])} | " + " | ".join(cells) + " |")
    lines += ["", "## Table 5: step at which the validation curve reached its best (per seed)", "",
              "| mode | likelihood acc | " + " | ".join(f"r_{a}" for a in AGENTS) + " |", "|---|---|" + "---|" * len(AGENTS)]
    for m in modes:
        lines.append(f"| {m['mode']} | {m['plateau']['accuracy/likelihood']} | "
                     + " | ".join(str(m["plateau"][f"reward/{a}"]) for a in AGENTS) + " |")
    lines += ["", "## Cost and what moved", "",
              "| mode | s/step | peak RSS MB | smallest adapter change ‖Δθ‖ over seeds | final runs (acc, n) |",
              "|---|---|---|---|---|"]
    for m in modes:
        moved = ", ".join(f"{a} {v:.3g}" for a, v in m["adapters_min_delta"].items()) or "–"
        finals = "; ".join(f"{f['run_id']}: {f['accuracy']:.3f} ({f['n']})" for f in m["final_runs"]) or "–"
        lines.append(f"| {m['mode']} | {fmt(m['step_seconds'], 1)} | {m['peak_rss_mb']} | {moved} | {finals} |")
    return "\n".join(lines) + "\n"


def plot(modes_runs: dict[str, list[dict]], png: Path, title: str) -> Path:
    """Each agent's reward, the global reward, the weights, and the held-out accuracy and local rewards over
    steps: the mean over seeds as a line, the seeds' min-max as a band, one colour per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("train", f"reward/{k}" if k != "answer" else "reward/answer", k) for k in TRAIN_KEYS]
    panels += [("weights", f"weight/{a}", a) for a in AGENTS] + [("val", "val/accuracy/likelihood", "accuracy/likelihood")]
    panels += [("val", f"val/reward/{a}", f"reward/{a}") for a in AGENTS] + [("val", "val/accuracy/letter", "accuracy/letter")]
    fig, axes = plt.subplots(3, 4, figsize=(17, 11))
    for ax, (source, label, key) in zip(axes.flat, panels):
        for i, (mode, runs) in enumerate(modes_runs.items()):
            if source == "val":
                curves = [sorted((s, v[key]) for s, v in r["validation"].items() if v.get(key) is not None) for r in runs]
            else:
                curves = [list(zip(r["train_steps"], r[source][key])) for r in runs]
            steps = sorted({s for c in curves for s, _ in c})
            by_step = [[v for c in curves for s2, v in c if s2 == s and v is not None] for s in steps]
            if not any(by_step):
                continue
            mean = [sum(v) / len(v) if v else float("nan") for v in by_step]
            color = f"C{i}"
            ax.plot(steps, mean, color=color, label=f"{mode} (n={len(runs)})", marker="o" if len(steps) < 8 else None)
            ax.fill_between(steps, [min(v) if v else float("nan") for v in by_step],
                            [max(v) if v else float("nan") for v in by_step], color=color, alpha=0.15)
        ax.set_title(label + (" (held-out)" if source == "val" else ""))
        ax.set_xlabel("step")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title + " — mean over seeds, band = seeds' min–max")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def write(out: Path, results_dir: Path, command: str) -> dict[str, Any]:
    from comam_bench.leaderboard import scan_runs

    records, _ = scan_runs(results_dir / "runs") if (results_dir / "runs").is_dir() else ([], None)
    runs = [summarize_run(seed, mode, folder, records) for seed, mode, folder in find_runs(out)]
    by_mode: dict[str, dict[int, dict]] = {}
    for r in runs:
        by_mode.setdefault(r["mode"], {})[r["seed"]] = r
    order = sorted(by_mode, key=lambda m: (m != "joint", m))
    modes = [summarize_mode([by_mode[m][s] for s in sorted(by_mode[m])]) for m in order]
    against = {m: v for m in order if (v := versus(by_mode, m))}
    summary = {"command": command, "modes": modes, "versus_joint": against,
               "runs": [{k: v for k, v in r.items() if k != "per_question"} for r in runs]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    text = markdown(modes, against, command)
    (out / "summary.md").write_text(text)
    if runs:
        plot({m: [by_mode[m][s] for s in sorted(by_mode[m])] for m in order}, out / "curves.png", out.name)
    print(text)
    return summary
