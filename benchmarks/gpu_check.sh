#!/usr/bin/env bash
# The prepared device check (at most 8 minutes, no downloads): the local backend's training step and the
# harness's transformers generation and likelihood scoring on a random-init Qwen2.5-0.5B-shaped model, on
# CUDA; writes $OUT/gpu_check.json. OpenRLHF itself cannot run on one lent GPU (no vLLM, DeepSpeed or Ray).
#   bash benchmarks/gpu_check.sh                 # on the device machine (DEVICE=cuda)
#   DEVICE=cpu OUT=/tmp/x bash benchmarks/gpu_check.sh   # the same code paths with a tiny model, here
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-results/gpu}
DEVICE=${DEVICE:-cuda} timeout "${GPU_CHECK_TIMEOUT:-480}" "$PY" benchmarks/gpu_check.py "$OUT"
