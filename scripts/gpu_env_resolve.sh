#!/usr/bin/env bash
# Resolves the OpenRLHF GPU environment (`comam-bench[openrlhf]` = openrlhf[vllm]==0.11.2 and the versions it
# pins) WITHOUT installing it: `pip install --dry-run --report` against the package index only (this
# machine's local wheel folders and pip config are switched off, so the answer is the index's, as a CUDA
# node would get it). Runs on a CPU machine; needs network to the package index and ~1 GB in /tmp.
#   bash scripts/gpu_env_resolve.sh   # writes results/gpu/openrlhf_env_resolution.json and
#                                     # scripts/openrlhf-gpu-constraints.txt (the resolved versions, for nodes)
# flash-attn 2.8.3 has no wheel on the index: pip reads its version from the source archive, whose setup.py
# imports torch, so (exactly as on a node) torch goes in first and flash-attn resolves without build
# isolation; FLASH_ATTENTION_SKIP_CUDA_BUILD keeps that to metadata. --ignore-installed makes pip resolve
# torch from the index too, so the report lists the CUDA torch a node would get, not the helper CPU torch.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu/openrlhf_env_resolution.json}
CONSTRAINTS=${CONSTRAINTS:-scripts/openrlhf-gpu-constraints.txt}
VENV=${VENV:-$(mktemp -d /tmp/gpu-env-resolve.XXXXXX)/venv}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# The helper venv itself installs with this machine's usual pip settings (a local CPU torch is fine here).
"$VENV/bin/python" -m pip install -q --upgrade pip "setuptools>=77" wheel packaging ninja psutil
"$VENV/bin/python" -c "import torch" 2>/dev/null || "$VENV/bin/python" -m pip install -q "${HELPER_TORCH:-torch==2.13.0}"
raw="$(dirname "$VENV")/report.json"
# Index only: no pip config files, no local find-links.
env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null \
  FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE \
  "$VENV/bin/python" -m pip install --dry-run --ignore-installed --no-build-isolation --quiet \
  --report "$raw" ".[openrlhf]"
"$VENV/bin/python" scripts/gpu_env_report.py "$raw" "$OUT" "$CONSTRAINTS"
