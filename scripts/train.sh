#!/usr/bin/env bash
# Set-up plus the main job: trains the default (mixed: gymnax env, torch policy) PPO on CartPole-v1.
# Extra arguments go to `puffer-backend train`, e.g. `bash scripts/train.sh --backend jax`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "torch,jax,examples"
exec .venv/bin/puffer-backend train "$@"
