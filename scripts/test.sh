#!/usr/bin/env bash
# Set-up plus the whole test suite: the command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest -n 2 -q "$@"
