"""`comam-bench export lm-eval`: a task as an lm-eval task folder."""
from __future__ import annotations

import click
from rich.console import Console

from comam_bench.runner import DEFAULT_MODEL

out = Console(highlight=False)


@click.group()
def export() -> None:
    """Export tasks for other evaluation tools."""


@export.command("lm-eval")
@click.option("--task", required=True, help="A task name (see `comam-bench tasks`).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory holding the task's data files.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="The model whose window long histories are truncated to (its tokenizer counts the tokens).")
@click.option("--no-truncation", is_flag=True, help="Keep every history message (no model is loaded).")
@click.option("--answer-tokens", default=64, show_default=True, type=int, help="Tokens kept free for the answer.")
def lm_eval(task, data_dir, out_dir, model, no_truncation, answer_tokens) -> None:
    """Both protocols as lm-eval tasks (YAML + a utils module importing comam_bench); see the folder's README."""
    from comam_bench.lmeval.export import export_lm_eval

    llm = None
    if not no_truncation:
        from comam_bench.llm import load_llm

        llm = load_llm(model)
    try:
        written = export_lm_eval(task, out_dir, data_dir=data_dir, llm=llm, answer_tokens=answer_tokens)
    finally:
        if llm is not None:
            llm.close()
    for kind, path in written.items():
        out.print(f"wrote {kind}: {path}")
    first = "open-ended" if "open-ended" in written else "discriminative"  # LoCoMo exports one open-ended task
    out.print(f"run it: lm_eval --model hf --model_args pretrained=... --include_path {out_dir} "
              f"--tasks {task}-{first} --apply_chat_template")
