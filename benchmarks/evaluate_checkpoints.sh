#!/usr/bin/env bash
# Evaluates finished train_comam.py checkpoints through the harness (`comam-bench run`), so their records
# land on the leaderboard, beside an untrained CoMAM with the same pipeline settings and base model.
#
#   OUT=results/training/cpu-compare SEEDS="0" MODES="joint independent local-only equal-weights" \
#       LIMIT=8 bash benchmarks/evaluate_checkpoints.sh
#   OUT=results/training/cpu-t03 TAG=-t03 bash benchmarks/evaluate_checkpoints.sh   # a second comparison
#   .venv/bin/python benchmarks/train_comam.py --summarize --output-dir $OUT --results-dir results
#   bash benchmarks/evaluate_checkpoints.sh --flagship   # issue 25's flagship: its 105 held-out questions
#   bash benchmarks/evaluate_checkpoints.sh --flagship-128k   # the same checkpoints on the real personamem-128k
#
# QUESTIONS=FILE answers the ids the file lists (`comam-bench run --questions`) instead of the first LIMIT;
# PER_CONTEXT=N answers N from each history (`--limit-per-context`), DATA_DIR=DIR reads the task's files there.
# DATA_SEED=S answers every checkpoint on the data of seed S: a synthetic task draws its data from the run's
# seed, and a comparison trains every seed on one data set (train_comam's data.split_seed); the run ids
# still name the seed each checkpoint was trained with.
#
# The summary finds each record by its checkpoint path. Runs have fixed ids, so a rerun skips complete
# ones and resumes interrupted ones. PARALLEL=2 runs two evaluations side by side (one thread each).
set -euo pipefail
cd "$(dirname "$0")/.."

# The flagship recipe's pipeline settings (trainers/cpu-flagship.yaml), for its untrained reference.
FLAGSHIP_ARGS="extraction_tokens=64 profile_tokens=32 retrieval_tokens=128 memory_tokens=512 retrieval_format=structured"
if [ "${1:-}" = "--flagship" ]; then  # the flagship comparison (trainers/cpu-flagship.yaml), its settings
  OUT=${OUT:-results/training/flagship}
  export OUT TASK=${TASK:-synthetic-train} DATA_SEED=${DATA_SEED:-0} SEEDS=${SEEDS:-"0 1 2"}
  export MODES=${MODES:-"joint independent-equal-updates independent local-only global-only equal-weights single-policy"}
  export REFERENCE_ARGS=${REFERENCE_ARGS:-$FLAGSHIP_ARGS}
  QUESTIONS=${QUESTIONS:-$OUT/validation_ids.txt}
  # The held-out questions every seed and mode was validated on, one id per line, from the untrained run.
  .venv/bin/python -c "import json, sys; print(*[json.loads(l)['question'] for l in open(sys.argv[1])], sep='\n')" \
      "$OUT/untrained/validation_questions.jsonl" > "$QUESTIONS"
  export QUESTIONS
elif [ "${1:-}" = "--flagship-128k" ]; then  # the flagship's checkpoints on the real 128k histories, as budget allows
  export OUT=${OUT:-results/training/flagship} TASK=personamem-128k SEEDS=${SEEDS:-0} MODES=${MODES:-joint}
  export DATA_DIR=${DATA_DIR:-../shared/data/personamem/prerelease_128k} PER_CONTEXT=${PER_CONTEXT:-10}  # as leaderboard_128k.sh stage 2
  export REFERENCE_ARGS=${REFERENCE_ARGS:-$FLAGSHIP_ARGS}
fi

BIN=${BIN:-.venv/bin/comam-bench}
OUT=${OUT:-results/training/cpu-compare}
RESULTS=${RESULTS:-results}
TASK=${TASK:-personamem-mini}
PROTOCOL=${PROTOCOL:-likelihood}
SEEDS=${SEEDS:-"0"}
MODES=${MODES:-"joint independent local-only equal-weights"}
LIMIT=${LIMIT:-8}
PARALLEL=${PARALLEL:-1}
TAG=${TAG:-}  # appended to the trained runs' mode in their ids, so another comparison's checkpoints get their own
# The recipe's pipeline settings (trainers/cpu-smollm2.yaml) for the untrained reference; a checkpoint
# carries its own.
REFERENCE_ARGS=${REFERENCE_ARGS:-"extraction_tokens=64 profile_tokens=32 retrieval_tokens=32 memory_tokens=512"}
REFERENCE_MODEL=${REFERENCE_MODEL:-smollm2,window=2048}

QUESTIONS=${QUESTIONS:-}
PER_CONTEXT=${PER_CONTEXT:-}
DATA_DIR=${DATA_DIR:-}
DATA_SEED=${DATA_SEED:-}
if [ -n "$QUESTIONS" ]; then
  select_args=(--questions "$QUESTIONS"); n_tag="q$(grep -cv '^\s*\(#\|$\)' "$QUESTIONS")"
elif [ -n "$PER_CONTEXT" ]; then
  select_args=(--limit-per-context "$PER_CONTEXT"); n_tag="pc$PER_CONTEXT"
else
  select_args=(--limit "$LIMIT"); n_tag="n$LIMIT"
fi
if [ -n "$DATA_DIR" ]; then select_args+=(--data-dir "$DATA_DIR"); fi

. benchmarks/_runs.sh  # run (print, then run unless DRY_RUN), is_complete RUN_ID
start() {  # start RUN_ID ARGS...: skipped when complete, resumed when interrupted, else started
  local id=$1; shift
  if is_complete "$id"; then return; fi
  run "$BIN" run --task "$TASK" --protocol "$PROTOCOL" "${select_args[@]}" --results-dir "$RESULTS" --run-id "$id" \
      --resume "$@"
}

jobs_list=()
ref_args=()
for a in $REFERENCE_ARGS; do ref_args+=(--system-arg "$a"); done
jobs_list+=("$TASK--comam-untrained--$PROTOCOL--s0--$n_tag|--system comam --model $REFERENCE_MODEL ${ref_args[*]} --seed ${DATA_SEED:-0}")
for seed in $SEEDS; do
  for mode in $MODES; do
    ckpt="$OUT/s$seed/$mode/checkpoint"
    if [ ! -f "$ckpt/comam_checkpoint.json" ] && [ ! -d "$ckpt" ]; then echo "- no checkpoint at $ckpt"; continue; fi
    jobs_list+=("$TASK--comam-trained-$mode$TAG--$PROTOCOL--s$seed--$n_tag|--system comam --system-arg checkpoint=$(realpath "$ckpt") --seed ${DATA_SEED:-$seed}")
  done
done

i=0
for job in "${jobs_list[@]}"; do
  id=${job%%|*}; args=${job#*|}
  # shellcheck disable=SC2086
  start "$id" $args &
  i=$((i + 1))
  if (( i % PARALLEL == 0 )); then wait; fi
done
wait
