# Sourced (not run) by the benchmark scripts that start `comam-bench run`s with fixed run ids, so a rerun
# of the script skips the complete runs and resumes the interrupted ones (the CLI refuses a resume whose
# spec changed): likelihood_runs.sh, leaderboard_cpu.sh, evaluate_checkpoints.sh, leaderboard_128k.sh.
# DRY_RUN=1 makes every one of them print its commands without running them.

# run CMD...: print "+ CMD", then run it unless DRY_RUN is set. A script that runs its commands otherwise
# (leaderboard_cpu.sh nices them) defines its own run after sourcing this file.
run() {
  echo "+ $*"
  [ -n "${DRY_RUN:-}" ] || "$@"
}

# is_complete RUN_ID: true, saying "= RUN_ID is complete", when $RESULTS/runs/RUN_ID has its run.json.
is_complete() {
  [ -f "$RESULTS/runs/$1/run.json" ] || return 1
  echo "= $1 is complete"
}

# start RUN_ID ARGS...: `$BIN run --protocol $PROTOCOL --results-dir $RESULTS --run-id RUN_ID --resume ARGS...`
# through run, unless the run is complete: skipped when complete, resumed when interrupted, else started.
start() {
  local id=$1; shift
  if is_complete "$id"; then return; fi
  run "$BIN" run --protocol "$PROTOCOL" --results-dir "$RESULTS" --run-id "$id" --resume "$@"
}
