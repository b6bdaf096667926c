#!/usr/bin/env bash
# Measures the times the README quotes: the main command (after setup) and the smoke training recipe, each
# into a fresh temporary folder. The machine may be shared, so each line also gives the CPU time (user + sys,
# which contention changes far less than wall time) and the load average before and after.
#   bash benchmarks/readme_times.sh [OUT]      # OUT default: results/benchmarks/readme_times.txt
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/benchmarks/readme_times.txt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
TIMEFORMAT="%R %U %S"
measure() {  # name, command...
  local before; before=$(cut -d' ' -f1-3 /proc/loadavg)
  local t; t=$( { time "${@:2}" > "$tmp/log" 2>&1; } 2>&1 )
  read -r wall user sys <<< "$t"
  printf '%-48s wall %6.1f s  cpu %6.1f s  load average before %s, after %s\n' "$1" "$wall" \
    "$(python3 -c "print($user + $sys)")" "$before" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPU cores, commit $(git rev-parse --short HEAD)"
  measure "comam-bench run --system no-memory --task personamem-mini" \
    .venv/bin/comam-bench run --system no-memory --task personamem-mini --results-dir "$tmp/results"
  measure "comam-bench train --recipe smoke" \
    .venv/bin/comam-bench train --recipe smoke --output-dir "$tmp/smoke" --results-dir "$tmp/results"
} | tee "$out"
