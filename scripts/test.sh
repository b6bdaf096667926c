#!/usr/bin/env bash
# Sets everything up, then runs the whole offline test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The report viewer's browser tests drive Debian's Chromium (tests/view/test_view_browser.py skips without it).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
      >/dev/null || echo "chromium install failed: the browser tests will be skipped"
  else
    echo "chromium is absent and apt-get needs root here: the browser tests will be skipped"
  fi
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest tests "$@"
