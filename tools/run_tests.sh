#!/usr/bin/env bash
# The test command: set up (idempotent), then pytest.
#
#   bash tools/run_tests.sh                  all four layers (unit, comfy, e2e, browser) with
#                                            --require-all-layers: fails unless every layer passed
#                                            tests and nothing was skipped (what CI runs)
#   bash tools/run_tests.sh [pytest args]    those arguments instead, e.g. -m unit, tests/e2e, -k name
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/setup.sh"
CACHE="${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}"

cd "$REPO"
# Idle OpenMP threads sleep instead of spinning: the pytest process and the ComfyUI server it starts
# share the cores, and spinning threads of the idle one slowed the busy one's steps many times over.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
if [ "$#" -eq 0 ]; then
  set -- --require-all-layers
fi
exec "$CACHE/venv/bin/python" -m pytest "$@"
