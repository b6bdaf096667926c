#!/usr/bin/env bash
# The prepared device check (at most 6 minutes on one H100/H200, no downloads): the local backend's training
# step, the harness's transformers generation and likelihood scoring on a random-init Qwen2.5-0.5B-shaped
# model, and the OpenRLHF path (benchmarks/gpu_check_openrlhf.py: the real agent executor against a
# transformers-backed async engine, OpenRLHF's own experience / advantage / Actor.forward code on its output,
# a 32k-token forward+backward go/no-go at 3B and 7B shapes, and train_ppo_ray only where vllm, ray and
# deepspeed import); writes $OUT/gpu_check.json after every part.
#   bash benchmarks/gpu_check.sh                          # on the device machine (DEVICE=cuda)
#   DEVICE=cpu OUT=/tmp/x bash benchmarks/gpu_check.sh    # the same code paths with a tiny model, here (CI runs it)
# The device image has torch, transformers and peft but not OpenRLHF: carry its pure-Python wheel (~1.4 MB)
# and pylatexenc's, made here once with   bash benchmarks/gpu_check.sh --wheels   (into .whl/, git-ignored
# through .git/info/exclude), and name .whl in the device call's carry; this script installs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ "${1:-}" = "--wheels" ]; then
  git check-ignore -q .whl/x || echo '/.whl/' >> "$(git rev-parse --git-path info/exclude)"
  # OpenRLHF publishes one (pure-Python) wheel per CPython version: the device's python3 is 3.12
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "${DEVICE_PYTHON:-3.12}" \
    --implementation cp --platform manylinux1_x86_64 -d .whl "openrlhf==0.11.2"
  "$PY" -m pip wheel -q --no-deps -w .whl "pylatexenc==2.10"
  ls -l .whl
  exit 0
fi
if ! "$PY" -c "import openrlhf" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-check-site .whl/*.whl
  export PYTHONPATH=/tmp/gpu-check-site${PYTHONPATH:+:$PYTHONPATH}
fi
OUT=${OUT:-results/gpu}
DEVICE=${DEVICE:-cuda} timeout "${GPU_CHECK_TIMEOUT:-360}" "$PY" benchmarks/gpu_check.py "$OUT"
