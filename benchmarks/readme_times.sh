#!/usr/bin/env bash
# Measures the times the README quotes: the main command (after setup), the smoke training recipe, and the
# test suite (whole and the quick subset), each REPEATS times (default 3) into a fresh temporary folder, and
# reports the median. The machine may be shared, so each line also gives the CPU time (user + sys of the
# command and its children, which contention changes far less than wall time) and the load average before
# and after; the README states the load each figure was taken at.
#   bash benchmarks/readme_times.sh [--no-tests|--tests-only] [LABEL]   # LABEL e.g. idle / load
#   SUITES=quick ...      which test runs to time: "whole quick" (default), "whole" or "quick"
# Appends one section to results/benchmarks/readme_times.md (OUT=... to write elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
tests=1 commands=1
if [ "${1:-}" = "--no-tests" ]; then tests=0; shift; elif [ "${1:-}" = "--tests-only" ]; then commands=0; shift; fi
suites=${SUITES:-"whole quick"}
label=${1:-}
out=${OUT:-results/benchmarks/readme_times.md}
repeats=${REPEATS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
TIMEFORMAT="%R %U %S"

load1() { cut -d' ' -f1 /proc/loadavg; }

measure() {  # name, command... -> one table row: median wall, median CPU, each run, load range
  local name=$1; shift
  local walls=() cpus=() loads=()
  for i in $(seq "$repeats"); do
    rm -rf "$tmp/run"; mkdir -p "$tmp/run"
    loads+=("$(load1)")
    local t rc=0
    t=$( { time "${@//@TMP@/$tmp/run}" > "$tmp/log" 2>&1; } 2>&1 ) || rc=$?
    if [ "$rc" != 0 ]; then echo "$name failed (exit $rc); its output:" >&2; tail -20 "$tmp/log" >&2; exit 1; fi
    loads+=("$(load1)")
    read -r wall user sys <<< "$t"
    walls+=("$wall"); cpus+=("$(python3 -c "print(round($user + $sys, 1))")")
  done
  python3 - "$name" "${walls[*]}" "${cpus[*]}" "${loads[*]}" <<'EOF'
import statistics, sys
name, walls, cpus, loads = sys.argv[1], *(list(map(float, a.split())) for a in sys.argv[2:])
runs = ", ".join(f"{w:.0f} s / {c:.0f} s" for w, c in zip(walls, cpus))
print(f"| {name} | {statistics.median(walls):.0f} s | {statistics.median(cpus):.0f} s | {runs} "
      f"| {min(loads):.1f}–{max(loads):.1f} |")
EOF
}

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ)${label:+ ($label)}: $(nproc) CPU cores, commit $(git rev-parse --short HEAD), median of $repeats"
  echo
  echo "| command | wall (median) | CPU user+sys (median) | each run (wall / CPU) | load average (1 min) during |"
  echo "|---|---|---|---|---|"
  if [ "$commands" = 1 ]; then
    measure '`comam-bench run --system no-memory --task personamem-mini`' \
      .venv/bin/comam-bench run --system no-memory --task personamem-mini --results-dir @TMP@/results
    measure '`comam-bench train --recipe smoke`' \
      .venv/bin/comam-bench train --recipe smoke --output-dir @TMP@/smoke --results-dir @TMP@/results
  fi
  if [ "$tests" = 1 ]; then
    count=$(.venv/bin/python -m pytest tests -q --collect-only 2>/dev/null | tail -1 | grep -o '^[0-9]*')
    quick=$(.venv/bin/python -m pytest tests -q --collect-only -m "not heavy" 2>/dev/null | tail -1 | grep -o '^[0-9]*')
    [[ " $suites " != *" whole "* ]] ||
      measure "the whole suite (\`pytest tests\`, $count tests)" .venv/bin/python -m pytest tests -q -p no:cacheprovider
    [[ " $suites " != *" quick "* ]] || measure "the quick subset (\`-m \"not heavy\"\`, $quick tests)" \
      .venv/bin/python -m pytest tests -q -m "not heavy" -p no:cacheprovider
  fi
} | tee -a "$out"
