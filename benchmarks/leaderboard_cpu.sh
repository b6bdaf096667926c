#!/usr/bin/env bash
# The CPU leaderboard: every built-in system, and a trained flagship CoMAM where one was trained, on task
# synthetic-cpu (the `cpu` preset, sized by benchmarks/cost_model.py;
# docs/benchmarks.md#the-cpu-leaderboard-task), likelihood protocol, the embedded SmolLM2-135M read through
# a 2,048-token window (--model smollm2,window=2048: each ~17k-token history is 8 windows long, and a
# window-long answer costs about a quarter of the full 8,192 tokens') and the embedded MiniLM, seeds 0 1 2
# (105 questions each, n = 315).
#
#   bash benchmarks/leaderboard_cpu.sh                 # every run, then the leaderboard (hours on 2 cores)
#   bash benchmarks/leaderboard_cpu.sh --resume        # the same; says so: complete runs are skipped and
#                                                      # interrupted ones resumed either way
#   bash benchmarks/leaderboard_cpu.sh --floors        # only the option-only floors (no model; seconds), then
#                                                      # the leaderboard
#   SYSTEMS="rag mem1" bash benchmarks/leaderboard_cpu.sh   # some systems
#   DRY_RUN=1 bash benchmarks/leaderboard_cpu.sh       # print the commands only
#
# At the end: the leaderboard (results/LEADERBOARD.md, .json, .html) and the cost model checked against the
# runs (benchmarks/cost_measured.py: results/benchmarks/cost_measured.md).
#
# Data: the preset's files for each seed, generated first into $DATA_ROOT/cpu-s<seed> and pointed at with
# --data-dir (a task spec's own seed is 0; --data-dir on a missing folder would generate seed 0 there).
# The run's --seed is the data seed, so run ids read s0/s1/s2. Each run has a fixed --run-id, so the script
# can be stopped and rerun at any point: a complete run is skipped, an interrupted one resumes where it
# stopped (the CLI refuses a resume whose spec changed). Runs go cheapest first, so the table fills early.
# Heavy work is niced (the machine is shared): set NICE=0 to run at normal priority.
set -euo pipefail
cd "$(dirname "$0")/.."

FLOORS_ONLY=
for arg in "$@"; do
  case $arg in
    --resume) ;;  # the default behaviour; accepted so the intent can be written down
    --floors) FLOORS_ONLY=1 ;;
    *) echo "usage: $0 [--resume] [--floors]" >&2; exit 2 ;;
  esac
done

BIN=${BIN:-.venv/bin/comam-bench}
RESULTS=${RESULTS:-results}
# Inside the project (git-ignored), so the records name the data folder relative to it, not a home folder.
DATA_ROOT=${DATA_ROOT:-my-results/data/leaderboard-cpu}
SEEDS=${SEEDS:-"0 1 2"}
NICE=${NICE:-10}
MODEL=${MODEL:-smollm2,window=2048}
PROTOCOL=likelihood
TASK=synthetic-cpu

FLOORS="longest-option longest-option-sni"
# Cheapest first by the cost model (results/benchmarks/cost_model.md): no LLM call while ingesting,
# then the LLM-memory systems by ingestion calls per session.
CHEAP="no-memory oracle-evidence rag rag-bm25 rag-hybrid rag-session rag-turn recency full-context"
LLM_MEMORY="mem1 cam memory-r1 comam comam-no-extraction comam-no-profile comam-no-retrieval"
LLM_MEMORY="$LLM_MEMORY memorybank mem0 memoryos a-mem"
# Last: CoMAM as the flagship comparison (issue 25) trained it. comam-flagship is the untrained pipeline with
# its settings (baselines/comam-flagship.yaml); comam-trained-joint its joint checkpoint of seed 0, where
# `benchmarks/train_comam.py --recipe cpu-flagship --modes joint --seeds 0 --steps 12` left one (training
# checkpoints are git-ignored: without one the row is skipped, and said so).
FLAGSHIP_CHECKPOINT=${FLAGSHIP_CHECKPOINT:-results/training/flagship/s0/joint/checkpoint}
LLM_MEMORY="$LLM_MEMORY comam-flagship comam-trained-joint"
if [ -n "$FLOORS_ONLY" ]; then SYSTEMS=$FLOORS; fi
SYSTEMS=${SYSTEMS:-"$FLOORS $CHEAP $LLM_MEMORY"}

# start RUN_ID ARGS...: skip a complete run, else run it with --resume (through run, below)
. benchmarks/_runs.sh
run() {  # _runs.sh's run, niced and on one thread unless told otherwise
  echo "+ $*"
  [ -n "${DRY_RUN:-}" ] || OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} nice -n "$NICE" "$@"
}

for seed in $SEEDS; do
  dir="$DATA_ROOT/cpu-s$seed"
  [ -f "$dir/questions_cpu.csv" ] || run "$BIN" data generate --preset cpu --seed "$seed" --out "$dir"
done
# System by system over the seeds: each system's three seeds complete before the next system starts.
for system in $SYSTEMS; do
  model=(--model "$MODEL")
  case " $FLOORS " in *" $system "*) model=() ;; esac  # the floors read no model
  spec=(--system "$system")
  if [ "$system" = comam-trained-joint ]; then
    if [ ! -f "$FLAGSHIP_CHECKPOINT/comam_checkpoint.json" ]; then
      echo "- skipped comam-trained-joint: no checkpoint at $FLAGSHIP_CHECKPOINT (set FLAGSHIP_CHECKPOINT)"
      continue
    fi
    spec=(--system comam --system-arg "checkpoint=$FLAGSHIP_CHECKPOINT")
  fi
  for seed in $SEEDS; do
    start "$TASK--$system--$PROTOCOL--s$seed" "${spec[@]}" --task "$TASK" --data-dir "$DATA_ROOT/cpu-s$seed" \
      --seed "$seed" "${model[@]}"
  done
done

# The committed leaderboard files must match the committed records (tests/core/test_leaderboard_groups.py).
run "$BIN" leaderboard --results-dir "$RESULTS" --html
# The cost model against these runs: results/benchmarks/cost_measured.md (or under RESULTS).
read -r -a PY_CMD <<< "${PYTHON:-.venv/bin/python}"
[ -n "${DRY_RUN:-}" ] || "${PY_CMD[@]}" benchmarks/cost_measured.py --results-dir "$RESULTS"
