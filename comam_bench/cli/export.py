"""`comam-bench export lm-eval`: a task as an lm-eval task folder."""
from __future__ import annotations

import click
from comam_bench.cli.console import console

from comam_bench.runner import DEFAULT_MODEL

out = console()


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
    from comam_bench.cli.progress import quiet_third_party
    from comam_bench.lmeval.export import export_lm_eval, lm_eval_command

    quiet_third_party()  # transformers' "Loading weights" and GGUF bars are not this command's output
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
    kinds = [k for k in written if k in ("discriminative", "likelihood", "open-ended")]  # the task files
    command = lm_eval_command(task, out_dir, model, kinds)
    out.print("run the exported task(s) with lm-eval on the same model (offline):")
    if "DIR_OF_THE_SAME_WEIGHTS" in command:  # a served model: lm-eval's hf model needs the weights' folder
        out.print(f"({model} is not a local transformers model: put the folder of the same weights in place of "
                  "DIR_OF_THE_SAME_WEIGHTS)", soft_wrap=True)
    click.echo(command)
