#!/usr/bin/env bash
# Creates .venv and installs the project with the given extras (default: test).
# torch is pinned first: an open range with no torch installed would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# ml_dtypes 0.7.0 (what jax pulls today) takes ~0.8 s to import against ~0.1 s for 0.6.0, in
# every process that imports jax; jax accepts >= 0.5 (docs/benchmarks.md, the jax start-up).
.venv/bin/python -m pip install --quiet -e ".[${extras}]" "ml_dtypes!=0.7.0"
