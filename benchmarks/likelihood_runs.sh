#!/usr/bin/env bash
# Reproduces the committed likelihood-protocol leaderboard: every built-in system under
# `--protocol likelihood` with the embedded SmolLM2-135M (the default model), offline.
#
#   bash benchmarks/likelihood_runs.sh            # all runs, then the leaderboard
#   DRY_RUN=1 bash benchmarks/likelihood_runs.sh  # print the commands only
#
# Data: the synthetic 32k preset for seeds 0, 1, 2 (112 questions each, 336 in all, with gold evidence),
# generated into $DATA_ROOT/32k-s<seed> and pointed at with --data-dir (files are generated first, with
# their seed: a task spec's own seed is 0, and --data-dir on a missing folder would generate seed 0 there).
# The run's --seed is the data seed too, so run ids read s0/s1/s2.
# Systems that call the LLM while building memory are far too slow for 336 questions on CPU; they run
# on personamem-mini (28 questions) instead, beside the cheap ones. Move a name between the two lists to change the split.
# Each run has a fixed --run-id, so the script can be rerun: a complete run is skipped, an interrupted
# one resumes where it stopped (the CLI refuses a resume whose spec changed).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin/comam-bench}
RESULTS=${RESULTS:-results}
DATA_ROOT=${DATA_ROOT:-${COMAM_BENCH_CACHE:-$HOME/.cache/comam-bench}/likelihood-runs}
SEEDS=${SEEDS:-"0 1 2"}
PROTOCOL=likelihood

# Cheap at answer time: no LLM call while building memory (scoring only), or no model at all.
SYNTHETIC_SYSTEMS=${SYNTHETIC_SYSTEMS:-"no-memory full-context oracle-evidence longest-option longest-option-sni rag recency"}
# Expensive: LLM calls for every session or message while building memory. The cheap references run on
# personamem-mini too (first), so the expensive systems have their bounds in the same table.
MINI_SYSTEMS=${MINI_SYSTEMS:-"no-memory oracle-evidence full-context rag recency comam mem0 memorybank memoryos cam a-mem mem1 memory-r1"}

# run (print, then run unless DRY_RUN) and start RUN_ID ARGS... (skip a complete run, else run it with --resume)
. benchmarks/_runs.sh

for seed in $SEEDS; do
  dir="$DATA_ROOT/32k-s$seed"
  [ -f "$dir/questions_32k.csv" ] || run "$BIN" data generate --preset 32k --seed "$seed" --out "$dir"
  for system in $SYNTHETIC_SYSTEMS; do
    start "synthetic-32k--$system--$PROTOCOL--s$seed" --system "$system" --task synthetic-32k --data-dir "$dir" --seed "$seed"
  done
done

for system in $MINI_SYSTEMS; do
  start "personamem-mini--$system--$PROTOCOL--s0" --system "$system" --task personamem-mini
done

run "$BIN" leaderboard --results-dir "$RESULTS"
