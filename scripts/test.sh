#!/usr/bin/env bash
# Set-up plus the whole test suite: the command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# The linter first: a crash that a machine can find never reaches the tests or a user.
.venv/bin/ruff check puffer_backend benchmarks tests examples
exec .venv/bin/python -m pytest -n 2 -q "$@"
