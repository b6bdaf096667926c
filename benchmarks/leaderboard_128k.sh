#!/usr/bin/env bash
# The real personamem-128k leaderboard runs (issue 28, part 3), under the likelihood protocol, one after
# another, each resumable: rerun the script after an interruption and every run continues where it stopped
# (a complete run is skipped; the CLI refuses a resume whose spec changed).
#
#   bash benchmarks/leaderboard_128k.sh --data-dir ../shared/data/personamem/prerelease_128k             # stage 1
#   bash benchmarks/leaderboard_128k.sh --data-dir DIR --stages "1 2"                                    # and stage 2
#   DRY_RUN=1 bash benchmarks/leaderboard_128k.sh --data-dir DIR --stages "1 2"                          # commands only
#
# Data: the pre-release PersonaMem 128k files (questions_128k.csv, shared_contexts_128k.jsonl; their
# provenance: shared/data/personamem/PROVENANCE.md). 270 questions over 2 histories of ~700 messages; every
# question sits at the end of its history, so each run ingests both histories whole.
#
# Stage 1: the systems that build memory without LLM calls (no-memory, full-context, rag, recency) on all
#   270 questions. Measured cost: rag took ~17 s per question under likelihood on 2 shared cores.
# Stage 2 (optional): the LLM-memory systems, which call the model while ingesting 700 messages per history;
#   they take --limit-per-context N questions from each history (default 10: 20 questions per system),
#   spread over question types and distances (docs/cli.md#choosing-questions), so both histories count.
#
# Options (or the environment variables in brackets):
#   --data-dir DIR              the folder holding the 128k files (required) [DATA_DIR]
#   --results-dir DIR           results folder; runs go to DIR/runs/<id> (default: the project's results/,
#                               the committed reference records) [RESULTS]
#   --stages "1 2"              which stages to run (default: 1) [STAGES]
#   --limit-per-context N       stage 2's questions per history (default: 10) [PER_CONTEXT]
#   --model SPEC                the answering model of every run (default: smollm2,window=2048, the CPU
#                               leaderboard's: at the full 8,192-token window full-context and rag cost ~45
#                               CPU s a question here, 3.4 CPU hours a system; run ids name it) [MODEL]
#   --stage1-limit-per-context N  stage 1 on N per history instead of all 270: a smoke check only
#                               (its run ids say pcN, so it never mixes with the full runs) [STAGE1_PER_CONTEXT]
#   STAGE1_SYSTEMS, STAGE2_SYSTEMS  space-separated system names; BIN: the comam-bench command and PYTHON:
#   the Python that reads the records (each may carry words, e.g. "env PYTHONPATH=. .venv/bin/python");
#   EXTRA_ARGS: more `comam-bench run` options for every run (for example "--parallel 2").
# At the end the script prints, per run, the questions answered, accuracy, wall seconds per question,
# CPU seconds and peak memory (benchmarks/leaderboard_128k_summary.py reads them from the run records), and
# writes that table to RESULTS/benchmarks/leaderboard_128k.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

DATA_DIR=${DATA_DIR:-}
RESULTS=${RESULTS:-$ROOT/results}
STAGES=${STAGES:-1}
MODEL=${MODEL:-smollm2,window=2048}
PER_CONTEXT=${PER_CONTEXT:-10}
STAGE1_PER_CONTEXT=${STAGE1_PER_CONTEXT:-}
STAGE1_SYSTEMS=${STAGE1_SYSTEMS:-"no-memory full-context rag recency"}
STAGE2_SYSTEMS=${STAGE2_SYSTEMS:-"comam mem0 memorybank memoryos cam a-mem mem1 memory-r1"}
BIN=${BIN:-.venv/bin/comam-bench}
PYTHON=${PYTHON:-.venv/bin/python}
EXTRA_ARGS=${EXTRA_ARGS:-}
TASK=personamem-128k
PROTOCOL=likelihood

while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) DATA_DIR=$2; shift 2 ;;
    --results-dir) RESULTS=$2; shift 2 ;;
    --stages) STAGES=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --limit-per-context) PER_CONTEXT=$2; shift 2 ;;
    --stage1-limit-per-context) STAGE1_PER_CONTEXT=$2; shift 2 ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
# Folders given relative to where the script was called from, before it moves to the project root.
[ -z "$DATA_DIR" ] || DATA_DIR=$(realpath -m "$DATA_DIR")
RESULTS=$(realpath -m "$RESULTS")
cd "$ROOT"
# Passed to the runs relative to the project root (their working folder), as a user would type it: a record
# keeps `task.info.data_dir` as typed, and an absolute path would name this machine's folders.
[ -z "$DATA_DIR" ] || DATA_DIR=$(realpath -m --relative-to="$ROOT" "$DATA_DIR")
if [ -z "$DATA_DIR" ] || [ ! -f "$DATA_DIR/questions_128k.csv" ]; then
  echo "--data-dir DIR must name the folder holding questions_128k.csv and shared_contexts_128k.jsonl" \
       "(for example ../shared/data/personamem/prerelease_128k); got '${DATA_DIR}'" >&2
  exit 2
fi

read -r -a BIN_CMD <<< "$BIN"
read -r -a PY_CMD <<< "$PYTHON"
read -r -a EXTRA <<< "$EXTRA_ARGS"

. benchmarks/_runs.sh  # run (print, then run unless DRY_RUN), is_complete RUN_ID

failed=()
start() {  # start RUN_ID ARGS...: skipped when complete, resumed when interrupted, else started; a failure noted
  local id=$1; shift
  if is_complete "$id"; then return; fi
  local t0=$SECONDS
  # A failed run (a context that raised or timed out: exit 2, its questions in errors.jsonl) does not stop
  # the others; rerunning the script resumes it.
  if ! run "${BIN_CMD[@]}" run --task "$TASK" --data-dir "$DATA_DIR" --protocol "$PROTOCOL" --model "$MODEL" \
      --results-dir "$RESULTS" --run-id "$id" --resume "${EXTRA[@]}" "$@"; then
    failed+=("$id")
  fi
  [ -n "${DRY_RUN:-}" ] || echo "= $id: $((SECONDS - t0)) s in this session"
}

ids=()
model_tag=$(echo "$MODEL" | sed 's/,window=/-w/; s/[^A-Za-z0-9._-]/-/g')  # smollm2,window=2048 -> smollm2-w2048
for stage in $STAGES; do
  case "$stage" in
    1) if [ -n "$STAGE1_PER_CONTEXT" ]; then tag="pc$STAGE1_PER_CONTEXT"; sel=(--limit-per-context "$STAGE1_PER_CONTEXT")
       else tag="all"; sel=(); fi
       systems=$STAGE1_SYSTEMS ;;
    2) tag="pc$PER_CONTEXT"; sel=(--limit-per-context "$PER_CONTEXT"); systems=$STAGE2_SYSTEMS ;;
    *) echo "unknown stage $stage (1 or 2)" >&2; exit 2 ;;
  esac
  for system in $systems; do
    id="$TASK--$system--$model_tag--$PROTOCOL--$tag--s0"
    start "$id" --system "$system" "${sel[@]}"
    ids+=("$id")
  done
done

[ -n "${DRY_RUN:-}" ] || "${PY_CMD[@]}" benchmarks/leaderboard_128k_summary.py \
  --out "$RESULTS/benchmarks/leaderboard_128k.md" "$RESULTS" "${ids[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "not finished: ${failed[*]} (see errors.jsonl in each run folder; rerun this script to resume them)" >&2
  exit 1
fi
