"""`python -m comam_bench.lmeval ARGS`: lm-eval's own command line (`lm_eval ARGS`), with the `comam-bench`
model registered first. lm-eval 0.4.13 finds models only in its own table or through `register_model` in
the running process (no entry points), so a plain `lm_eval --model comam-bench` cannot see it."""
from __future__ import annotations


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    from comam_bench.lmeval import register

    register()
    cli_evaluate()


if __name__ == "__main__":
    main()
